"""Runtime bootstrap: find and load the config, apply ``WGP_*`` overrides,
migrate legacy WanGP keys, normalise and create directories.

Precedence of config values: defaults (in code, :func:`_default_config`) <
file < environment (``WGP_<KEY>``) < explicit overrides (CLI flags).  The file
holds only what the user set: wgp never writes defaults into it, so a release
that changes a default changes it for everyone who did not choose otherwise.
``WGP_HOME`` relocates every directory wgp uses, so a test or a deployment is
isolated by one variable.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import UserError

from .atomic import atomic_write_text
from .commands import default_cache_dir

CONFIG_NAME = "wgp_config.json"

#: Keys whose values are directories (normalised to absolute paths and created).
DIR_KEYS = ("output_dir", "image_output_dir", "state_dir", "loras_root", "models_dir", "cache_dir", "profiles_dir")

#: Legacy WanGP keys -> (new key, value converter).
_METADATA_TYPES = {"metadata": "embedded", "embedded": "embedded", "json": "json", "none": "none"}
LEGACY_KEYS: dict[str, tuple[str, Any]] = {
    "save_path": ("output_dir", None),
    "image_save_path": ("image_output_dir", None),
    "metadata_type": ("metadata_mode", lambda v: _METADATA_TYPES.get(str(v).lower(), "embedded")),
    "loras_root": ("loras_root", None),
    "checkpoints_paths": ("model_search_paths", lambda v: [v] if isinstance(v, str) else list(v)),
}


def _default_config(home: Path | None) -> dict[str, Any]:
    """Every config key with its default; the one place defaults live (never copied to the file)."""
    if home is not None:
        data, state = home, home / "state"
    else:
        import platformdirs

        data = Path(platformdirs.user_data_dir("wgp", appauthor=False))
        state = Path(platformdirs.user_state_dir("wgp", appauthor=False))
    return {
        "output_dir": str(data / "outputs"),
        "image_output_dir": None,
        "state_dir": str(state),
        "loras_root": str(data / "loras"),
        "models_dir": str(data / "models"),
        "cache_dir": str(default_cache_dir()),
        "profiles_dir": str(data / "profiles"),
        "model_paths": {},
        "model_search_paths": [],
        "writers": ["video", "image", "audio", "mattes"],
        "metadata_mode": "embedded",
        "progress": "auto",
        "progress_sinks": [],
        "filename_template": "{date}_{time}_seed{seed}_{prompt:40}",
        "defaults": {},
        "model_defaults": {},
        "video_codec": "h264",
        "crf": None,
        "audio_format": "wav",
        "alpha_codec": "ffv1",
        "alpha_video_codec": "prores",
        "matte_outputs": ["alpha", "rgba", "rgba_video"],
        "manifest_path": None,
        "queue_backend": "sqlite",
        "max_retries": 1,
        "control_port": 0,
        "device": "auto",
    }


@dataclass
class Runtime:
    """The resolved configuration and where it came from.

    ``sources`` names, for every key of ``config``, the layer its value came
    from: ``default``, ``file``, ``env:WGP_<KEY>`` or ``flag``.
    """

    config: dict[str, Any]
    config_path: Path
    home: Path | None
    migrated: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.config[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.config.get(key)
        return default if value is None else value

    @property
    def output_dir(self) -> Path:
        return Path(self.config["output_dir"])

    @property
    def state_dir(self) -> Path:
        return Path(self.config["state_dir"])


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the config lives: ``--config`` > ``WGP_CONFIG`` > ``WGP_HOME`` > user config dir."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if os.environ.get("WGP_CONFIG"):
        return Path(os.environ["WGP_CONFIG"]).expanduser().resolve()
    home = _home()
    if home is not None:
        return home / CONFIG_NAME
    import platformdirs

    return Path(platformdirs.user_config_dir("wgp", appauthor=False)) / CONFIG_NAME


def _home() -> Path | None:
    raw = os.environ.get("WGP_HOME")
    return Path(raw).expanduser().resolve() if raw else None


def migrate_legacy(config: dict[str, Any]) -> list[str]:
    """Rename legacy WanGP keys in place; returns one note per change."""
    notes = []
    for old, (new, convert) in LEGACY_KEYS.items():
        if old not in config:
            continue
        value = config[old]
        converted = convert(value) if convert else value
        if old == new:
            if converted != value:
                config[new] = converted
                notes.append(f"{old}: {value!r} -> {converted!r}")
            continue
        del config[old]
        if new in config:
            notes.append(f"{old} dropped ({new} is already set)")
        else:
            config[new] = converted
            notes.append(f"{old} -> {new}")
    return notes


def _env_value(raw: str, default: Any) -> Any:
    """Parse a ``WGP_*`` value according to the type of the key's default."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, (list, dict)):
        text = raw.strip()
        if text.startswith(("[", "{")):
            return json.loads(text)
        if isinstance(default, list):
            return [item.strip() for item in text.split(",") if item.strip()]
        raise ValueError("expected a JSON object")
    return raw


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"config {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise UserError(f"config {path} must hold a JSON object")
    return data


def initialize_runtime(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    write: bool = True,
) -> Runtime:
    """Load and normalise the configuration and, with ``write``, create its directories.

    A missing config file stays missing: defaults come from code on every start.
    When the file holds legacy keys they are migrated and, with ``write``, the
    file is rewritten with the user's own (migrated) keys only, the original kept
    as ``.bak``, and a note lists what changed.  A file an older wgp seeded with
    every default still works: those values just equal today's defaults.
    """
    home = _home()
    path = config_path(config_file)
    defaults = _default_config(home)
    stored = _read_config(path)
    migrated = migrate_legacy(stored)
    config = dict(defaults)
    sources = {key: "default" for key in config}
    for key, value in stored.items():
        config[key] = value
        sources[key] = "file"
    for key, default in defaults.items():
        raw = os.environ.get("WGP_" + key.upper())
        if raw is None:
            continue
        try:
            config[key] = _env_value(raw, default)
        except (ValueError, json.JSONDecodeError):
            raise UserError(f"environment variable WGP_{key.upper()} has a bad value: {raw!r}") from None
        sources[key] = "env:WGP_" + key.upper()
    for key, value in (overrides or {}).items():
        if value is not None:
            config[key] = value
            sources[key] = "flag"
    _validate(config)
    for key in DIR_KEYS:
        if config.get(key):
            config[key] = str(Path(str(config[key])).expanduser().resolve())
    if write:
        _materialise(path, stored, migrated, config)
    runtime = Runtime(config=config, config_path=path, home=home, migrated=migrated, sources=sources)
    if migrated:
        # Without ``write`` the file is untouched, so the note must not claim otherwise.
        done = "migrated" if write else "read (the file is rewritten on the next run)"
        print(f"wgp: note: {done} legacy config keys in {path}: " + "; ".join(migrated), file=sys.stderr)
    global _RUNTIME
    _RUNTIME = runtime
    return runtime


def _validate(config: dict[str, Any]) -> None:
    # metadata_mode is checked where a job is built (wgp_host.submit), the one place that
    # sees the flag, the config and what a plugin passes alike.
    if not isinstance(config.get("writers"), list):
        raise UserError("config key 'writers' must be a list of writer names")
    for key in ("defaults", "model_defaults", "model_paths"):
        if not isinstance(config.get(key), dict):
            raise UserError(f"config key {key!r} must be a JSON object")
    for key in ("queue_options", "lora_dirs"):
        if config.get(key) is not None and not isinstance(config.get(key), dict):
            raise UserError(f"config key {key!r} must be a JSON object")
    for model, values in config["model_defaults"].items():
        if not isinstance(values, dict):
            raise UserError(f"config model_defaults[{model!r}] must be a JSON object of parameters")
    for key in ("max_retries", "control_port"):
        if not isinstance(config.get(key, 0), int) or isinstance(config.get(key), bool):
            raise UserError(f"config key {key!r} must be an integer (got {config.get(key)!r})")


def _materialise(path: Path, stored: dict[str, Any], migrated: list[str], config: dict[str, Any]) -> None:
    """Create directories; rewrite a migrated config file with the user's keys only.

    A missing file is not created: seeding it with defaults would freeze them for
    this user when a later release changes one.
    """
    try:
        for key in DIR_KEYS:
            if config.get(key):
                Path(config[key]).mkdir(parents=True, exist_ok=True)
        if migrated:
            backup = path.with_name(path.name + ".bak")
            if not backup.exists():
                atomic_write_text(backup, path.read_text(encoding="utf-8"))
            atomic_write_text(path, json.dumps(stored, indent=2) + "\n")
    except OSError as exc:
        raise UserError(f"cannot prepare wgp directories: {exc}") from None


_RUNTIME: Runtime | None = None


def ensure_runtime_initialized() -> Runtime:
    """The runtime of this process, initialising it with defaults on first use."""
    return _RUNTIME if _RUNTIME is not None else initialize_runtime()
