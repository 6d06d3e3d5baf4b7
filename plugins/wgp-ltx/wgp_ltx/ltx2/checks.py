"""The ``ltx2`` family's door: which version a folder holds, and request checks.  Torch-free.

LTX-2.3's text connectors project the Gemma features per modality
(``connectors/config.json`` ``per_modality_projections: true``), LTX-2.0's do not: one
rule for the door (:func:`match_weights`) and the load (:func:`check_layout`).  Dev and
distilled checkpoints share their configs, so an explicit id tells them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, ParameterError, UserError

from wgp_diffusers.configs import pipeline_configs, read_configs
from wgp_diffusers.levers import REGISTRY_CACHES, UNREGISTERED_BLOCKS, refusing

from .specs import LTX2_MODELS, VERSIONS

#: The step caches LTX2VideoTransformer3DModel cannot take in diffusers 0.42: those that need its
#: block (LTX2VideoTransformerBlock) in diffusers' block registry, and Pyramid Attention Broadcast,
#: which reuses an attention output across the guidance passes of a step: with STG or modality
#: guidance (LTX-2.3's defaults, or --stg-scale on LTX-2) beside CFG those differ in batch size, a
#: RuntimeError mid-job (LTX-2.5's modular guider runs them apart: PAB runs there).
REFUSED_CACHES = {
    **refusing(REGISTRY_CACHES, UNREGISTERED_BLOCKS),
    **refusing(("pab",), "diffusers' Pyramid Attention Broadcast fails mid-job on its guidance passes (STG, modality guidance)"),
}


def detect_version(configs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """``"2.3"`` or ``"2.0"`` from configs ``{"connectors": ...}``; None when they are not there."""
    connectors = configs.get("connectors")
    if connectors is None:
        return None
    return "2.3" if connectors.get("per_modality_projections") else "2.0"


def refuse_other_version(spec: ModelSpec, version: str | None, location: str) -> None:
    """:class:`UserError` naming the ids that fit when the weights are another version than ``spec``'s."""
    if version is None or version == spec.options.get("version"):
        return
    ids = ", ".join(f"-m {s.id}" for s in LTX2_MODELS if s.options.get("version") == version)
    raise UserError(f"the weights at {location} are {VERSIONS[version]}, not {spec.id} "
                    f"({VERSIONS[spec.options['version']]}): use {ids}")


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: ``spec`` when the weights at ``location`` are its version."""
    configs = read_configs(location, ("connectors",))
    if configs is not None:
        refuse_other_version(spec, detect_version(configs), location)
    return spec


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """The same rule on loaded weights (a repo fetched on load, a worker's own ``model_paths``)."""
    refuse_other_version(spec, detect_version(pipeline_configs(pipe, ("connectors",))), location)


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """A conditioning video must start inside the video: the pipeline would skip it silently."""
    if params.get("condition_video"):
        latent_frames = (int(params.get("frames") or spec.defaults()["frames"]) - 1) // 8 + 1
        index = int(params.get("condition_index") or 0)
        if index >= latent_frames:
            raise ParameterError("condition_index", f"must be below {latent_frames}, the video's latent frames "
                                 f"(8 frames each) (got {index})")
    return []


__all__ = ["check", "check_layout", "detect_version", "match_weights"]
