"""Helpers shared by the HunyuanVideo 1.5 tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

from wgp_diffusers.testing import load_tiny, small_params
from wgp_hunyuan.plugin import HUNYUAN_FAMILY
from wgp_hunyuan.specs import get_spec

T2V = "hunyuanvideo-1.5-480p-t2v"
I2V = "hunyuanvideo-1.5-480p-i2v"

#: Every tiny model generates at this size (multiples of 16, not square) and length (4n+1).
#: The quoted words in the prompt go through the ByT5 glyph encoder too.
SMALL = {"width": 48, "height": 32, "frames": 5, "steps": 2, "seed": 7, "prompt": 'a sign that says "OPEN" in the rain'}


def request_params(model_id: str, image: str | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``image`` is the start image."""
    if image is not None:
        changes = {"image_start": image, **changes}
    return small_params(get_spec(model_id), SMALL, **changes)


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(HUNYUAN_FAMILY, get_spec(model_id), folder, **plan)
