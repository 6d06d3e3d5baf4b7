"""Helpers shared by the Qwen-Image tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

from wgp_diffusers.testing import generate, generator, load_tiny, small_params  # noqa: F401 - re-exported for the tests
from wgp_qwen.pipeline import PIPELINES, edit_processor
from wgp_qwen.plugin import QWEN_FAMILY
from wgp_qwen.specs import get_spec

#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow"}


def request_params(model_id: str, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size."""
    return small_params(get_spec(model_id), SMALL, **changes)


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(QWEN_FAMILY, get_spec(model_id), folder, **plan)


def direct_pipe(model_id: str, folder: str):
    """Plain diffusers ``from_pretrained`` of ``model_id``'s pipeline; an Edit model's processor is
    the one wgp builds where transformers cannot load it (no torchvision), else loaded as saved."""
    kind = get_spec(model_id).options["pipeline"]
    processor = edit_processor(folder) if kind != "text" else None
    return PIPELINES[kind].from_pretrained(folder, **({"processor": processor} if processor is not None else {}))
