"""A random-weight copy of the model for tests and ``wgp models tiny``.

The real classes (transformer, VAE, T5 text encoder and tokenizer, scheduler) at tiny sizes
and the real compression, so the real size and frame rules hold; saved in diffusers layout
with safetensors, loaded back through ``from_pretrained`` like the real weights.
"""

from __future__ import annotations

import os

from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel
from wgp_diffusers.tiny import save_tiny_pipeline, seeded_weights, tiny_t5_encoder, tiny_t5_tokenizer
from wgp_hookspecs import ModelSpec

LATENT_CHANNELS = 8
TEXT_WIDTH = 32


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write the tiny copy of ``spec`` into ``folder`` (the host creates it, empty); the same
    weights on every call (``seeded_weights``), no network."""
    with seeded_weights():
        tokenizer = tiny_t5_tokenizer()
        pipe = LTXPipeline(
            tokenizer=tokenizer,
            text_encoder=tiny_t5_encoder(len(tokenizer), TEXT_WIDTH),
            transformer=LTXVideoTransformer3DModel(
                in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1, patch_size_t=1,
                num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32, num_layers=1,
                caption_channels=TEXT_WIDTH,
            ),
            vae=AutoencoderKLLTXVideo(
                in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
                block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
                spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
                decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
                upsample_factor=(1, 1, 1, 1), patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
            ),
            scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_image_seq_len=256, max_image_seq_len=4096),
        )
    save_tiny_pipeline(pipe, folder)
