"""Random-weight copies of LTX-2 and LTX-2.3, for tests and ``wgp models tiny``.

The tiny model has the real checkpoints' component classes and folder layout
(LTX2VideoTransformer3DModel, AutoencoderKLLTX2Video at the real 8x time / 32x space
compression, AutoencoderKLLTX2Audio at the real 16 kHz mel rate, a vocoder at the real
output rate, LTX2TextConnectors, a Gemma 3 text encoder with a locally built
tokenizer, FlowMatchEulerDiscreteScheduler with the published settings), so the same
frame and size rules hold and the audio has its real sample rate: 24 kHz from LTX-2's
``LTX2Vocoder``, 48 kHz from LTX-2.3's ``LTX2VocoderWithBWE`` (bandwidth extension).
At 8-channel widths it generates 9 frames at 32x32 with their sound in a fraction of a
second.  Built locally and deterministically.
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    FlowMatchEulerDiscreteScheduler,
    LTX2Pipeline,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2 import LTX2TextConnectors
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GemmaTokenizer
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import CHARACTERS, save_tiny_pipeline, seeded_weights

from ..tiny import TINY_VAE_095_STAGES

TEXT_WIDTH = 16
TEXT_LAYERS = 2
LATENT_CHANNELS = 8
AUDIO_LATENT_CHANNELS = 2
MEL_BINS = 8


def tiny_gemma_tokenizer() -> GemmaTokenizer:
    """A Gemma (BPE) tokenizer over single characters, without merges: built in memory."""
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4, "\u2581": 5}
    for c in CHARACTERS:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault("\u2581" + c, len(vocab))
    return GemmaTokenizer(vocab=vocab, merges=[])


def tiny_gemma3(vocab_size: int) -> Gemma3ForConditionalGeneration:
    """A two-layer Gemma 3 (with a one-layer SigLIP tower, as the real encoder has one) at width 16."""
    config = Gemma3Config(
        text_config={
            "vocab_size": vocab_size, "hidden_size": TEXT_WIDTH, "intermediate_size": 32,
            "num_hidden_layers": TEXT_LAYERS, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 8, "max_position_embeddings": 256, "sliding_window": 64,
            "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        },
        vision_config={
            "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "image_size": 8, "patch_size": 4,
        },
        mm_tokens_per_image=4, boi_token_index=vocab_size - 3, eoi_token_index=vocab_size - 2,
        image_token_index=vocab_size - 1,
    )
    return Gemma3ForConditionalGeneration(config)


def tiny_video_vae() -> AutoencoderKLLTX2Video:
    """8-wide blocks at the real layout, the 0.9.5 VAE's stages (:data:`TINY_VAE_095_STAGES`:
    32x in space, 8x in time, residual 2x upsamplers), without timestep conditioning."""
    return AutoencoderKLLTX2Video(**TINY_VAE_095_STAGES, block_out_channels=(8, 8, 8, 8), timestep_conditioning=False)


def tiny_audio_vae() -> AutoencoderKLLTX2Audio:
    """4-wide blocks over 8 mel bins at the real 16 kHz, hop 160 (100 mel frames a second)."""
    return AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, in_channels=2, resolution=32,
        latent_channels=AUDIO_LATENT_CHANNELS, sample_rate=16000, mel_hop_length=160, mel_bins=MEL_BINS,
    )


def tiny_vocoder(bwe: bool) -> LTX2Vocoder | LTX2VocoderWithBWE:
    """LTX-2's vocoder (100 mel frames a second upsampled 240x: 24 kHz), or LTX-2.3's with
    bandwidth extension (160x to 16 kHz, then a 48 kHz extension), narrow and shallow."""
    # Kernel minus stride even at every stage, as in the real ones, so lengths multiply exactly.
    mel_channels = 2 * MEL_BINS
    if not bwe:
        return LTX2Vocoder(
            in_channels=mel_channels, hidden_channels=16, out_channels=2, upsample_kernel_sizes=[12, 11, 16],
            upsample_factors=[6, 5, 8], resnet_kernel_sizes=[3], resnet_dilations=[[1]], output_sampling_rate=24000,
        )
    return LTX2VocoderWithBWE(
        in_channels=mel_channels, hidden_channels=16, out_channels=2, upsample_kernel_sizes=[11, 8, 16],
        upsample_factors=[5, 4, 8], resnet_kernel_sizes=[3], resnet_dilations=[[1]],
        bwe_in_channels=2 * MEL_BINS, bwe_hidden_channels=16, bwe_out_channels=2, bwe_upsample_kernel_sizes=[12, 11, 16],
        bwe_upsample_factors=[6, 5, 8], bwe_resnet_kernel_sizes=[3], bwe_resnet_dilations=[[1]],
        filter_length=64, hop_length=80, window_length=64, num_mel_channels=MEL_BINS,
        input_sampling_rate=16000, output_sampling_rate=48000,
    )


def tiny_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """The published scheduler config of Lightricks/LTX-2 and LTX-2.3 (``scheduler/scheduler_config.json``):
    resolution-dependent shift 0.95 to 2.05 between 1024 and 4096 tokens, terminal 0.1."""
    return FlowMatchEulerDiscreteScheduler(
        shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
        base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
    )


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny LTX2Pipeline for ``spec`` (not saved); deterministic.  LTX-2.3 ids get 2.3's
    parts: the bandwidth-extending vocoder, gated attention and per-modality text projections."""
    v23 = spec.options.get("version") == "2.3"
    with seeded_weights():
        tokenizer = tiny_gemma_tokenizer()
        text_encoder = tiny_gemma3(len(tokenizer))
        return LTX2Pipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            connectors=LTX2TextConnectors(
                caption_channels=TEXT_WIDTH,
                text_proj_in_factor=TEXT_LAYERS + 1,
                video_connector_num_attention_heads=2,
                video_connector_attention_head_dim=8,
                video_connector_num_layers=1,
                video_connector_num_learnable_registers=None,
                audio_connector_num_attention_heads=2,
                # LTX-2.0's connectors keep the text width; 2.3's project to each modality's own width.
                audio_connector_attention_head_dim=4 if v23 else 8,
                audio_connector_num_layers=1,
                audio_connector_num_learnable_registers=None,
                connector_rope_base_seq_len=32,
                rope_type="split",
                per_modality_projections=v23,
                video_hidden_dim=16,
                audio_hidden_dim=8,
                video_gated_attn=v23,
                audio_gated_attn=v23,
            ),
            transformer=LTX2VideoTransformer3DModel(
                in_channels=LATENT_CHANNELS,
                out_channels=LATENT_CHANNELS,
                num_attention_heads=2,
                attention_head_dim=8,
                cross_attention_dim=16,
                audio_in_channels=AUDIO_LATENT_CHANNELS * MEL_BINS // 4,
                audio_out_channels=AUDIO_LATENT_CHANNELS * MEL_BINS // 4,
                audio_num_attention_heads=2,
                audio_attention_head_dim=4,
                audio_cross_attention_dim=8,
                # Two blocks: First Block Cache needs a first block and the rest.
                num_layers=2,
                caption_channels=TEXT_WIDTH,
                rope_type="split",
                gated_attn=v23,
                audio_gated_attn=v23,
                cross_attn_mod=v23,
                audio_cross_attn_mod=v23,
                use_prompt_embeddings=not v23,
            ),
            vae=tiny_video_vae(),
            audio_vae=tiny_audio_vae(),
            vocoder=tiny_vocoder(bwe=v23),
            scheduler=tiny_scheduler(),
        )


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` in diffusers layout (safetensors)."""
    save_tiny_pipeline(build_tiny_pipeline(spec), folder)
