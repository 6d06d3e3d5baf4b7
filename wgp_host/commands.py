"""Plugin commands from entry-point metadata, imported only when invoked.

A distribution declares ``[project.entry-points."wgp.commands"]`` with
``name = "package.module:command"`` (a click command).  ``wgp --help`` lists the
names with the distribution's summary, read from package metadata: no plugin
module is imported, and so neither is torch.  The command module is imported
when the command runs or its own ``--help`` is asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

COMMAND_GROUP = "wgp.commands"


@dataclass(frozen=True)
class LazyCommand:
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
    from importlib.metadata import entry_points

    from .plugins import entry_point_allowed

    found: dict[str, LazyCommand] = {}
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: (e.name, e.value)):
        dist = ep.dist
        dist_name = (dist.metadata["Name"] if dist is not None else None) or "?"
        if ep.name in found or not entry_point_allowed(ep.name, dist_name):
            continue
        summary = (dist.metadata["Summary"] if dist is not None else None) or ""
        found[ep.name] = LazyCommand(ep.name, ep.value, dist_name, dist.version if dist is not None else "0", summary)
    return list(found.values())
