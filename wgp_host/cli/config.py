"""``wgp config``: where the configuration lives and what is in effect."""

from __future__ import annotations

import click

from .common import echo_json


@click.group()
def config() -> None:
    """Show the effective configuration and where it lives."""


@config.command("show")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
def config_show(config_file: str | None) -> None:
    """Print the effective configuration (defaults < file < WGP_* environment) as JSON."""
    from ..runtime import initialize_runtime

    # Read-only: showing the config must not create directories or rewrite the file.
    runtime = initialize_runtime(config_file, write=False)
    echo_json({
        "path": str(runtime.config_path),
        "exists": runtime.config_path.exists(),
        "config": runtime.config,
        # Every key of "config": default (code), file, env:WGP_<KEY> or flag.
        "sources": {key: runtime.sources.get(key, "default") for key in runtime.config},
    })


@config.command("path")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
def config_path_cmd(config_file: str | None) -> None:
    """Print the path of the config file in use."""
    from ..runtime import config_path

    click.echo(str(config_path(config_file)))
