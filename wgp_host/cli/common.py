"""What every ``wgp`` command shares: exit codes and output helpers.  Imports click only."""

from __future__ import annotations

from typing import Any

import click

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_CANCELLED = 130

CONFIG_OPTION = click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def echo_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, default=str))


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)
