"""Test helpers for diffusers families (their own tests, and third-party ones).

:func:`tiny_plan` is the :class:`~wgp_hookspecs.LoadPlan` a test loads a tiny
model with (CPU, the given plan options); :func:`load_tiny` and :func:`generate`
run a family the way the host does, without the host, on :func:`small_params`
(a full request at a test's small size).  :func:`generator`, :func:`as_arrays`
and :func:`stack_frames` are the other side of the comparison: the seeded
generator a direct diffusers call gets, and its PIL output as arrays.  Together
with the host's ``wgp_tiny_model`` fixture and ``wgp_host.testing.Recorder``
they are what a family test needs to compare wgp's output with a direct
diffusers call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from wgp_hookspecs import CancelToken, GenerationContext, GenerationRequest, GenerationResult, LoadPlan
from wgp_hookspecs import ModelFamily, ModelSpec

from .options import PLAN_OPTIONS

_NAMES = {option.name for option in PLAN_OPTIONS}


def tiny_plan(folder: str | None, device: str = "cpu", **options: Any) -> LoadPlan:
    """``LoadPlan(weights=folder, device=device, options=options)``; ``options`` are this
    plugin's plan options (``dtype``, ``offload``, ``vae_tiling``) by name."""
    unknown = sorted(set(options) - _NAMES)
    if unknown:
        raise TypeError(f"unknown plan option(s) {', '.join(unknown)}; known: {', '.join(sorted(_NAMES))}")
    return LoadPlan(weights=folder, device=device, options=options)


def load_tiny(family: ModelFamily, spec: ModelSpec, folder: str | None, **plan: Any) -> Any:
    """``family.load(spec, tiny_plan(folder, **plan))``: ``device`` and plan options as keywords."""
    return family.load(spec, tiny_plan(folder, **plan))


def small_params(spec: ModelSpec, small: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A full request for ``spec`` at a test's small size: its defaults, then the entries of
    ``small`` (size, steps, seed, prompt...) that ``spec`` has parameters for, then ``changes``."""
    return {**spec.defaults(), **{k: v for k, v in small.items() if spec.param(k) is not None}, **changes}


def generate(model: Any, params: dict[str, Any], context: GenerationContext | Any = None) -> GenerationResult:
    """Run one request with fully given ``params`` on a loaded model.  ``context`` may be a
    ``wgp_host.testing.Recorder`` (its ``context`` is used) or left out (events dropped, never cancelled)."""
    if context is None:
        context = GenerationContext(job="test", cancel=CancelToken(), emit=lambda *args, **fields: None)
    context = getattr(context, "context", context)
    return model.generate(GenerationRequest(model.spec.id, params), context)


def generator(seed: int) -> Any:
    """The seeded CPU ``torch.Generator`` a direct diffusers call is given (wgp seeds the same way)."""
    import torch

    return torch.Generator("cpu").manual_seed(seed)


def as_arrays(images: Iterable[Any]) -> list[np.ndarray]:
    """PIL images (a pipeline's ``.images``) as uint8 arrays, to compare with wgp's."""
    return [np.asarray(image) for image in images]


def stack_frames(frames: Iterable[Any]) -> np.ndarray:
    """PIL frames (a pipeline's ``.frames[0]``) as one uint8 array [frames, height, width, 3]."""
    return np.stack(as_arrays(frames))


__all__ = ["as_arrays", "generate", "generator", "load_tiny", "small_params", "stack_frames", "tiny_plan"]
