"""Registers the Flux family (FLUX.1 and FLUX.2) with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free layout rule.  ``load`` and ``build_tiny`` import torch and diffusers
when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import define_family, image_size, registration_hook

from .layout import match_weights
from .references import check_references
from .specs import FLUX_MODELS


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse a Kontext reference image that Pillow cannot read, or FLUX.2 reference images the
    pipeline would refuse (:func:`~wgp_flux.references.check_references`), before any weight is loaded.

    The schema already requires Kontext's image (and has none for the FLUX.1
    text-to-image models); the output size is ``width`` x ``height`` whatever
    the reference's shape, so nothing is stretched and there is no warning.
    """
    if params.get("image_start"):
        image_size(params["image_start"], "--image-start")
    if spec.param("reference_images") is not None:
        return check_references(spec, params)
    return []


FLUX_FAMILY = define_family(
    "flux", "wgp_flux", FLUX_MODELS, check,
    "FLUX.1 dev / schnell text-to-image and Kontext image editing; FLUX.2 dev / klein text-to-image and "
    "multi-reference editing (diffusers)",
    match_weights=match_weights,
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = FLUX_FAMILY.load, FLUX_FAMILY.build_tiny
register_model_families = registration_hook(FLUX_FAMILY)
