"""Registers the Qwen-Image family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports only the spec
table and the torch-free layout rule.  ``load`` and ``build_tiny`` import torch and diffusers
when they are first called.  The host opens and verifies every image at the door (and the
schema bounds how many reference images a model takes); what is left here is what the host
cannot know: how the Edit models' output is sized.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import define_family, image_size, registration_hook

from .layout import match_weights
from .specs import QWEN_MODELS, REFERENCE_FLAG

#: The area the Edit pipelines size their output to when no size is given (1024x1024's).
EDIT_AREA = 1024 * 1024


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Nothing to refuse before loading: the host checks the images, and the Edit models' prompt
    encoder (Qwen2VLProcessor) loads with or without torchvision (``wgp_diffusers.processors``)."""
    return []


def edit_size(image: tuple[int, int], area: int = EDIT_AREA) -> tuple[int, int]:
    """The Edit pipelines' own output size for an image of (width, height): its aspect ratio at
    ``area`` pixels, each side rounded to a multiple of 32 (``calculate_dimensions`` in diffusers'
    ``pipeline_qwenimage_edit*.py``), then floored to 16 as the pipeline does."""
    ratio = image[0] / image[1]
    width = math.sqrt(area * ratio)
    height = width / ratio
    width, height = round(width / 32) * 32, round(height / 32) * 32
    return max(16, width // 16 * 16), max(16, height // 16 * 16)


def fit_size(spec: ModelSpec, params: Mapping[str, Any], given: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """Size an Edit request from its image at the door, as the pipeline would without a size:
    ``image_start``'s, or the last of ``reference_images`` (diffusers sizes from ``image[-1]``).
    With one side given, the other follows that image's aspect ratio; with both, they are kept.
    Nothing is cropped (the pipeline encodes each image at its own aspect ratio): no warnings."""
    name = spec.options.get("image")
    value = params.get(name) if name else None
    if not value:
        return {}, []
    path = value[-1] if isinstance(value, (list, tuple)) else value
    source = image_size(path, REFERENCE_FLAG if isinstance(value, (list, tuple)) else "--image-start")
    width, height = int(params["width"]), int(params["height"])
    if "width" not in given and "height" not in given:
        width, height = edit_size(source)
    elif "height" not in given:
        height = max(16, round(width * source[1] / source[0] / 16) * 16)
    elif "width" not in given:
        width = max(16, round(height * source[0] / source[1] / 16) * 16)
    changes = {k: v for k, v in (("width", width), ("height", height)) if v != params[k]}
    return changes, []


QWEN_FAMILY = dataclasses.replace(
    define_family(
        "qwen", "wgp_qwen", QWEN_MODELS, check,
        "Qwen-Image text-to-image and Qwen-Image-Edit with one or several reference images (diffusers)",
        match_weights=match_weights,
    ),
    fit_size=fit_size,
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = QWEN_FAMILY.load, QWEN_FAMILY.build_tiny
register_model_families = registration_hook(QWEN_FAMILY)
