"""Registers the HunyuanVideo 1.5 family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports only the spec
table.  ``load`` and ``build_tiny`` import torch and diffusers when they are first called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers import define_family, image_size, registration_hook
from wgp_diffusers.configs import read_configs

from .specs import HUNYUAN_MODELS


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Refuse a start image Pillow cannot read, before any weight is loaded (the schema already
    requires one on the image-to-video models and has none on the text-to-video ones)."""
    if params.get("image_start"):
        image_size(params["image_start"], "--image-start")
    return []


#: The pipeline each task's checkpoints are saved from (``_class_name`` in model_index.json; the
#: conversion script saves i2v transformers as HunyuanVideo15ImageToVideoPipeline, t2v ones as HunyuanVideo15Pipeline).
SAVED_PIPELINES = {"t2v": "HunyuanVideo15Pipeline", "i2v": "HunyuanVideo15ImageToVideoPipeline"}


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: ``spec``, or :class:`UserError` for a checkpoint of the other
    task (text-to-video weights given to an image-to-video id, or the reverse), naming the id that fits.
    Reads only ``model_index.json``; also run when the weights are loaded."""
    saved = ((read_configs(location) or {}).get("model_index") or {}).get("_class_name")
    if saved not in SAVED_PIPELINES.values() or saved == SAVED_PIPELINES[spec.options["pipeline"]]:
        return spec
    fitting = [s.id for s in HUNYUAN_MODELS if SAVED_PIPELINES[s.options["pipeline"]] == saved
               and s.options["resolution"] == spec.options["resolution"]]
    raise UserError(f"weights at {location} do not match {spec.id}: model_index.json names {saved}, and {spec.id} "
                    f"checkpoints are saved as {SAVED_PIPELINES[spec.options['pipeline']]}; use -m {fitting[0]}")


HUNYUAN_FAMILY = define_family(
    "hunyuan", "wgp_hunyuan", HUNYUAN_MODELS, check, "HunyuanVideo 1.5 text-to-video and image-to-video, 480p and 720p (diffusers)",
    match_weights=match_weights,
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``, imported (with torch) on first use.
load, build_tiny = HUNYUAN_FAMILY.load, HUNYUAN_FAMILY.build_tiny
register_model_families = registration_hook(HUNYUAN_FAMILY)
