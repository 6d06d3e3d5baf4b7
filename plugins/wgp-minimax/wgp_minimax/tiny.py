"""Random-weight copies of MiniMax-H3, for tests and ``wgp models tiny``.

The tiny model has the real checkpoint's components and layout (``MiniMaxH3Blocks`` with every
component set through ``update_components``, saved as a ``modular_model_index.json`` folder):
a Qwen3-VL conditioner with a Qwen2 byte-level tokenizer built in memory and the
``Qwen3VLProcessor`` around them, the MiniMax-H3 transformer, video VAE, audio VAE and the
two schedulers (shift 12 for video, 3 for audio, as released).  Sizes are the smallest that
keep the model's own arithmetic: 51 text-encoder layers (MiniMax-H3 reads hidden state 50), 16x
spatial and 4x temporal video compression with 17-frame chunks, an 800-sample audio hop at
32 kHz.  Both transformer partitions are written (``transformer`` and ``transformer_ref``), so
one folder serves both ids, as the released repository does.  Nothing touches a hub.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import (
    AutoencoderKLMiniMaxH3,
    AutoencoderKLMiniMaxH3Audio,
    MiniMaxH3Blocks,
    MiniMaxH3Scheduler,
    MiniMaxH3Transformer3DModel,
)
from tokenizers.pre_tokenizers import ByteLevel
from transformers import Qwen2Tokenizer, Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
from wgp_hookspecs import ModelSpec

from wgp_diffusers.modular import save_tiny_modular
from wgp_diffusers.processors import build_processor
from wgp_diffusers.tiny import seeded_weights

from .pipeline import quiet_weight_norm

#: Width of the tiny conditioner's hidden states (the transformer's ``text_dim``).
TEXT_DIM = 16
#: Qwen3-VL's special tokens MiniMax-H3's presentation uses.
SPECIAL_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
#: Canvas and reference sizes (``MiniMaxH3Blocks`` configs) small enough for 32-pixel tests: a
#: reference image is resized to this short edge before it is encoded (2048 in the release).
TINY_REFERENCE_SHORT_EDGE = 32


def tiny_qwen2_tokenizer() -> Qwen2Tokenizer:
    """A byte-level BPE tokenizer without merges (every byte is a token), with Qwen's special tokens."""
    vocab = {piece: i for i, piece in enumerate(ByteLevel.alphabet())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None,
                               eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    return tokenizer


def tiny_processor(tokenizer: Qwen2Tokenizer) -> Qwen3VLProcessor:
    """Qwen3-VL's processor at the release's patch geometry (16-pixel patches, 2x2 merge), images
    capped at 64x64 pixels; its video processor is transformers' base one (tests give no videos)."""
    from transformers import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2,
                                               min_pixels=32 * 32, max_pixels=64 * 64)
    return build_processor("Qwen3VLProcessor", image_processor, tokenizer)


def tiny_text_encoder(tokenizer: Qwen2Tokenizer) -> Qwen3VLForConditionalGeneration:
    """A Qwen3-VL conditioner with 51 16-wide decoder layers and a one-layer vision tower."""
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen3VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=51,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, patch_size=16, spatial_merge_size=2,
                           temporal_patch_size=2, out_hidden_size=TEXT_DIM, num_position_embeddings=16,
                           deepstack_visual_indexes=[0]),
        **ids,
    )
    return Qwen3VLForConditionalGeneration(config)


def tiny_transformer() -> MiniMaxH3Transformer3DModel:
    """Two blocks (First Block Cache needs a first and a last), two 12-wide heads (the rotary embedding covers 3 axes x 2 x ``rope_freq_dim``)."""
    return MiniMaxH3Transformer3DModel(
        num_attention_heads=2, attention_head_dim=12, hidden_size=24, num_layers=2, num_refiner_layers=1, ffn_dim=32,
        in_channels=4, audio_in_channels=4, patch_size=(1, 2, 2), text_dim=TEXT_DIM, freq_dim=32,
        time_embed_hidden_dim=16, time_embed_dim=16, rope_freq_dim=2,
    )


def tiny_vae() -> AutoencoderKLMiniMaxH3:
    """The release's compression (16x spatial, 4x temporal, 17-frame chunks) at 8 channels."""
    return AutoencoderKLMiniMaxH3(
        latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1, spatial_downsample_factors=(2, 2, 2, 2),
        temporal_downsample_factors=(1, 2, 2, 1), norm_num_groups=4, decoder_num_layers=1, decoder_num_attention_heads=2,
        decoder_attention_head_dim=8, decoder_num_register_tokens=1, decoder_ffn_mult=1,
        latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4,
    )


def tiny_audio_vae() -> AutoencoderKLMiniMaxH3Audio:
    """The release's 800-sample hop at 32 kHz (40 latents a second), two upsampling stages."""
    return AutoencoderKLMiniMaxH3Audio(
        encoder_dim=2, encoder_rates=(2, 4, 4, 5, 5), latent_dim=8, latent_channels=4, num_attention_heads=2,
        decoder_dim=8, decoder_rates=(20, 40), decoder_kernel_sizes=(40, 80), resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1,),), sampling_rate=32000, latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )


def build_pipeline() -> Any:
    """The tiny ``MiniMaxH3ModularPipeline``, every component set (deterministic weights)."""
    tokenizer = tiny_qwen2_tokenizer()
    with seeded_weights():
        components = dict(
            text_encoder=tiny_text_encoder(tokenizer), vae=tiny_vae(), audio_vae=tiny_audio_vae(),
            transformer=tiny_transformer(), transformer_ref=tiny_transformer(),
        )
    pipe = MiniMaxH3Blocks().init_pipeline()
    pipe.update_components(
        tokenizer=tokenizer, processor=tiny_processor(tokenizer), scheduler=MiniMaxH3Scheduler(shift=12.0),
        audio_scheduler=MiniMaxH3Scheduler(shift=3.0), reference_image_short_edge=TINY_REFERENCE_SHORT_EDGE, **components,
    )
    return pipe


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> str:
    """Write the tiny MiniMax-H3 (both partitions, whichever id ``spec`` is) to ``folder``."""
    with torch.no_grad(), quiet_weight_norm():
        save_tiny_modular(build_pipeline(), folder)
    return str(folder)
