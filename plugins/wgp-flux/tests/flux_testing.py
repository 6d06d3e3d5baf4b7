"""Helpers shared by the Flux tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

from wgp_diffusers.testing import load_tiny, small_params
from wgp_flux.plugin import FLUX_FAMILY
from wgp_flux.specs import get_spec

#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow", "auto_resize": False}


def request_params(model_id: str, reference: str | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``reference`` is Kontext's image."""
    if reference is not None:
        changes = {"image_start": reference, **changes}
    return small_params(get_spec(model_id), SMALL, **changes)


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(FLUX_FAMILY, get_spec(model_id), folder, **plan)
