"""Helpers shared by the Flux tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from wgp_flux.plugin import FLUX_FAMILY
from wgp_flux.specs import get_spec
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest

from wgp_host.testing import Recorder

#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow", "auto_resize": False}


def request_params(model_id: str, reference: str | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``reference`` is Kontext's image."""
    spec = get_spec(model_id)
    params = {**spec.defaults(), **{k: v for k, v in SMALL.items() if spec.param(k) is not None}}
    if reference is not None:
        params["image_start"] = reference
    params.update(changes)
    return params


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(FLUX_FAMILY, get_spec(model_id), folder, **plan)


def generate(model, params: dict, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    return model.generate(GenerationRequest(model.spec.id, params), recorder.context)


def as_arrays(images) -> list[np.ndarray]:
    return [np.asarray(image) for image in images]


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)
