"""Random-weight copies of the Qwen-Image models, for tests and ``wgp models tiny``.

Each tiny model has the real checkpoint's component classes and folder layout
(QwenImageTransformer2DModel, AutoencoderKLQwenImage with the real 8x downsampling,
Qwen2_5_VLForConditionalGeneration with a Qwen2Tokenizer, for the Edit models a
Qwen2VLProcessor, FlowMatchEulerDiscreteScheduler configured like the published one), the
same rules (8x VAE and 2x2 packing: sizes multiples of 16) and the same differences between
ids (pipeline class, Edit-2511's ``zero_cond_t``), at sizes that build in about a second.

The tokenizer is :func:`wgp_diffusers.tiny.tiny_qwen_tokenizer` (byte-level BPE without merges)
plus the vision special tokens the Edit pipelines' prompt templates use, so any prompt tokenizes
without a vocabulary file; the Edit models' processor is built without torchvision
(:mod:`wgp_diffusers.processors`); the Qwen2.5-VL encoder is one 16-wide layer (and a one-block vision tower).
Nothing touches a hub.  Building is deterministic.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import QWEN_SPECIAL_TOKENS, save_tiny_pipeline, seeded_weights, tiny_qwen_tokenizer

from .pipeline import QwenModel

#: Width of the tiny text encoder (the transformer's ``joint_attention_dim``).
TEXT_DIM = 16
#: Latent channels of the tiny VAE (the real one has 16); the transformer packs 2x2 of them.
LATENT_CHANNELS = 4
#: Qwen2.5-VL's vision special tokens, which the Edit models' prompt templates contain (the chat
#: ones are :data:`wgp_diffusers.tiny.QWEN_SPECIAL_TOKENS`).
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
SPECIAL_TOKENS = (*QWEN_SPECIAL_TOKENS, *VISION_TOKENS)
#: The tiny image processor's pixel budget: each image becomes 8x8 patches of 14 px (16 tokens).
IMAGE_PIXELS = 112 * 112


def tiny_tokenizer() -> Qwen2Tokenizer:
    """The shared byte-level tiny Qwen tokenizer with Qwen2.5-VL's vision tokens."""
    return tiny_qwen_tokenizer(VISION_TOKENS)


def tiny_qwen_vl_encoder(tokenizer: Qwen2Tokenizer) -> Qwen2_5_VLForConditionalGeneration:
    """A one-layer Qwen2.5-VL (16 wide, multimodal RoPE sections 1+1+2 as the real 16+24+24 are for
    its 128-wide heads) whose special token ids are ``tokenizer``'s."""
    ids = dict(zip(SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))))
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": TEXT_DIM, "intermediate_size": TEXT_DIM,
            "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={"depth": 1, "hidden_size": TEXT_DIM, "intermediate_size": TEXT_DIM, "num_heads": 2,
                       "out_hidden_size": TEXT_DIM, "fullatt_block_indexes": [0]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def tiny_processor(tokenizer: Qwen2Tokenizer) -> Any:
    """The Edit models' Qwen2VLProcessor over ``tokenizer`` with a :data:`IMAGE_PIXELS` budget and
    the PIL image processor.  Its video processor is Qwen2-VL's with torchvision, else
    transformers' base one (saved as such; wgp builds the processor by hand without torchvision,
    see :mod:`wgp_diffusers.processors`)."""
    from transformers import Qwen2VLImageProcessorPil

    from wgp_diffusers.processors import build_processor, has_torchvision

    video_processor = None
    if has_torchvision():
        from transformers import Qwen2VLVideoProcessor

        video_processor = Qwen2VLVideoProcessor()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=IMAGE_PIXELS, max_pixels=IMAGE_PIXELS)
    return build_processor("Qwen2VLProcessor", image_processor, tokenizer, video_processor)


def tiny_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """The published scheduler_config.json of Qwen-Image and its Edit models: exponential
    resolution-dependent shift between 0.5 and 0.9, terminal shift 0.02."""
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
        base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential",
    )


def tiny_vae() -> AutoencoderKLQwenImage:
    """Four 2-wide stages with two temporal downsamplings, like the real VAE: 8x spatial.  The Edit
    pipelines encode every reference image at 1024x1024's area whatever the output size, so the
    full-resolution stages are kept as narrow as the VAE allows (1 would leave empty layers)."""
    vae = AutoencoderKLQwenImage(
        base_dim=2, z_dim=LATENT_CHANNELS, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * LATENT_CHANNELS, latents_std=[1.0] * LATENT_CHANNELS,
    )
    # In a randomly initialised VAE the biases added at every layer drown the signal: latents
    # come out nearly the same for any picture, and pictures for any latents.  Without them
    # both follow their input, so a different reference image gives a different edit, as
    # with trained weights.
    with torch.no_grad():
        for name, parameter in vae.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
        # latents_mean and latents_std bring the latents to unit scale, as the real VAE's do
        # (measured on its training images): here measured on black, white and two gradients.
        ramp = torch.linspace(-1, 1, 64).expand(1, 3, 1, 64, 64)
        samples = torch.cat([torch.full_like(ramp, -1), torch.full_like(ramp, 1), ramp, ramp.transpose(-1, -2)])
        latents = vae.encode(samples).latent_dist.mode()
        vae.register_to_config(latents_mean=latents.mean(dim=(0, 2, 3, 4)).tolist(),
                               latents_std=latents.std(dim=(0, 2, 3, 4)).tolist())
    return vae


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for ``spec`` (not saved); deterministic for a given spec."""
    kind = spec.options["pipeline"]
    with seeded_weights():
        tokenizer = tiny_tokenizer()
        components: dict[str, Any] = dict(
            tokenizer=tokenizer,
            text_encoder=tiny_qwen_vl_encoder(tokenizer),
            vae=tiny_vae(),
            # 2x2 patches of 4 latent channels: 16 inputs, 4 outputs; RoPE axes 8+4+4 = the head width;
            # two blocks, the fewest First Block Cache works with (a first block and the rest).
            transformer=QwenImageTransformer2DModel(
                patch_size=2, in_channels=LATENT_CHANNELS * 4, out_channels=LATENT_CHANNELS, num_layers=2,
                attention_head_dim=16, num_attention_heads=2, joint_attention_dim=TEXT_DIM,
                axes_dims_rope=(8, 4, 4), zero_cond_t=bool(spec.options.get("zero_cond_t", False)),
            ),
            scheduler=tiny_scheduler(),
        )
        if kind != "text":
            components["processor"] = tiny_processor(tokenizer)
        return QwenModel.pipeline_class(spec)(**components)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
