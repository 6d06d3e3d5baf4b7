"""Helpers shared by the Wan tests (a uniquely named module, so it never collides with other conftests)."""

from __future__ import annotations

from wgp_wan.specs import get_spec

from wgp_host.testing import Recorder  # noqa: F401 - re-exported for the Wan tests

#: Every tiny model generates at this size: the smallest the 16x (TI2V) VAE with 2x2 patches allows.
SMALL = {"width": 32, "height": 32, "frames": 5, "steps": 2, "seed": 7, "prompt": "a red fox runs, snow"}


def request_params(model_id: str, images: dict[str, str] | None = None, **changes) -> dict:
    """Full params for ``model_id`` at the small test size, with the images its kind needs."""
    spec = get_spec(model_id)
    params = {**spec.defaults(), **SMALL}
    start = spec.param("image_start")
    if images is not None and start is not None and start.required:
        params["image_start"] = images["a"]
    if images is not None and spec.param("image_end") is not None:
        params["image_end"] = images["b"]
    params.update(changes)
    return params
