"""Config assembly: the one function that turns layers of settings into a request.

Precedence, lowest first: family defaults < ``--profile`` < ``--settings`` file <
config defaults (``defaults`` then ``model_defaults[MODEL]``) < flags.  The result is
validated against the model's parameter schema and the seed is resolved, so the
request can be replayed exactly.  The request keeps which parameters the user set (``given``:
profile, settings file, flags); the family's ``fit_size`` may then change the others (a size
that follows the start image), so the queued request is final.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import GenerationRequest, ModelFamily, ModelSpec, ParameterError, UserError, resolve_seed

from .inputs import fingerprint, verify_media
from .wangp import MODEL_KEYS, is_wangp_settings, wgp_model_id

#: WanGP settings-file names accepted as aliases of wgp parameter names.
ALIASES = {
    "video_length": "frames",
    "num_inference_steps": "steps",
    "guidance_scale": "guidance",
    "guidance2_scale": "guidance_2",
    "image_start_path": "image_start",
    "image_end_path": "image_end",
}


def parse_set(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set KEY=VALUE`` items; values stay strings and are typed by the schema."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not key.replace("_", "").isalnum():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


@dataclass(frozen=True)
class SettingsFile:
    """What a ``--settings`` file holds: the model it names (if any) and its parameters, aliases applied."""

    model: str | None
    params: dict[str, Any]
    #: Written by WanGP: keys that neither the model nor an adapter takes are ignored with one
    #: warning (WanGP files carry many settings wgp has no use for), not refused.
    wangp: bool = False
    #: Why the file names no usable model (a WanGP model_type wgp does not know); an error only
    #: when no ``-m`` is given either.
    model_error: str | None = None


def load_settings(path: str | Path) -> SettingsFile:
    """Read a settings file: a request (``{"model", "params"}``), a flat parameter object, or a
    WanGP settings export (see :mod:`wgp_host.wangp`)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"settings file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read settings file {p}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"settings file {p} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise UserError(f"settings file {p} must hold a JSON object")
    if "request" in data and isinstance(data["request"], dict):  # a generation record
        data = data["request"]
    if is_wangp_settings(data):
        params = {k: v for k, v in data.items() if k not in MODEL_KEYS}
        try:
            return SettingsFile(wgp_model_id(data, f"settings file {p}"), _apply_aliases(params), wangp=True)
        except UserError as exc:
            return SettingsFile(None, _apply_aliases(params), wangp=True, model_error=str(exc))
    model = data.get("model")
    params = data["params"] if isinstance(data.get("params"), dict) else {
        k: v for k, v in data.items() if k not in ("model", "schema")
    }
    return SettingsFile(str(model) if model else None, _apply_aliases(params))


def _apply_aliases(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "resolution" and isinstance(value, str):
            width, height = parse_resolution(value)
            out["width"], out["height"] = width, height
            continue
        out[ALIASES.get(key, key)] = value
    return out


def parse_resolution(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(width), int(height)
    except ValueError:
        raise UserError(f"resolution must look like WIDTHxHEIGHT, got {text!r}") from None


def _check_known(spec: ModelSpec, params: Mapping[str, Any], where: str) -> None:
    unknown = sorted(k for k in params if spec.param(k) is None)
    if unknown:
        known = ", ".join(p.name for p in spec.params)
        raise UserError(f"model {spec.id} has no parameter {', '.join(unknown)} (from {where}); known: {known}")


def assemble_request(
    family: ModelFamily,
    spec: ModelSpec,
    *,
    profile: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    config_defaults: Mapping[str, Any] | None = None,
    model_defaults: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> tuple[GenerationRequest, list[str]]:
    """Merge the layers, validate them, resolve the seed; returns the request and warnings."""
    merged: dict[str, Any] = spec.defaults()
    layers = (
        ("profile", profile or {}, True),
        ("settings file", settings or {}, True),
        ("config defaults", config_defaults or {}, False),
        (f"config model_defaults[{spec.id}]", model_defaults or {}, True),
        ("flags", {k: v for k, v in (flags or {}).items() if v is not None}, True),
    )
    origin: dict[str, str] = {}
    for where, layer, strict in layers:
        if strict:
            _check_known(spec, layer, where)
        for key, value in layer.items():
            if spec.param(key) is not None:
                merged[key] = value
                origin[key] = where
    # What the user asked for in this request (a profile, a settings file, flags); config defaults
    # are standing defaults, like the family's, which the family may adapt (a size that follows
    # the start image).
    given = frozenset(k for k, where in origin.items() if where in ("profile", "settings file", "flags"))
    clean: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for param in spec.params:
        try:
            value = param.validate(merged.get(param.name))
            if param.is_media and value is not None:
                if param.multiple:
                    value = [media_path(param.name, item, param.type) for item in value]
                    inputs[param.name] = [fingerprint(param.type, path) for path in value]
                else:
                    value = media_path(param.name, value, param.type)
                    inputs[param.name] = fingerprint(param.type, value)
        except ParameterError as exc:
            where = origin.get(param.name, "flags")
            if where == "flags":
                raise
            # A bad value the user did not type on this command line: say where it is set.
            raise ParameterError(exc.param, f"{exc.rule} (from {where})") from None
        clean[param.name] = value
    if spec.param("seed") is not None:
        clean["seed"] = resolve_seed(clean.get("seed"))
    warnings = list(family.check(spec, clean) or []) if family.check else []
    if family.fit_size:
        changes, fit_warnings = family.fit_size(spec, clean, given)
        for name, value in changes.items():
            clean[name] = spec.param(name).validate(value)  # a family's rule is held to the schema too
        warnings += fit_warnings
    return GenerationRequest(model=spec.id, params=clean, given=given, inputs=inputs), warnings


def media_path(name: str, value: str, kind: str = "path") -> str:
    """The absolute path (queued jobs run elsewhere) of the file given for parameter ``name``,
    opened and verified as a ``kind`` (one of :data:`~wgp_hookspecs.MEDIA_TYPES`) by :func:`~wgp_host.inputs.verify_media`."""
    return verify_media(kind, name, value)
