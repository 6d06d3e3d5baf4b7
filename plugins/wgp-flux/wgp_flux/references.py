"""FLUX.2 reference images at the door: how many, and whether diffusers will take each one.

The host has already opened every file (a readable image, not empty, not a video).  What is
left is FLUX.2's own rule: ``Flux2ImageProcessor.check_image_input`` raises mid-job for an
image under 64 px a side or more than 8:1, and Black Forest Labs documents how many references
each model takes (:mod:`wgp_flux.specs_flux2`).  Torch-free: Pillow reads the sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, ParameterError

from wgp_diffusers import image_size

from .specs_flux2 import MAX_REFERENCE_ASPECT, MIN_REFERENCE_SIDE

PARAM = "reference_images"


def reference_paths(params: Mapping[str, Any]) -> list[str]:
    """The request's reference images as a list of paths (one path given alone is a list of one)."""
    value = params.get(PARAM)
    if not value:
        return []
    return [str(value)] if isinstance(value, str) else [str(item) for item in value]


def check_references(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse too many reference images, or one diffusers would refuse, before any weight loads."""
    paths = reference_paths(params)
    limit = int(spec.options.get("max_references", 0))
    if len(paths) > limit:
        raise ParameterError(PARAM, f"{spec.id} takes at most {limit} reference images (given {len(paths)})")
    for path in paths:
        width, height = image_size(path, "--reference-image")
        if min(width, height) < MIN_REFERENCE_SIDE:
            raise ParameterError(PARAM, f"{path} is {width}x{height}; FLUX.2 needs at least "
                                        f"{MIN_REFERENCE_SIDE} px a side (diffusers' Flux2ImageProcessor)")
        if max(width, height) > MAX_REFERENCE_ASPECT * min(width, height):
            raise ParameterError(PARAM, f"{path} is {width}x{height}, more than {MAX_REFERENCE_ASPECT}:1; "
                                        "FLUX.2 refuses such a reference (diffusers' Flux2ImageProcessor)")
    return []
