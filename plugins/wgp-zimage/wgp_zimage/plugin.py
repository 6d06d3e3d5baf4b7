"""Registers the Z-Image family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports only the spec
table.  ``load`` and ``build_tiny`` import torch and diffusers when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers import define_family, registration_hook
from wgp_diffusers.levers import CACHES, refusing

from .specs import ZIMAGE_MODELS


def strength_steps(steps: int, strength: float) -> int:
    """The denoising steps an image-to-image call runs: diffusers' ``get_timesteps`` skips the
    first ``int(steps - steps * strength)`` steps of the schedule (torch-free, for the door too)."""
    return steps - int(max(steps - min(steps * strength, steps), 0))


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse a ``strength`` that leaves no denoising step, before any weight is loaded.

    The host has already verified ``--image-start`` (a readable image) and the schema the
    ranges; diffusers would raise only after loading.  Without a start image ``strength`` is unused.
    """
    if params.get("image_start"):
        steps, strength = int(params["steps"]), float(params["strength"])
        if strength_steps(steps, strength) < 1:
            raise UserError(f"strength {strength:g} with {steps} steps leaves no denoising step; raise strength")
    return []


ZIMAGE_FAMILY = define_family(
    "zimage", "wgp_zimage", ZIMAGE_MODELS, check,
    "Z-Image (Tongyi-MAI) Turbo and base text-to-image and image-to-image (diffusers)",
    # So no ``fast`` profile either (it is a step cache).
    refused_caches=refusing(tuple(CACHES), "diffusers 0.42's ZImageTransformer2DModel takes no step cache (it has no enable_cache)"),
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = ZIMAGE_FAMILY.load, ZIMAGE_FAMILY.build_tiny
register_model_families = registration_hook(ZIMAGE_FAMILY)
