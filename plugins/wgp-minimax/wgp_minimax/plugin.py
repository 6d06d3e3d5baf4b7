"""Registers the MiniMax-H3 family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports only the spec
table.  ``load`` and ``build_tiny`` import torch and diffusers when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers import define_modular_family, image_size, registration_hook
from wgp_diffusers.levers import REGISTRY_CACHES, UNREGISTERED_BLOCKS, refusing

from .specs import FPS, MAX_ASPECT, MINIMAX_MODELS


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say, before anything is queued or loaded: the aspect ratio is one
    the release was trained on (1:4 to 4:1), the frames are 5 to 15 seconds, and each reference
    image is within 1:4 to 4:1 (``MiniMaxH3Ref2VASetupStep``'s limits; the schema caps their
    number at nine)."""
    width, height = int(params["width"]), int(params["height"])
    if not 1 / MAX_ASPECT <= width / height <= MAX_ASPECT:
        raise UserError(f"{spec.id}: {width}x{height} is outside the aspect ratios MiniMax-H3 generates (1:4 to 4:1)")
    seconds = int(params["frames"]) / FPS
    if not 5.0 <= seconds <= 15.0:
        raise UserError(f"{spec.id}: {params['frames']} frames are {seconds:.2f} s at {FPS} fps; MiniMax-H3 makes 5 to 15 s")
    references = params.get("reference_images") or []
    if isinstance(references, str):
        references = [references]
    for path in references:
        w, h = image_size(path, "--reference-image")
        if not 1 / MAX_ASPECT <= w / h <= MAX_ASPECT:
            raise UserError(f"--reference-image {path}: {w}x{h} is outside 1:4 to 4:1, which MiniMax-H3 refuses")
    return []


MINIMAX_FAMILY = define_modular_family(
    "minimax", "wgp_minimax", MINIMAX_MODELS, check=check,
    description="MiniMax-H3 video with stereo audio: text, first/last frame or reference images to video (diffusers Modular)",
    # diffusers 0.42's block registry has no MiniMax-H3 block: these would fail at load ("not registered").
    refused_caches=refusing(REGISTRY_CACHES, UNREGISTERED_BLOCKS),
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = MINIMAX_FAMILY.load, MINIMAX_FAMILY.build_tiny
register_model_families = registration_hook(MINIMAX_FAMILY)
