"""Which FLUX.1 model a weights folder is, from its configs: one rule for the door and the load.

dev and Kontext have the same transformer (both embed the distilled guidance scale), so
the transformer config alone cannot tell Kontext weights from dev weights; the folder's
``model_index.json`` can: it names the pipeline the checkpoint was saved from, which is
``FluxKontextPipeline`` for FLUX.1-Kontext-dev (the Hub tags the repo with it) and
``FluxPipeline`` for FLUX.1-dev and -schnell.  schnell differs from both in having no
guidance embedding.  Torch-free: the door imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers.configs import read_configs

from .specs import FLUX_MODELS

#: The pipeline class each ``options["pipeline"]`` kind's checkpoints are saved from.
SAVED_PIPELINES = {"text": "FluxPipeline", "kontext": "FluxKontextPipeline"}


def _fits(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What in ``configs`` says the weights are not ``spec``'s (empty: nothing does)."""
    problems = []
    transformer = configs.get("transformer")
    if transformer is not None and bool(transformer.get("guidance_embeds")) != bool(spec.options.get("guidance_embeds")):
        have = "has no" if spec.options.get("guidance_embeds") else "has"
        problems.append(f"the transformer {have} a guidance embedding (FLUX.1-dev and Kontext have one, FLUX.1-schnell does not)")
    saved = (configs.get("model_index") or {}).get("_class_name")
    expected = SAVED_PIPELINES[spec.options["pipeline"]]
    if saved in SAVED_PIPELINES.values() and saved != expected:
        problems.append(f"model_index.json names {saved}, and {spec.id} checkpoints are saved as {expected} "
                        f"(FLUX.1 Kontext as FluxKontextPipeline, dev and schnell as FluxPipeline)")
    return problems


def check_configs(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]], location: str) -> None:
    """Raise :class:`UserError` when ``configs`` are not ``spec``'s, naming the id they fit."""
    problems = _fits(spec, configs)
    if not problems:
        return
    fitting = [s.id for s in FLUX_MODELS if s.id != spec.id and not _fits(s, configs)]
    hint = f"; use -m {' or -m '.join(fitting)}" if fitting else ""
    raise UserError(f"weights at {location} do not match {spec.id}: {'; '.join(problems)}{hint}")


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: ``spec``, or :class:`UserError` for weights of another FLUX.1 model."""
    configs = read_configs(location, ("transformer",))
    if configs is not None:
        check_configs(spec, configs, location)
    return spec


__all__ = ["SAVED_PIPELINES", "check_configs", "match_weights"]
