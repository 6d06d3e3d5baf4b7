"""Test helpers for diffusers families (their own tests, and third-party ones).

:func:`tiny_plan` is the :class:`~wgp_hookspecs.LoadPlan` a test loads a tiny
model with (CPU, the given plan options); :func:`load_tiny` and :func:`generate`
run a family the way the host does, without the host.  Together with the host's
``wgp_tiny_model`` fixture and ``wgp_host.testing.Recorder`` they are what a
family test needs to compare wgp's output with a direct diffusers call.
"""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, LoadPlan, ModelFamily, ModelSpec

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


def generate(model: Any, params: dict[str, Any], context: GenerationContext) -> GenerationResult:
    """Run one request with fully given ``params`` on a loaded model."""
    return model.generate(GenerationRequest(model.spec.id, params), context)


__all__ = ["generate", "load_tiny", "tiny_plan"]
