"""Registers the LTX-Video family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table.  ``load`` and ``build_tiny`` import torch and diffusers
when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import aspect_warning, define_family, image_size, registration_hook

from .specs import LTX_MODELS


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse an unreadable start image; warn when it will be stretched to width x height."""
    start = params.get("image_start")
    if not start:
        return []
    warning = aspect_warning("--image-start", image_size(start, "--image-start"), params)
    return [warning] if warning else []


LTX_FAMILY = define_family("ltx", "wgp_ltx", LTX_MODELS, check, "LTX-Video text- and image-to-video (diffusers)")
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = LTX_FAMILY.load, LTX_FAMILY.build_tiny
register_model_families = registration_hook(LTX_FAMILY)
