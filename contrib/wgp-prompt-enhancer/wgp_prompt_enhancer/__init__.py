"""wgp-prompt-enhancer: short prompts rewritten by a local causal LM, frozen into the job."""

__version__ = "0.1.0"
