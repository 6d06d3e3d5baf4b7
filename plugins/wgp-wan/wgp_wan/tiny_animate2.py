"""A random-weight copy of Wan 2.2 Animate 2, for tests and ``wgp models tiny``.

The real component classes of ``WanAnimate2Blocks`` (UMT5 text encoder and tokenizer, a CLIP
vision tower, the Wan 2.1 VAE, ``WanAnimate2Transformer3DModel``, a flow-matching scheduler),
saved as a ``WanAnimate2ModularPipeline`` (``modular_model_index.json``).  The CLIP tower is
1280 wide because the transformer's image projection is fixed at that width (``MLPProj(1280,
dim)``): one layer keeps the folder at about 26 MB.  Built locally and deterministically.

The scheduler is ``FlowMatchEulerDiscreteScheduler``: the blocks call
``scheduler.step(..., generator=)``, which diffusers' UniPC scheduler does not take (see
:func:`wgp_wan.animate2.check_layout`).
"""

from __future__ import annotations

import os
from typing import Any

from diffusers import FlowMatchEulerDiscreteScheduler, WanAnimate2Transformer3DModel
from diffusers.modular_pipelines import WanAnimate2Blocks
from transformers import CLIPVisionConfig, CLIPVisionModel
from wgp_hookspecs import ModelSpec

from wgp_diffusers.modular import save_tiny_modular
from wgp_diffusers.tiny import seeded_weights, tiny_t5_encoder, tiny_t5_tokenizer

from .tiny import TEXT_DIM, tiny_vae

#: The width WanAnimate2Transformer3DModel's image projection takes (fixed in diffusers 0.42.1).
CLIP_WIDTH = 1280


def tiny_transformer() -> WanAnimate2Transformer3DModel:
    """A two-layer Animate 2 DiT (36 input channels: noise 16 + mask 4 + reference 16), 2 heads of 8."""
    return WanAnimate2Transformer3DModel(
        dim=16, ffn_dim=32, freq_dim=16, text_dim=TEXT_DIM, num_heads=2, num_layers=2,
    )


def tiny_image_encoder() -> CLIPVisionModel:
    """One CLIP layer at the real width (224-pixel input: the blocks resize to it themselves)."""
    return CLIPVisionModel(CLIPVisionConfig(
        hidden_size=CLIP_WIDTH, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=224, patch_size=14, projection_dim=8,
    ))


def build_tiny_pipeline(spec: ModelSpec) -> Any:
    """The tiny ``WanAnimate2ModularPipeline`` (not saved); deterministic."""
    with seeded_weights():
        tokenizer = tiny_t5_tokenizer()
        components = dict(
            tokenizer=tokenizer,
            text_encoder=tiny_t5_encoder(len(tokenizer), TEXT_DIM, umt5=True),
            image_encoder=tiny_image_encoder(),
            vae=tiny_vae("2.1"),
            transformer=tiny_transformer(),
            scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
        )
    pipe = WanAnimate2Blocks().init_pipeline()
    pipe.update_components(**components)
    return pipe


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` (``modular_model_index.json``, safetensors)."""
    save_tiny_modular(build_tiny_pipeline(spec), folder)
