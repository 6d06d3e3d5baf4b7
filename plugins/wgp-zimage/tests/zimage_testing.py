"""Helpers shared by the Z-Image tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

from wgp_diffusers.testing import load_tiny, small_params
from wgp_zimage.plugin import ZIMAGE_FAMILY
from wgp_zimage.specs import get_spec

TURBO, BASE = "z-image-turbo", "z-image"
#: Every tiny model generates at this size (multiples of 16, not square, so width and height cannot swap unseen).
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow"}


def request_params(model_id: str, image: str | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``image`` is the image to start from."""
    return small_params(get_spec(model_id), SMALL, image_start=image, **changes)


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(ZIMAGE_FAMILY, get_spec(model_id), folder, **plan)
