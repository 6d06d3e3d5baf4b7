"""Helpers shared by the Qwen-Image tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

import torch
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest
from wgp_qwen.pipeline import PIPELINES, edit_processor
from wgp_qwen.plugin import QWEN_FAMILY
from wgp_qwen.specs import get_spec

from wgp_host.testing import Recorder

#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow"}



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


def direct_pipe(model_id: str, folder: str):
    """Plain diffusers ``from_pretrained`` of ``model_id``'s pipeline; an Edit model's processor is
    the one wgp builds where transformers cannot load it (no torchvision), else loaded as saved."""
    kind = get_spec(model_id).options["pipeline"]
    processor = edit_processor(folder) if kind != "text" else None
    return PIPELINES[kind].from_pretrained(folder, **({"processor": processor} if processor is not None else {}))
