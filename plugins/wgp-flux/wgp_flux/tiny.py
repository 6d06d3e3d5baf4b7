"""Random-weight copies of the FLUX.1 models (FLUX.2: :mod:`wgp_flux.tiny_flux2`), for tests and ``wgp models tiny``.

Each tiny model has the real checkpoint's component classes and folder layout
(FluxTransformer2DModel, AutoencoderKL, CLIPTextModel + T5EncoderModel with
their tokenizers, FlowMatchEulerDiscreteScheduler configured like the
published one), the same rules (8x VAE and 2x2 packing: sizes multiples of 16)
and the same differences between ids (guidance embedding for dev and Kontext,
fixed shift for schnell), at sizes that build in about a second and generate a
32x32 image with 2 steps in a fraction of one.  Tokenizers are built locally;
nothing touches a hub.  Building is deterministic.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import (
    save_tiny_pipeline,
    seeded_weights,
    tiny_clip_text_encoder,
    tiny_clip_tokenizer,
    tiny_flux_vae,
    tiny_t5_encoder,
    tiny_t5_tokenizer,
)

from .pipeline import FluxModel

TEXT_DIM = 32
LATENT_CHANNELS = 4


def tiny_scheduler(kind: str) -> FlowMatchEulerDiscreteScheduler:
    """The published schedulers: resolution-dependent shift (dev, Kontext) or a fixed shift of 1 (schnell)."""
    if kind == "dynamic":
        return FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
            base_image_seq_len=256, max_image_seq_len=4096,
        )
    return FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for a given spec."""
    options = spec.options
    with seeded_weights():
        tokenizer = tiny_clip_tokenizer()
        tokenizer_2 = tiny_t5_tokenizer()
        components: dict[str, Any] = dict(
            tokenizer=tokenizer,
            text_encoder=tiny_clip_text_encoder(len(tokenizer), TEXT_DIM),
            tokenizer_2=tokenizer_2,
            text_encoder_2=tiny_t5_encoder(len(tokenizer_2), TEXT_DIM),
            vae=tiny_flux_vae(latent_channels=LATENT_CHANNELS),
            # Latents are packed in 2x2 patches: 4 latent channels become 16 inputs.
            transformer=FluxTransformer2DModel(
                patch_size=1,
                in_channels=LATENT_CHANNELS * 4,
                num_layers=1,
                num_single_layers=1,
                attention_head_dim=16,
                num_attention_heads=2,
                joint_attention_dim=TEXT_DIM,
                pooled_projection_dim=TEXT_DIM,
                guidance_embeds=bool(options.get("guidance_embeds")),
                axes_dims_rope=(4, 4, 8),
            ),
            scheduler=tiny_scheduler(options.get("scheduler", "dynamic")),
            image_encoder=None,
            feature_extractor=None,
        )
        return FluxModel.pipeline_class(spec)(**components)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors);
    FLUX.2 ids are built by :mod:`wgp_flux.tiny_flux2`."""
    if spec.options.get("pipeline") in ("flux2", "klein"):
        from .tiny_flux2 import build_tiny_flux2_pipeline

        save_tiny_pipeline(build_tiny_flux2_pipeline(spec), folder)
        return
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
