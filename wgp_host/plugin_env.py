"""The environment's say over plugin loading, and the error a plugin problem raises.

Kept apart from :mod:`wgp_host.plugins` (which imports pluggy) because
``wgp --help`` applies the same filters to plugin commands it lists from
metadata, and must stay cheap.

- ``WGP_LOAD_PLUGINS``: comma-separated allow-list of installed distribution or
  entry-point names (the host's defaults are not filtered by it).
- ``WGP_DISABLED_PLUGINS``: comma-separated block-list, for any plugin.
- ``WGP_TRACE_PLUGINS`` / ``WGP_STRICT_PLUGINS``: trace hook calls / raise instead of isolating.
"""

from __future__ import annotations

import os


class PluginError(Exception):
    """Raised in strict mode, or for a plugin problem the caller must see."""


def norm(name: str) -> str:
    """Names compare case-insensitively, with ``-`` and ``_`` the same."""
    return name.strip().lower().replace("_", "-")


def env_names(env: str) -> set[str] | None:
    """The normalised names listed in ``env``; None when it is not set (set but empty: no names)."""
    raw = os.environ.get(env)
    if raw is None:
        return None
    return {norm(n) for n in raw.split(",") if n.strip()}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def blocked(*names: str) -> bool:
    """Whether ``WGP_DISABLED_PLUGINS`` names any of ``names``."""
    return bool({norm(n) for n in names} & (env_names("WGP_DISABLED_PLUGINS") or set()))


def entry_point_allowed(name: str, distribution: str) -> bool:
    """Whether an installed distribution's entry point may load: not blocked by
    ``WGP_DISABLED_PLUGINS`` and, when ``WGP_LOAD_PLUGINS`` is set, allowed by it."""
    if blocked(name, distribution):
        return False
    allow = env_names("WGP_LOAD_PLUGINS")
    return allow is None or bool({norm(name), norm(distribution)} & allow)
