"""Registers the ``manifest`` and ``sidecar`` writers."""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import hookimpl

from .writers import ManifestWriter, SidecarWriter


@hookimpl
def register_writers(register: Any) -> None:
    register(SidecarWriter())
    register(ManifestWriter())
