"""docs/CLI.md is the canonical flag list: it must name exactly the commands and flags click has."""

from __future__ import annotations

import re
from pathlib import Path

import click

from wgp_host.cli import cli
from wgp_host.plugins import reset_host

DOC = Path(__file__).resolve().parents[1] / "docs" / "CLI.md"


def documented() -> dict[str, set[str]]:
    sections: dict[str, set[str]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        if line.startswith("## wgp"):
            current = line[3:].strip()
            sections[current] = set()
        elif current and line.startswith("| `-"):
            first_cell = line.split("|")[1]
            sections[current] |= set(re.findall(r"`(-[^`]+)`", first_cell))
    return sections


def commands() -> dict[str, set[str]]:
    reset_host()
    out: dict[str, set[str]] = {}

    def walk(cmd: click.Command, path: str) -> None:
        ctx = click.Context(cmd)
        params = cmd.get_params(ctx)  # includes the options that adapters and plan options add
        out[path] = {o for p in params if isinstance(p, click.Option) and "--help" not in p.opts for o in p.opts + p.secondary_opts}
        if isinstance(cmd, click.Group):
            # list_commands/get_command: first-party plugin commands (wgp.commands entry points) are documented too
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), f"{path} {name}")

    walk(cli, "wgp")
    return out


def test_every_command_and_flag_is_documented_and_nothing_else():
    docs, real = documented(), commands()
    assert sorted(docs) == sorted(real)
    for name in real:
        assert docs[name] == real[name], name
