"""Random-weight copies of the HunyuanVideo 1.5 models, for tests and ``wgp models tiny``.

Each tiny model has the real checkpoint's component classes and folder layout
(HunyuanVideo15Transformer3DModel, AutoencoderKLHunyuanVideo15 with the real 16x spatial and
4x temporal compression, a Qwen2.5-VL text model with wgp-diffusers' byte-level Qwen2
tokenizer (right padding, as the conversion script loads Qwen2.5-VL's) and ChatML template, a
ByT5 glyph encoder, ClassifierFreeGuidance and FlowMatchEulerDiscreteScheduler configured as
the conversion script saves them; image-to-video adds a SigLIP vision encoder and its image
processor), at sizes that build in about a second.  The transformer's
``target_size`` is small (32), so image-to-video picks 32-pixel buckets like 32x32: the rule
is the real one, the area is a test's.  Tokenizers are built locally; nothing touches a hub.
Building is deterministic.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import (
    AutoencoderKLHunyuanVideo15,
    ClassifierFreeGuidance,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideo15Transformer3DModel,
)
from transformers import (
    ByT5Tokenizer,
    Qwen2_5_VLTextConfig,
    Qwen2_5_VLTextModel,
    Qwen2Tokenizer,
    SiglipImageProcessor,
    SiglipVisionConfig,
    SiglipVisionModel,
)
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import save_tiny_pipeline, seeded_weights, tiny_qwen_tokenizer, tiny_t5_encoder

from .pipeline import HunyuanModel
from .specs import FLOW_SHIFTS

TEXT_DIM = 16
GLYPH_DIM = 8
IMAGE_DIM = 8
LATENT_CHANNELS = 4
#: Pixels per side of the image-to-video size buckets (the real checkpoints: 640 or 960).
TINY_TARGET_SIZE = 32


def tiny_text_encoder(tokenizer: Qwen2Tokenizer) -> Qwen2_5_VLTextModel:
    """A two-layer Qwen2.5-VL text model (the pipeline reads the third-last hidden state)."""
    special = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLTextModel(
        Qwen2_5_VLTextConfig(
            vocab_size=len(tokenizer),
            bos_token_id=special("<|endoftext|>"),
            eos_token_id=special("<|im_end|>"),
            pad_token_id=special("<|endoftext|>"),
            hidden_size=TEXT_DIM,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=2048,
            rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]},
        )
    )


def tiny_vae() -> AutoencoderKLHunyuanVideo15:
    """Five 8-channel blocks: the real 16x spatial and 4x temporal compression."""
    return AutoencoderKLHunyuanVideo15(
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8, 8),
        layers_per_block=1,
    )


def tiny_transformer(task: str) -> HunyuanVideo15Transformer3DModel:
    # Inputs: the noisy latents, the condition latents and a mask channel (2 * latents + 1).
    return HunyuanVideo15Transformer3DModel(
        in_channels=LATENT_CHANNELS * 2 + 1,
        out_channels=LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,  # First Block Cache needs a first block and a tail
        num_refiner_layers=1,
        mlp_ratio=2.0,
        text_embed_dim=TEXT_DIM,
        text_embed_2_dim=GLYPH_DIM,
        image_embed_dim=IMAGE_DIM,
        rope_axes_dim=(2, 2, 4),
        target_size=TINY_TARGET_SIZE,
        task_type=task,
    )


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for a given spec."""
    task = spec.options["pipeline"]
    with seeded_weights():
        tokenizer = tiny_qwen_tokenizer()
        tokenizer_2 = ByT5Tokenizer()
        components: dict[str, Any] = dict(
            text_encoder=tiny_text_encoder(tokenizer),
            tokenizer=tokenizer,
            transformer=tiny_transformer(task),
            vae=tiny_vae(),
            # The conversion script: FlowMatchEulerDiscreteScheduler(shift=...), ClassifierFreeGuidance(guidance_scale=6.0).
            scheduler=FlowMatchEulerDiscreteScheduler(shift=FLOW_SHIFTS[spec.options["resolution"], task]),
            text_encoder_2=tiny_t5_encoder(len(tokenizer_2), GLYPH_DIM),
            tokenizer_2=tokenizer_2,
            guider=ClassifierFreeGuidance(guidance_scale=6.0),
        )
        if task == "i2v":
            components["image_encoder"] = SiglipVisionModel(
                SiglipVisionConfig(hidden_size=IMAGE_DIM, intermediate_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, image_size=32, patch_size=8)
            )
            components["feature_extractor"] = SiglipImageProcessor(size={"height": 32, "width": 32})
        return HunyuanModel.pipeline_class(spec)(**components)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
