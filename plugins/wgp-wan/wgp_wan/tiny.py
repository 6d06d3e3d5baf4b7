"""Random-weight copies of the Wan models, for tests and ``wgp models tiny``.

Each tiny model has the component classes and folder layout of the real
checkpoint (same pipeline class, same optional parts: CLIP image encoder for
Wan 2.1 image models, ``transformer_2`` and ``boundary_ratio`` for Wan 2.2
A14B, the 48-channel residual VAE and ``expand_timesteps`` for TI2V-5B, the VACE
transformer with its VACE blocks, the Animate transformer with its motion and face
encoders and the CLIP image encoder), at
sizes that load in a fraction of a second and generate 5 frames at 32x32 in
well under a second.  The tokenizer is built locally; nothing touches a hub.
Building is deterministic: the same spec gives the same weights.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import (
    AutoencoderKLWan,
    UniPCMultistepScheduler,
    WanAnimateTransformer3DModel,
    WanTransformer3DModel,
    WanVACETransformer3DModel,
)
from transformers import CLIPVisionConfig, CLIPVisionModel
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import (
    save_tiny_pipeline,
    seeded_weights,
    tiny_t5_encoder,
    tiny_t5_tokenizer,
)

from .pipeline import pipeline_class

try:  # without torchvision, transformers 5 swaps CLIPImageProcessor for this PIL class with a warning
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - other transformers builds
    from transformers import CLIPImageProcessor

TEXT_DIM = 32
CLIP_HIDDEN = 4
CLIP_IMAGE_SIZE = 32
CLIP_PATCH = 4
#: Tokens per image from the tiny CLIP encoder (patches plus the class token).
CLIP_TOKENS = (CLIP_IMAGE_SIZE // CLIP_PATCH) ** 2 + 1
#: The layers every tiny Wan DiT (plain, VACE, Animate) has: two narrow blocks with the real
#: norms and a rotary table long enough for 32-pixel frames.
TINY_DIT_LAYERS: dict[str, Any] = dict(
    text_dim=TEXT_DIM,
    freq_dim=256,
    ffn_dim=32,
    num_layers=2,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    rope_max_seq_len=32,
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
        **TINY_DIT_LAYERS,
        **extra,
    )


def tiny_vace_transformer() -> WanVACETransformer3DModel:
    """A two-layer VACE DiT with a VACE block at each layer.  Its control input is 96 channels,
    as in the real checkpoints: inactive and reactive latents (2 x 16) and the 8x8 mask (64)."""
    return WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        **TINY_DIT_LAYERS,
        vace_layers=[0, 1],
        vace_in_channels=96,
    )


#: Face frames the tiny Animate motion encoder takes (16x16; the real one takes 512x512).
ANIMATE_FACE_SIZE = 16


def tiny_animate_transformer() -> WanAnimateTransformer3DModel:
    """A two-layer Animate DiT (noise, reference and pose latents, CLIP image tokens) with a
    16-pixel motion encoder and one face adapter block."""
    heads, head_dim = 2, 12
    return WanAnimateTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=36,
        latent_channels=16,
        out_channels=16,
        **TINY_DIT_LAYERS,
        image_dim=CLIP_HIDDEN,
        added_kv_proj_dim=heads * head_dim,
        motion_encoder_channel_sizes={"4": 8, "8": 8, "16": 8},
        motion_encoder_size=ANIMATE_FACE_SIZE,
        motion_style_dim=8,
        motion_dim=4,
        motion_encoder_dim=8,
        face_encoder_hidden_dim=8,
        face_encoder_num_heads=2,
        inject_face_latents_blocks=2,
        motion_encoder_batch_size=4,
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
    with seeded_weights():
        tokenizer = tiny_t5_tokenizer()
        text_encoder = tiny_t5_encoder(len(tokenizer), TEXT_DIM, umt5=True)
        vae = tiny_vae(options.get("vae", "2.1"))
        z_dim = vae.config.z_dim
        # Wan 2.1-style image models concatenate noise, a 4-channel frame mask and the
        # image latents; TI2V-5B writes the image latents into the first frame instead.
        in_channels = z_dim + 4 + z_dim if options.get("pipeline") == "i2v" else z_dim
        has_image_encoder = bool(options.get("image_encoder"))
        kind = options.get("pipeline")
        if kind == "vace":
            transformer: Any = tiny_vace_transformer()
        elif kind == "animate":
            transformer = tiny_animate_transformer()
        else:
            transformer = tiny_transformer(in_channels, z_dim, has_image_encoder, bool(options.get("last_image")))
        components: dict[str, Any] = dict(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=UniPCMultistepScheduler(
                prediction_type="flow_prediction",
                use_flow_sigmas=True,
                flow_shift=float(spec.defaults().get("flow_shift") or 3.0),
            ),
            transformer=transformer,
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
    if spec.options.get("pipeline") == "animate2":  # a Modular pipeline: its own builder
        from .tiny_animate2 import build_tiny as build_animate2

        return build_animate2(spec, folder)
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
