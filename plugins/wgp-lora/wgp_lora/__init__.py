"""wgp-lora: LoRA discovery, activation schedules and injection into diffusers pipelines."""

__version__ = "0.1.0"
