"""Random-weight copies of LTX-Video, for tests and ``wgp models tiny``.

The tiny model has the real checkpoint's component classes and folder layout
(LTXVideoTransformer3DModel, AutoencoderKLLTXVideo, T5EncoderModel with its
tokenizer, FlowMatchEulerDiscreteScheduler) and the real compression (8x in
time, 32x in space: 4x4 patches and three 2x stages), so the same frame and
size rules hold; at 8-channel widths it generates 9 frames at 32x32 with 2
steps in a fraction of a second.  Built locally and deterministically.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import (
    AutoencoderKLLTXVideo,
    FlowMatchEulerDiscreteScheduler,
    LTXVideoTransformer3DModel,
)
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import (
    save_tiny_pipeline,
    seeded_weights,
    tiny_t5_encoder,
    tiny_t5_tokenizer,
)

from .pipeline import LTXModel

TEXT_DIM = 32
LATENT_CHANNELS = 8


def tiny_vae(timestep_conditioning: bool = False) -> AutoencoderKLLTXVideo:
    """8-wide blocks at the real compression.  ``timestep_conditioning`` makes it timestep-aware (0.9.1+ style)."""
    return AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=timestep_conditioning,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )


def build_tiny_pipeline(spec: ModelSpec, timestep_conditioning: bool = False) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for given arguments."""
    with seeded_weights():
        tokenizer = tiny_t5_tokenizer()
        return LTXModel.pipeline_class(spec)(
            tokenizer=tokenizer,
            text_encoder=tiny_t5_encoder(len(tokenizer), TEXT_DIM),
            vae=tiny_vae(timestep_conditioning),
            transformer=LTXVideoTransformer3DModel(
                in_channels=LATENT_CHANNELS,
                out_channels=LATENT_CHANNELS,
                patch_size=1,
                patch_size_t=1,
                num_attention_heads=4,
                attention_head_dim=8,
                cross_attention_dim=32,
                num_layers=1,
                caption_channels=TEXT_DIM,
            ),
            scheduler=FlowMatchEulerDiscreteScheduler(
                shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
            ),
        )


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
