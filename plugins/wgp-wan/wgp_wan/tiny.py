"""Random-weight copies of the Wan models, for tests and ``wgp models tiny``.

Each tiny model has the component classes and folder layout of the real
checkpoint (same pipeline class, same optional parts: CLIP image encoder for
Wan 2.1 image models, ``transformer_2`` and ``boundary_ratio`` for Wan 2.2
A14B, the 48-channel residual VAE and ``expand_timesteps`` for TI2V-5B), at
sizes that load in a fraction of a second and generate 5 frames at 32x32 in
well under a second.  The tokenizer is built locally; nothing touches a hub.
Building is deterministic: the same spec gives the same weights.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
from transformers import CLIPVisionConfig, CLIPVisionModel, T5Tokenizer, UMT5Config, UMT5EncoderModel
from wgp_hookspecs import ModelSpec

from wgp_host.diffusion import quiet_progress_bars

from .pipeline import pipeline_class

try:  # without torchvision, transformers 5 swaps CLIPImageProcessor for this PIL class with a warning
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - other transformers builds
    from transformers import CLIPImageProcessor

#: Seed of every tiny model's weights.
TINY_SEED = 0

TEXT_DIM = 32
CLIP_HIDDEN = 4
CLIP_IMAGE_SIZE = 32
CLIP_PATCH = 4
#: Tokens per image from the tiny CLIP encoder (patches plus the class token).
CLIP_TOKENS = (CLIP_IMAGE_SIZE // CLIP_PATCH) ** 2 + 1


def tiny_tokenizer() -> T5Tokenizer:
    """A T5 Unigram tokenizer over single characters (ids 0 pad, 1 eos, 2 unk), built in memory."""
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [("\u2581" + c, -2.0 - i / 100) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")]
    vocab += [(c, -3.0 - i / 100) for i, c in enumerate(chars)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_text_encoder(vocab_size: int) -> UMT5EncoderModel:
    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=vocab_size,
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=16,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )


def tiny_vae(version: str) -> AutoencoderKLWan:
    """Wan 2.1 VAE (z_dim 16, 8x spatial) or Wan 2.2 VAE (z_dim 48, residual, 2x2 patches, 16x spatial)."""
    common = dict(base_dim=3, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    if version == "2.2":
        return AutoencoderKLWan(
            **common,
            z_dim=48,
            is_residual=True,
            in_channels=12,
            out_channels=12,
            patch_size=2,
            scale_factor_spatial=16,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
        )
    return AutoencoderKLWan(**common, z_dim=16)


def tiny_transformer(in_channels: int, out_channels: int, image: bool = False, last_image: bool = False) -> WanTransformer3DModel:
    """A two-layer Wan DiT; ``image`` adds the CLIP image cross-attention of Wan 2.1 image models."""
    heads, head_dim = 2, 12
    extra: dict[str, Any] = {}
    if image:
        extra = dict(image_dim=CLIP_HIDDEN, added_kv_proj_dim=heads * head_dim)
        if last_image:
            extra["pos_embed_seq_len"] = 2 * CLIP_TOKENS
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        **extra,
    )


def tiny_image_encoder() -> tuple[CLIPVisionModel, Any]:
    model = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=CLIP_HIDDEN,
            projection_dim=CLIP_HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=16,
            image_size=CLIP_IMAGE_SIZE,
            patch_size=CLIP_PATCH,
        )
    )
    processor = CLIPImageProcessor(crop_size=CLIP_IMAGE_SIZE, size=CLIP_IMAGE_SIZE)
    return model, processor


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for a given spec."""
    options = spec.options
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        tokenizer = tiny_tokenizer()
        text_encoder = tiny_text_encoder(len(tokenizer))
        vae = tiny_vae(options.get("vae", "2.1"))
        z_dim = vae.config.z_dim
        # Wan 2.1-style image models concatenate noise, a 4-channel frame mask and the
        # image latents; TI2V-5B writes the image latents into the first frame instead.
        in_channels = z_dim + 4 + z_dim if options.get("pipeline") == "i2v" else z_dim
        has_image_encoder = bool(options.get("image_encoder"))
        components: dict[str, Any] = dict(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=UniPCMultistepScheduler(
                prediction_type="flow_prediction",
                use_flow_sigmas=True,
                flow_shift=float(spec.defaults().get("flow_shift") or 3.0),
            ),
            transformer=tiny_transformer(in_channels, z_dim, has_image_encoder, bool(options.get("last_image"))),
        )
        if options.get("boundary_ratio") is not None:
            components["transformer_2"] = tiny_transformer(in_channels, z_dim)
            components["boundary_ratio"] = float(options["boundary_ratio"])
        if options.get("pipeline") == "ti2v":
            components["expand_timesteps"] = True
        if has_image_encoder:
            components["image_encoder"], components["image_processor"] = tiny_image_encoder()
        return pipeline_class(spec)(**components)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors).

    The folder loads back through the family's normal ``load`` with
    ``LoadPlan(weights=folder)``.
    """
    pipe = build_tiny_pipeline(spec)
    os.makedirs(folder, exist_ok=True)
    with quiet_progress_bars():
        pipe.save_pretrained(str(folder), safe_serialization=True)
