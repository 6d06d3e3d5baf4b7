"""Helpers shared by the LTX tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

import numpy as np
from diffusers import LTXImageToVideoPipeline, LTXPipeline
from diffusers.utils import load_image
from wgp_diffusers.sizing import prepare_image
from wgp_diffusers.testing import generator, load_tiny, small_params, stack_frames
from wgp_ltx.plugin import LTX_FAMILY
from wgp_ltx.specs import LTX_MODELS

SPEC = LTX_MODELS[0]
#: The smallest request the real rules allow: 9 frames (8n+1) at 32x32 (multiples of 32).
SMALL = {"width": 32, "height": 32, "frames": 9, "steps": 2, "seed": 7, "prompt": "a red fox runs through snow"}


def request_params(**changes: Any) -> dict:
    return small_params(SPEC, SMALL, **changes)


def load(folder: str, **plan: Any):
    return load_tiny(LTX_FAMILY, SPEC, folder, **plan)


def direct_frames(folder: str, image: str | None = None, seed: int = 7, **call: Any) -> np.ndarray:
    """What a diffusers user writes by hand: from_pretrained, a seeded generator, PIL frames; the
    image cropped to the output's aspect ratio and resized, as wgp prepares it (LTX-Video's own
    inference.py crops the same way)."""
    kwargs: dict[str, Any] = dict(
        prompt=SMALL["prompt"], negative_prompt="worst quality, inconsistent motion, blurry, jittery, distorted",
        height=32, width=32, num_frames=9, frame_rate=25, num_inference_steps=2, guidance_scale=3.0,
    )
    kwargs.update(call)
    if image is None:
        pipe = LTXPipeline.from_pretrained(folder)
    else:
        pipe = LTXImageToVideoPipeline.from_pretrained(folder)
        kwargs["image"] = prepare_image(load_image(image), kwargs["width"], kwargs["height"])
    return stack_frames(pipe(**kwargs, generator=generator(seed), output_type="pil").frames[0])
