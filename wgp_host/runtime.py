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

    def origin(self, key: str) -> str:
        """Where ``key``'s value came from, for messages: ``in FILE``, ``from environment variable WGP_KEY``, ..."""
        return origin(key, self.sources, self.config_path)

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


#: The type of each config key the host reads ("?": null allowed; null is then the default).
#: Plugins check the keys they own.  A value of the wrong type is refused wherever it
#: comes from (file, ``WGP_<KEY>``, flag): ``output_dir: 5`` must not create ``./5``.
KEY_TYPES: dict[str, str] = {
    **dict.fromkeys(("output_dir", "state_dir", "loras_root", "models_dir", "cache_dir", "profiles_dir"), "folder"),
    "image_output_dir": "folder?",
    **dict.fromkeys(("filename_template", "metadata_mode", "progress", "video_codec", "audio_format", "alpha_codec",
                     "alpha_video_codec", "queue_backend", "device"), "text"),
    "manifest_path": "text?",
    **dict.fromkeys(("writers", "progress_sinks", "matte_outputs", "model_search_paths"), "list"),
    **dict.fromkeys(("defaults", "model_defaults", "model_paths"), "object"),
    **dict.fromkeys(("queue_options", "lora_dirs"), "object?"),
    **dict.fromkeys(("max_retries", "control_port"), "int"),
    "crf": "int?",
}
#: Inclusive bounds of the integer keys (None: unbounded).
INT_RANGES: dict[str, tuple[int | None, int | None]] = {"max_retries": (0, None), "control_port": (0, 65535)}
_KIND_TEXT = {
    "folder": "a folder path (a non-empty string)",
    "text": "a non-empty string",
    "list": "a list of strings",
    "object": "a JSON object",
    "int": "an integer",
}
_TRUE_WORDS, _FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _int_ranges() -> dict[str, tuple[int | None, int | None]]:
    from .defaults.video import CRF_RANGE  # the video writer owns what a crf means

    return {**INT_RANGES, "crf": CRF_RANGE}


def _env_value(key: str, raw: str, default: Any) -> Any:
    """Parse a ``WGP_*`` value by the key's type (:data:`KEY_TYPES`, else its default's)."""
    kind = KEY_TYPES.get(key, "")
    text = raw.strip()
    if kind.endswith("?") and not text:
        return None  # WGP_CRF= : back to the default
    kind = kind.rstrip("?")
    if not kind:
        kind = ("bool" if isinstance(default, bool) else "int" if isinstance(default, int)
                else "list" if isinstance(default, list) else "object" if isinstance(default, dict) else "text")
    if kind == "bool":
        if text.lower() not in (*_TRUE_WORDS, *_FALSE_WORDS):
            raise ValueError("expected true or false")
        return text.lower() in _TRUE_WORDS
    if kind == "int":
        return int(text, 10)
    if kind in ("list", "object"):
        if text.startswith(("[", "{")):
            return json.loads(text)
        if kind == "list":
            return [item.strip() for item in text.split(",") if item.strip()]
        raise ValueError("expected a JSON object")
    return raw


def _read_config(path: Path, named_by: str = "") -> dict[str, Any]:
    """The user's config file as a dict; a missing file is {} unless the user named it
    (``named_by``: ``--config`` or ``WGP_CONFIG``): a typo must not run with the defaults."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named_by:
            raise UserError(f"config file {path} not found (named by {named_by}); create it (a JSON object: "
                            "{} keeps every default) or leave it out to use the default config") from None
        return {}
    except IsADirectoryError:
        raise UserError(f"config {path} is a folder, not a file; name the config file itself") from None
    except OSError as exc:
        raise UserError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"config {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
                        "is it the right file? A config is a JSON object") from None
    if not text.strip():
        # An empty file is a write that went wrong more often than a choice: say so.
        raise UserError(f"config {path} is empty; write a JSON object in it ({{}} keeps every default) or delete it")
    try:
        data = json.loads(text)
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
    named_by = "--config" if config_file else ("WGP_CONFIG" if os.environ.get("WGP_CONFIG") else "")
    stored = _read_config(path, named_by)
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
            config[key] = _env_value(key, raw, default)
        except (ValueError, json.JSONDecodeError):
            expected = _KIND_TEXT.get(KEY_TYPES.get(key, "").rstrip("?"), "a valid value")
            raise UserError(f"environment variable WGP_{key.upper()} must be {expected} (got {raw!r}); "
                            f"fix it or unset it") from None
        sources[key] = "env:WGP_" + key.upper()
    for key, value in (overrides or {}).items():
        if value is not None:
            config[key] = value
            sources[key] = "flag"
    _validate(config, sources, path)
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


def origin(key: str, sources: Mapping[str, str], path: Path) -> str:
    """Where config ``key``'s value came from, for messages: ``in FILE``, ``from WGP_KEY``, ..."""
    source = sources.get(key, "default")
    if source == "file":
        return f"in {path}"
    if source.startswith("env:"):
        return f"from environment variable {source[4:]}"
    return "from the command line" if source == "flag" else "by default"


def _validate(config: dict[str, Any], sources: Mapping[str, str] | None = None, path: Path | None = None) -> None:
    """Each key of :data:`KEY_TYPES` has its type and range, wherever its value came from.

    metadata_mode's choices are checked where a job is built (wgp_host.submit), the one
    place that sees the flag, the config and what a plugin passes alike.
    """
    sources = sources or {}
    ranges = _int_ranges()

    def bad(key: str, rule: str) -> UserError:
        where = origin(key, sources, path or Path(CONFIG_NAME))
        fix = ("remove the key to use the default" if sources.get(key) == "file"
               else "unset the variable" if sources.get(key, "").startswith("env:") else "give another value")
        return UserError(f"config key {key!r} must be {rule} (got {_short(config.get(key))} {where}); fix it or {fix}")

    for key, kind in KEY_TYPES.items():
        value = config.get(key)
        base = kind.rstrip("?")
        if value is None and (kind.endswith("?") or key not in config):
            continue
        rule = _KIND_TEXT[base]
        if base in ("folder", "text"):
            if not isinstance(value, str) or not value.strip():
                raise bad(key, rule)
        elif base == "list":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise bad(key, rule)
        elif base == "object":
            if not isinstance(value, dict):
                raise bad(key, rule)
        elif base == "int":
            low, high = ranges.get(key, (None, None))
            span = (f" from {low} to {high}" if high is not None else f" of at least {low}") if low is not None else ""
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad(key, rule + span)
            if (low is not None and value < low) or (high is not None and value > high):
                raise bad(key, rule + span)
    for model, values in config["model_defaults"].items():
        if not isinstance(values, dict):
            raise UserError(f"config model_defaults[{model!r}] must be a JSON object of parameters")
    for model, location in config["model_paths"].items():
        if not isinstance(location, str) or not location.strip():
            raise UserError(f"config model_paths[{model!r}] must be a folder or a repo id (got {_short(location)})")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


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
