"""Config assembly: the one function that turns layers of settings into a request.

Precedence, lowest first: family defaults < ``--profile`` < ``--settings`` file <
config defaults (``defaults`` then ``model_defaults[MODEL]``) < flags.  The result is
validated against the model's parameter schema and the seed is resolved, so the
request can be replayed exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import GenerationRequest, ModelFamily, ModelSpec, ParameterError, UserError, resolve_seed

MEDIA_TYPES = ("image", "video", "path")

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


def load_settings(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """Read a settings file: a request (``{"model", "params"}``) or a flat parameter object."""
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
    model = data.get("model")
    params = data["params"] if isinstance(data.get("params"), dict) else {
        k: v for k, v in data.items() if k not in ("model", "schema")
    }
    return (str(model) if model else None), _apply_aliases(params)


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
    for where, layer, strict in layers:
        if strict:
            _check_known(spec, layer, where)
        for key, value in layer.items():
            if spec.param(key) is not None:
                merged[key] = value
    clean: dict[str, Any] = {}
    for param in spec.params:
        value = param.validate(merged.get(param.name))
        if param.type in MEDIA_TYPES and value is not None:
            value = media_path(param.name, value)
        clean[param.name] = value
    if spec.param("seed") is not None:
        clean["seed"] = resolve_seed(clean.get("seed"))
    warnings = list(family.check(spec, clean) or []) if family.check else []
    return GenerationRequest(model=spec.id, params=clean), warnings


def media_path(name: str, value: str) -> str:
    """The absolute path of an existing file given for parameter ``name`` (queued jobs run elsewhere)."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ParameterError(name, f"file not found: {value}")
    return str(path.resolve())
