"""WanGP settings files: which wgp model a WanGP ``model_type`` is, and how its keys are read.

WanGP (github.com/deepbeepmeep/Wan2GP) exports its generation settings as a flat JSON
object (docs/SETTINGS.md there): ``model_type`` (its model definition id), ``base_model_type``
(the architecture a finetune builds on), ``settings_version``, and the settings themselves
(``prompt``, ``resolution`` as ``WIDTHxHEIGHT``, ``video_length``, ``num_inference_steps``,
``guidance_scale``, ``flow_shift``, ``seed``, ``activated_loras``, ``loras_multipliers``, ...).
Its saved queues (``queue.zip``, read by :mod:`wgp_host.wangp_queue`) hold the same settings
per task.  The setting names wgp shares go through :data:`wgp_host.assembly.ALIASES`; LoRA keys
go to the adapter that claims them (``Adapter.settings_keys``); this module only knows the models.

Torch-free and cheap: it is data and a lookup.
"""

from __future__ import annotations

from typing import Any, Mapping

from wgp_hookspecs import UserError

#: WanGP model definition ids (``model_type`` / ``base_model_type``) -> wgp model ids.  This
#: table is the one place the correspondence lives.  Sources, in the Wan2GP repository: the
#: ``defaults/<model_type>.json`` file names (``t2v``, ``t2v_1.3B``, ``i2v``, ``t2v_2_2``,
#: ``i2v_2_2``, ``ti2v_2_2``, ``flux``), the model-type lists of its ``wgp.py`` (``i2v_720p``,
#: ``flf2v_720p``, ``ltxv_13B``, ``ltxv_13B_distilled``, the latter two LTX-Video 0.9.7 13B dev
#: and distilled) and its Flux model list (``flux_schnell``, ``flux_dev_kontext``).
MODEL_TYPES: Mapping[str, str] = {
    "t2v_1.3B": "wan2.1-t2v-1.3b",
    "t2v": "wan2.1-t2v-14b",
    "i2v": "wan2.1-i2v-14b-480p",
    "i2v_720p": "wan2.1-i2v-14b-720p",
    "flf2v_720p": "wan2.1-flf2v-14b",
    "t2v_2_2": "wan2.2-t2v-a14b",
    "i2v_2_2": "wan2.2-i2v-a14b",
    "ti2v_2_2": "wan2.2-ti2v-5b",
    "ltxv_13B": "ltx-video-0.9.7-dev",
    "ltxv_13B_distilled": "ltx-video-0.9.7-distilled",
    "flux": "flux.1-dev",
    "flux_schnell": "flux.1-schnell",
    "flux_dev_kontext": "flux.1-kontext-dev",
}

#: Keys that say which WanGP model (and settings schema) a file is for; any of them marks a WanGP file.
MODEL_KEYS = ("model_type", "base_model_type", "settings_version")


def is_wangp_settings(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a WanGP settings object rather than a wgp one (``model``/``params``)."""
    return "model" not in data and "params" not in data and any(key in data for key in MODEL_KEYS)


def wgp_model_id(data: Mapping[str, Any], where: str) -> str:
    """The wgp model of a WanGP settings object: its ``model_type``, else (a finetune, whose
    ``model_type`` is its own name) its ``base_model_type``; a :class:`UserError` listing the
    known WanGP model types when neither maps."""
    asked = [str(data[key]) for key in ("model_type", "base_model_type") if data.get(key)]
    for name in asked:
        if name in MODEL_TYPES:
            return MODEL_TYPES[name]
    what = f"WanGP model_type {' / '.join(repr(a) for a in asked)} has" if asked else "no WanGP model_type, so"
    raise UserError(f"{where}: {what} no wgp model; known WanGP model types: {', '.join(MODEL_TYPES)} "
                    "(or give -m MODEL)")
