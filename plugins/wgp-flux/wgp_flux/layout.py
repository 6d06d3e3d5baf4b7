"""Which Flux model a weights folder is, from its configs: one rule for the door and the load.

dev and Kontext have the same transformer (both embed the distilled guidance scale), so
the transformer config alone cannot tell Kontext weights from dev weights; the folder's
``model_index.json`` can: it names the pipeline the checkpoint was saved from, which is
``FluxKontextPipeline`` for FLUX.1-Kontext-dev (the Hub tags the repo with it) and
``FluxPipeline`` for FLUX.1-dev and -schnell.  schnell differs from both in having no
guidance embedding.  FLUX.2 checkpoints name ``Flux2Pipeline`` ([dev]) or
``Flux2KleinPipeline`` ([klein], whose ``is_distilled`` tells the 4-step models from the
Base ones), and their transformer is a ``Flux2Transformer2DModel``.  Klein 4B and 9B differ
only in size, which this rule does not read.  Torch-free: the door imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers.configs import check_fits, match_configs

from .specs import FLUX_MODELS

#: The pipeline class each ``options["pipeline"]`` kind's checkpoints are saved from.
SAVED_PIPELINES = {"text": "FluxPipeline", "kontext": "FluxKontextPipeline",
                   "flux2": "Flux2Pipeline", "klein": "Flux2KleinPipeline"}
#: The transformer class of each kind (FLUX.2 is a new architecture, not FLUX.1 retrained).
TRANSFORMERS = {"text": "FluxTransformer2DModel", "kontext": "FluxTransformer2DModel",
                "flux2": "Flux2Transformer2DModel", "klein": "Flux2Transformer2DModel"}
_SAVED_AS = ("FLUX.1 Kontext as FluxKontextPipeline, FLUX.1 dev and schnell as FluxPipeline, "
             "FLUX.2 [dev] as Flux2Pipeline, FLUX.2 [klein] as Flux2KleinPipeline")


def _fits(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What in ``configs`` says the weights are not ``spec``'s (empty: nothing does)."""
    problems = []
    kind = spec.options["pipeline"]
    transformer = configs.get("transformer")
    transformer_class = (transformer or {}).get("_class_name")
    if transformer_class in TRANSFORMERS.values() and transformer_class != TRANSFORMERS[kind]:
        problems.append(f"the transformer is a {transformer_class}, and {spec.id} has a {TRANSFORMERS[kind]}")
    elif transformer is not None and bool(transformer.get("guidance_embeds")) != bool(spec.options.get("guidance_embeds")):
        have = "has no" if spec.options.get("guidance_embeds") else "has a"
        problems.append(f"the transformer {have} guidance embedding (FLUX.1-dev, Kontext and FLUX.2 [dev] have one, "
                        "FLUX.1-schnell and FLUX.2 [klein] do not)")
    model_index = configs.get("model_index") or {}
    saved = model_index.get("_class_name")
    expected = SAVED_PIPELINES[kind]
    if saved in SAVED_PIPELINES.values() and saved != expected:
        problems.append(f"model_index.json names {saved}, and {spec.id} checkpoints are saved as {expected} ({_SAVED_AS})")
    elif saved == expected == "Flux2KleinPipeline" and bool(model_index.get("is_distilled")) != bool(spec.options.get("distilled")):
        what = "step-distilled [klein]" if model_index.get("is_distilled") else "undistilled [klein] Base"
        problems.append(f"model_index.json says is_distilled={bool(model_index.get('is_distilled'))} (a {what} checkpoint)")
    return problems


def check_configs(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]], location: str) -> None:
    """Raise :class:`UserError` when ``configs`` are not ``spec``'s, naming the id they fit."""
    check_fits(spec, configs, location, FLUX_MODELS, _fits)


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: ``spec``, or :class:`UserError` for weights of another Flux model."""
    return match_configs(spec, location, FLUX_MODELS, _fits)


__all__ = ["SAVED_PIPELINES", "TRANSFORMERS", "check_configs", "match_weights"]
