"""Registers the LTX-Video family (``ltx``) and the LTX-2 family (``ltx2``) with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free version detection.  ``load`` and ``build_tiny`` import torch and diffusers
when they are first called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wgp_hookspecs import ModelFamily, ModelSpec, hookimpl

from wgp_diffusers import define_family, define_modular_family, image_size
from wgp_diffusers.levers import REGISTRY_CACHES, UNREGISTERED_BLOCKS, refusing

from .ltx2 import checks as ltx2_checks
from .ltx2.specs import LTX2_MODELS
from .ltx25.specs import LTX25_MODELS
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
#: LTX-2 and LTX-2.3: video with its sound (``wgp_ltx.ltx2.pipeline:load``, ``wgp_ltx.ltx2.tiny:build_tiny``).
LTX2_FAMILY = define_family(
    "ltx2", "wgp_ltx.ltx2", LTX2_MODELS, ltx2_checks.check,
    "LTX-2 and LTX-2.3 video with sound: text, image or conditioning video to video (diffusers)",
    match_weights=ltx2_checks.match_weights,
    refused_caches=ltx2_checks.REFUSED_CACHES,
)
#: LTX-2.5 on diffusers' Modular pipeline (``wgp_ltx.ltx25.pipeline:load``, ``wgp_ltx.ltx25.tiny:build_tiny``).
LTX25_FAMILY = define_modular_family(
    "ltx25", "wgp_ltx.ltx25", LTX25_MODELS, description="LTX-2.5 video with sound, text or image to video (diffusers Modular)",
    # The LTX-2 transformer, so no First Block Cache; PAB runs here (the guider's passes share a batch size).
    refused_caches=refusing(REGISTRY_CACHES, UNREGISTERED_BLOCKS),
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = LTX_FAMILY.load, LTX_FAMILY.build_tiny


@hookimpl
def register_model_families(register: Callable[[ModelFamily], None]) -> None:
    register(LTX_FAMILY)
    register(LTX2_FAMILY)
    register(LTX25_FAMILY)
