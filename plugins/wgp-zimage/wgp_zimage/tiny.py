"""Random-weight copies of the Z-Image models, for tests and ``wgp models tiny``.

Each tiny model has the real checkpoint's component classes and folder layout
(ZImageTransformer2DModel, FLUX.1's AutoencoderKL with the real 8x downsampling, Qwen3Model with
wgp-diffusers' tiny Qwen2Tokenizer, whose ChatML template gives what Qwen3's does with thinking
on, FlowMatchEulerDiscreteScheduler configured like the published one: shift 3, no dynamic
shifting), the same size rule (8x VAE and 2x2 patches: multiples of 16), at sizes that build
in about a second and make a 48x32 image in 2 steps in a fraction of one.  The tokenizer is built locally (byte-level, no merges); nothing touches a hub.
Building is deterministic.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
from transformers import Qwen3Config, Qwen3Model
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import save_tiny_pipeline, seeded_weights, tiny_flux_vae, tiny_qwen_tokenizer

TEXT_DIM = 32
LATENT_CHANNELS = 4


def tiny_qwen3_encoder(vocab_size: int, width: int = TEXT_DIM) -> Qwen3Model:
    """A two-layer Qwen3 model (the pipeline reads its second-to-last hidden states)."""
    return Qwen3Model(
        Qwen3Config(
            vocab_size=vocab_size,
            hidden_size=width,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=1024,
        )
    )


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic.  Turbo and base share
    one architecture (only their weights differ), so both ids get the same layout."""
    with seeded_weights():
        tokenizer = tiny_qwen_tokenizer()
        return ZImagePipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False),
            vae=tiny_flux_vae(latent_channels=LATENT_CHANNELS),
            text_encoder=tiny_qwen3_encoder(len(tokenizer)),
            tokenizer=tokenizer,
            transformer=ZImageTransformer2DModel(
                all_patch_size=(2,),
                all_f_patch_size=(1,),
                in_channels=LATENT_CHANNELS,
                dim=32,
                n_layers=2,
                n_refiner_layers=1,
                n_heads=2,
                n_kv_heads=2,
                cap_feat_dim=TEXT_DIM,
                # (frame, height, width) rotary dimensions: they sum to the head size, 16.
                axes_dims=[4, 6, 6],
                axes_lens=[1024, 512, 512],  # the published lengths, so the default sizes fit
            ),
        )


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
