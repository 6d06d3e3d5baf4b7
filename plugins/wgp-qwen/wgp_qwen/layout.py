"""Which Qwen-Image model a weights folder is, from its configs: one rule for the door and the load.

A folder's ``model_index.json`` names the pipeline its checkpoint was saved from
(``QwenImagePipeline`` for Qwen-Image and -2512, ``QwenImageEditPipeline`` for Qwen-Image-Edit,
``QwenImageEditPlusPipeline`` for Edit-2509 and -2511); Edit-2511's transformer config sets
``zero_cond_t`` (its reference images are modulated at t=0), 2509's does not.  Qwen-Image and
-2512 have the same layout and are not told apart.  Torch-free: the door imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers.configs import check_fits, match_configs

from .specs import QWEN_MODELS

#: The pipeline class each ``options["pipeline"]`` kind's checkpoints are saved from.
SAVED_PIPELINES = {"text": "QwenImagePipeline", "edit": "QwenImageEditPipeline", "edit_plus": "QwenImageEditPlusPipeline"}


def _fits(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What in ``configs`` says the weights are not ``spec``'s (empty: nothing does)."""
    problems = []
    saved = (configs.get("model_index") or {}).get("_class_name")
    expected = SAVED_PIPELINES[spec.options["pipeline"]]
    if saved in SAVED_PIPELINES.values() and saved != expected:
        problems.append(f"model_index.json names {saved}, and {spec.id} checkpoints are saved as {expected}")
    transformer = configs.get("transformer")
    if transformer is not None and "zero_cond_t" in spec.options:
        if bool(transformer.get("zero_cond_t")) != bool(spec.options["zero_cond_t"]):
            have = "does not set" if spec.options["zero_cond_t"] else "sets"
            problems.append(f"the transformer {have} zero_cond_t (Edit-2511's does, Edit-2509's does not)")
    return problems


def check_configs(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]], location: str) -> None:
    """Raise :class:`UserError` when ``configs`` are not ``spec``'s, naming the ids they fit."""
    check_fits(spec, configs, location, QWEN_MODELS, _fits)


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: ``spec``, or :class:`UserError` for weights of another Qwen-Image model."""
    return match_configs(spec, location, QWEN_MODELS, _fits)


__all__ = ["SAVED_PIPELINES", "check_configs", "match_weights"]
