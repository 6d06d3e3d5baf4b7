"""Helpers shared by the Qwen-Image tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest
from wgp_qwen.plugin import QWEN_FAMILY
from wgp_qwen.specs import get_spec

from wgp_host.testing import Recorder

#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow"}

#: The Edit models' prompt encoder (transformers' Qwen2VLProcessor) exists only with torchvision.
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
needs_torchvision = pytest.mark.skipif(
    not HAS_TORCHVISION, reason="transformers 5 builds Qwen2VLProcessor (Qwen-Image-Edit) only with torchvision")


def request_params(model_id: str, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size."""
    spec = get_spec(model_id)
    params = {**spec.defaults(), **{k: v for k, v in SMALL.items() if spec.param(k) is not None}}
    params.update(changes)
    return params


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(QWEN_FAMILY, get_spec(model_id), folder, **plan)


def generate(model, params: dict, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    return model.generate(GenerationRequest(model.spec.id, params), recorder.context)


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)
