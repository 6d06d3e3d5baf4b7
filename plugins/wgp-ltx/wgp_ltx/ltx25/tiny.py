"""A random-weight copy of LTX-2.5, for tests and ``wgp models tiny``.

LTX-2.3's tiny parts (:mod:`wgp_ltx.ltx2.tiny`: Gemma 3 text encoder and tokenizer,
connectors, audio-video transformer, video and audio VAEs, scheduler) with LTX-2's
``LTX2Vocoder`` (24 kHz; the type the LTX-2.5 blocks declare) and a small
``LTX2VideoDiffusionDecoderModel`` at the real 8x time / 32x space upsampling and an
``LTX2DurationHead``, saved as an
``LTX25ModularPipeline`` (``modular_model_index.json``).  Built locally and deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from diffusers import LTX25AutoBlocks
from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoDiffusionDecoderModel
from diffusers.pipelines.ltx2.duration_head import LTX2DurationHead
from wgp_hookspecs import ModelSpec

from wgp_diffusers.diffusion import quiet_progress_bars
from wgp_diffusers.tiny import seeded_weights

from ..ltx2 import tiny as ltx2_tiny


def tiny_diffusion_decoder() -> LTX2VideoDiffusionDecoderModel:
    """Five one-layer stages, 8 to 32 wide, upsampling as the real one (space 2, time 2, then both twice,
    after 4x4 patches); the first stages' attention windows fit a 64x64 output's 2x2 latents."""
    return LTX2VideoDiffusionDecoderModel(
        out_channels=3, latent_channels=ltx2_tiny.LATENT_CHANNELS, patch_size=4, decoder_head_dim=8,
        decoder_stage_channels=(32, 16, 8, 8, 8), decoder_stage_depths=(1, 1, 1, 1, 1),
        decoder_stage_kernels=((1, 1, 1), (1, 3, 3), (3, 3, 3), (3, 3, 3)),
        decoder_upsample_strides=((1, 2, 2), (2, 1, 1), (2, 2, 2), (2, 2, 2)),
        decoder_upsample_channel_reductions=(2, 2, 1, 1), decoder_stage5_kernel=(3, 3, 3), decoder_t_emb_dim=16,
    )


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny ``LTX25ModularPipeline`` (not saved); deterministic."""
    classic = ltx2_tiny.build_tiny_pipeline(dataclasses.replace(spec, options={**spec.options, "version": "2.3"}))
    with seeded_weights():
        vocoder = ltx2_tiny.tiny_vocoder(bwe=False)
        decoder = tiny_diffusion_decoder()
        # LTX-2.5's duration head (it predicts a length when no frame count is given; wgp always gives one).
        duration = LTX2DurationHead(video_cross_attention_dim=16, audio_cross_attention_dim=8, pooler_hidden_dim=8,
                                    num_pooler_heads=2, mlp_hidden_dim=8)
    pipe = LTX25AutoBlocks().init_pipeline()
    components = {name: value for name, value in classic.components.items() if value is not None}
    pipe.update_components(**{**components, "vocoder": vocoder, "diffusion_decoder": decoder, "duration_head": duration})
    return pipe


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` (``modular_model_index.json``, safetensors)."""
    os.makedirs(folder, exist_ok=True)
    with quiet_progress_bars():
        build_tiny_pipeline(spec).save_pretrained(str(folder), overwrite_modular_index=True, safe_serialization=True)
    # The optional components the tiny copy has not (the prompt enhancer and its processor)
    # are left out of the index rather than listed empty, so loading does not look for them.
    index = Path(folder) / "modular_model_index.json"
    entries = json.loads(index.read_text())
    index.write_text(json.dumps({k: v for k, v in entries.items() if not (isinstance(v, list) and v[:2] == [None, None])},
                                indent=2, sort_keys=True))
