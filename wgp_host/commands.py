"""Plugin commands from entry-point metadata, imported only when invoked.

A distribution declares ``[project.entry-points."wgp.commands"]`` with
``name = "package.module:command"`` (a click command).  ``wgp --help`` lists the
names with the distribution's summary, read from package metadata: no plugin
module is imported, and so neither is torch.  The command module is imported
when the command runs or its own ``--help`` is asked for.

Reading metadata means importing :mod:`importlib.metadata` and parsing every
distribution's files, a third of ``wgp --help``'s budget; so the list is cached
in the cache folder, keyed by the folders on ``sys.path`` and their
modification times (installing or removing a distribution changes its
site-packages folder).  The ``WGP_LOAD_PLUGINS``/``WGP_DISABLED_PLUGINS``
filters are applied after the cache, on every start.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

COMMAND_GROUP = "wgp.commands"
#: Bumped when the cache file's layout changes.
CACHE_VERSION = 2


class LazyCommand(NamedTuple):
    """One ``wgp.commands`` entry point."""

    name: str
    target: str
    distribution: str
    version: str
    summary: str

    def load(self) -> Any:
        import click

        module_name, _, attr = self.target.partition(":")
        command = importlib.import_module(module_name)
        for part in attr.split("."):
            command = getattr(command, part)
        if not isinstance(command, click.Command):
            raise TypeError(f"entry point {self.name} = {self.target} is not a click command")
        return command


def lazy_commands() -> list[LazyCommand]:
    """Every allowed ``wgp.commands`` entry point, sorted by name (duplicates: first distribution wins)."""
    from .plugin_env import entry_point_allowed

    return [entry for entry in _all_commands() if entry_point_allowed(entry.name, entry.distribution)]


#: Import paths remembered: ``wgp`` and ``python -m wgp_host`` differ in ``sys.path[0]``.
CACHE_KEYS = 4


def _all_commands() -> list[LazyCommand]:
    key = _path_key()
    cache = cache_file()
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        kept = [item for item in data["entries"] if item["key"] != key] if data.get("version") == CACHE_VERSION else []
        for item in data["entries"] if data.get("version") == CACHE_VERSION else ():
            if item["key"] == key:
                return [LazyCommand(*row) for row in item["commands"]]
    except (OSError, ValueError, TypeError, KeyError):
        kept = []  # missing, unreadable or another layout: read the metadata
    entries = _read_metadata()
    kept = [{"key": key, "commands": [list(e) for e in entries]}, *kept][:CACHE_KEYS]
    try:
        from .atomic import atomic_write_text

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps({"version": CACHE_VERSION, "entries": kept}))
    except OSError:
        pass  # a read-only cache folder only costs the next start the metadata scan
    return entries


def _read_metadata() -> list[LazyCommand]:
    from importlib.metadata import entry_points

    found: dict[str, LazyCommand] = {}
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: (e.name, e.value)):
        if ep.name in found:
            continue
        dist = ep.dist
        name = (dist.metadata["Name"] if dist is not None else None) or "?"
        summary = (dist.metadata["Summary"] if dist is not None else None) or ""
        found[ep.name] = LazyCommand(ep.name, ep.value, name, dist.version if dist is not None else "0", summary)
    return list(found.values())


def _path_key() -> list[list[Any]]:
    """The import path with each folder's modification time: what the entry points depend on."""
    key = []
    for entry in sys.path:
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


def default_cache_dir() -> Path:
    """The cache folder when config ``cache_dir`` is not set: ``$WGP_HOME/cache``, else the
    user cache folder.  The runtime's default for ``cache_dir`` is this, too."""
    home = os.environ.get("WGP_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    if sys.platform.startswith("linux"):
        # platformdirs' XDG rule, without its 12 ms import on every start.
        return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "wgp"
    import platformdirs

    return Path(platformdirs.user_cache_dir("wgp", appauthor=False))


def cache_file() -> Path:
    """Where the command list is cached.  Not config ``cache_dir``: reading the config would cost
    ``wgp --help`` more than the cache saves."""
    return default_cache_dir() / "commands.json"
