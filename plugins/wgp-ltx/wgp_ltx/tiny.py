"""Random-weight copies of LTX-Video, for tests and ``wgp models tiny``.

The tiny model has the real checkpoint's component classes and folder layout
(LTXVideoTransformer3DModel, AutoencoderKLLTXVideo, T5EncoderModel with its
tokenizer, FlowMatchEulerDiscreteScheduler) and the real compression (8x in
time, 32x in space: 4x4 patches and three 2x stages), so the same frame and
size rules hold; at 8-channel widths it generates 9 frames at 32x32 with 2
steps in a fraction of a second.  Each id's tiny copy has the config features its
version is told apart by (:mod:`wgp_ltx.versions`): a timestep-aware VAE from 0.9.1, the
0.9.5 VAE blocks from 0.9.5, 48 (tiny) transformer layers for the 13B ids.  Built locally
and deterministically.
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
from .versions import LAYERS_13B, VAE_095_BLOCK

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


#: The 0.9.5 VAE's stages at 8-wide blocks, which LTX-2's video VAE keeps: 4x4 patches, then
#: spatial, temporal and two spatiotemporal 2x stages, and a decoder with residual 2x upsampling.
#: Doubling decoder widths, as the real (256, 512, 1024): each residual 2x upsampler halves the channels.
#: The compression ratios are given as the published configs state them (four 2x stages would
#: otherwise count as 64x / 16x).
TINY_VAE_095_STAGES: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=LATENT_CHANNELS,
    decoder_block_out_channels=(8, 16, 32),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False),
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_residual=(True, True, True),
    upsample_factor=(2, 2, 2),
    patch_size=4,
    patch_size_t=1,
    spatial_compression_ratio=32,
    temporal_compression_ratio=8,
)


def tiny_vae_095() -> AutoencoderKLLTXVideo:
    """The 0.9.5 VAE's layout (also 0.9.7's and 0.9.8's): ``LTXVideo095DownBlock3D`` down blocks
    and a timestep-aware decoder over :data:`TINY_VAE_095_STAGES` (32x space, 8x time)."""
    return AutoencoderKLLTXVideo(
        **TINY_VAE_095_STAGES,
        block_out_channels=(8, 8, 8, 8, 8),
        down_block_types=(VAE_095_BLOCK,) * 4,
        timestep_conditioning=True,
        encoder_causal=True,
        decoder_causal=False,
    )


def tiny_scheduler(spec: ModelSpec) -> FlowMatchEulerDiscreteScheduler:
    """The published 0.9.0/0.9.1 scheduler (resolution-dependent shift); LTXConditionPipeline
    (0.9.5 on) passes its own linear-quadratic timesteps and no shift, so it gets no dynamic shifting."""
    if spec.options.get("pipeline") == "condition":
        return FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    return FlowMatchEulerDiscreteScheduler(
        shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
        base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
    )


def build_tiny_pipeline(spec: ModelSpec, timestep_conditioning: bool = False) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for given arguments.
    ``timestep_conditioning`` gives a 0.9.0-layout spec a timestep-aware VAE (0.9.1 style)."""
    layout = spec.options.get("layout", "0.9.0")
    if layout in ("0.9.5", "13b"):
        vae_factory: Any = tiny_vae_095
    else:
        vae_factory = lambda: tiny_vae(timestep_conditioning or layout == "0.9.1")  # noqa: E731
    with seeded_weights():
        tokenizer = tiny_t5_tokenizer()
        return LTXModel.pipeline_class(spec)(
            tokenizer=tokenizer,
            text_encoder=tiny_t5_encoder(len(tokenizer), TEXT_DIM),
            vae=vae_factory(),
            transformer=LTXVideoTransformer3DModel(
                in_channels=LATENT_CHANNELS,
                out_channels=LATENT_CHANNELS,
                patch_size=1,
                patch_size_t=1,
                num_attention_heads=4,
                attention_head_dim=8,
                cross_attention_dim=32,
                # 13B checkpoints are told apart by their 48 layers, so their tiny copy has 48 tiny ones.
                num_layers=LAYERS_13B if layout == "13b" else 1,
                caption_channels=TEXT_DIM,
            ),
            scheduler=tiny_scheduler(spec),
        )


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
