"""Helpers shared by the Wan tests (a uniquely named module, so it never collides with other conftests)."""

from __future__ import annotations

from wgp_hookspecs import CancelToken, GenerationContext
from wgp_wan.specs import get_spec

#: Every tiny model generates at this size: the smallest the 16x (TI2V) VAE with 2x2 patches allows.
SMALL = {"width": 32, "height": 32, "frames": 5, "steps": 2, "seed": 7, "prompt": "a red fox runs, snow"}


class Recorder:
    """A GenerationContext whose events are kept in a list."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.cancel = CancelToken()
        self.cancel_after = cancel_after
        self.context = GenerationContext(job="test", cancel=self.cancel, emit=self.emit)

    def emit(self, event: str, **fields) -> None:
        self.events.append((event, fields))
        if event == "step" and self.cancel_after is not None and fields["step"] >= self.cancel_after:
            self.cancel.cancel("test cancel")

    def steps(self) -> list[tuple[int, int]]:
        return [(f["step"], f["total"]) for e, f in self.events if e == "step"]


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
