"""Which LTX-Video version a folder holds, read from its configs: one rule for the door and the load.

The versions differ where diffusers' own single-file loader tells them apart
(``infer_diffusers_model_type``), here read from the configs instead of the tensors:
a 13B transformer has 48 layers (the 2B ones 28); the 0.9.5 VAE (also 0.9.7's and
0.9.8's) is built of ``LTXVideo095DownBlock3D`` blocks; 0.9.1's VAE decodes with
timestep conditioning, 0.9.0's without.  Dev and distilled 13B checkpoints, and 0.9.7
and 0.9.8, share one layout: their configs cannot tell them apart, so an explicit id
must.  Torch-free: the door imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers.configs import read_configs

from .specs import LAYOUTS, LTX_MODELS

#: Transformer layers of the 13B checkpoints (``transformer/config.json`` ``num_layers``).
LAYERS_13B = 48
#: The VAE down block that the 0.9.5 VAE introduced.
VAE_095_BLOCK = "LTXVideo095DownBlock3D"


def detect_layout(configs: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The :data:`~wgp_ltx.specs.LAYOUTS` key of configs ``{"transformer": ..., "vae": ...}``, or
    None when they are not both there."""
    transformer, vae = configs.get("transformer"), configs.get("vae")
    if transformer is None or vae is None:
        return None
    if int(transformer.get("num_layers") or 0) == LAYERS_13B:
        return "13b"
    if VAE_095_BLOCK in (vae.get("down_block_types") or ()):
        return "0.9.5"
    return "0.9.1" if vae.get("timestep_conditioning") else "0.9.0"


def spec_for_layout(spec: ModelSpec, layout: str | None, location: str, detect: bool | None = None) -> ModelSpec:
    """``spec`` when the weights' ``layout`` is its own (or unknown); with ``detect`` (default: the
    spec's option, set on ``ltx-video``) the one id of that layout; otherwise :class:`UserError`
    naming the ids that fit.  A loaded model passes ``detect=False``: its defaults are taken."""
    detect = bool(spec.options.get("detect")) if detect is None else detect
    if layout is None or layout == spec.options.get("layout"):
        return spec
    fitting = [s for s in LTX_MODELS if s.options.get("layout") == layout]
    if detect and len(fitting) == 1:
        return fitting[0]
    ids = ", ".join(f"-m {s.id}" for s in fitting)
    if detect:
        raise UserError(f"the weights at {location} are LTX-Video {LAYOUTS[layout]}; their configs do not tell dev "
                        f"from distilled nor 0.9.7 from 0.9.8, which need other defaults: choose with {ids}")
    hint = "" if spec.options.get("detect") else " (or -m ltx-video with --model-path, which reads the version)"
    raise UserError(f"the weights at {location} are LTX-Video {LAYOUTS[layout]}, not {spec.id} "
                    f"({LAYOUTS[spec.options['layout']]}): use {ids}{hint}")


def match_weights(spec: ModelSpec, location: str) -> ModelSpec:
    """``ModelFamily.match_weights``: the LTX id the weights at ``location`` are (see :func:`spec_for_layout`)."""
    configs = read_configs(location, ("transformer", "vae"))
    return spec if configs is None else spec_for_layout(spec, detect_layout(configs), location)


__all__ = ["LAYERS_13B", "VAE_095_BLOCK", "detect_layout", "match_weights", "spec_for_layout"]
