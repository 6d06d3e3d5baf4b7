"""Helpers shared by the Z-Image tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest
from wgp_zimage.plugin import ZIMAGE_FAMILY
from wgp_zimage.specs import get_spec

from wgp_host.testing import Recorder

TURBO, BASE = "z-image-turbo", "z-image"
#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow"}


def request_params(model_id: str, image: str | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``image`` is the image to start from."""
    params = {**get_spec(model_id).defaults(), **SMALL, "image_start": image, **changes}
    return params


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(ZIMAGE_FAMILY, get_spec(model_id), folder, **plan)


def generate(model, params: dict, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    return model.generate(GenerationRequest(model.spec.id, params), recorder.context)


def as_arrays(images) -> list[np.ndarray]:
    return [np.asarray(image) for image in images]


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)
