"""Registers the LTX-Video family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free version detection.  ``load`` and ``build_tiny`` import torch and diffusers
when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import define_family, image_size, registration_hook

from .specs import LTX_MODELS
from .versions import match_weights


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse an unreadable start image (the size it gives the video, and its crop, are the
    specs' ``size_rule``)."""
    if params.get("image_start"):
        image_size(params["image_start"], "--image-start")
    return []


LTX_FAMILY = define_family(
    "ltx", "wgp_ltx", LTX_MODELS, check, "LTX-Video 0.9.0 to 0.9.8 text- and image-to-video (diffusers)",
    match_weights=match_weights,
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = LTX_FAMILY.load, LTX_FAMILY.build_tiny
register_model_families = registration_hook(LTX_FAMILY)
