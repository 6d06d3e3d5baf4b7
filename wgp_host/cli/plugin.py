"""``wgp plugin new``: start a plugin project from a template."""

from __future__ import annotations

import shlex

import click

from ..scaffold import kinds


@click.group("plugin")
def plugin() -> None:
    """Create a plugin project from a template: wgp plugin new NAME --kind KIND.

    The project installs and its tests pass before you write a line:
    `pip install -e './wgp-NAME[test]'`, then `pytest wgp-NAME`.
    """


@plugin.command("new")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(kinds()), help="What the plugin provides.")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to create the project folder wgp-NAME in.")
def new(name: str, kind: str, directory: str) -> None:
    """Render the KIND template as the project wgp-NAME (package wgp_NAME, entry point NAME)."""
    import os

    from ..scaffold import render

    project = render(name, kind, directory)
    relative = os.path.relpath(project)
    # "./" keeps pip from reading the folder as a distribution name on PyPI.
    shown = str(project) if relative.startswith("..") else os.path.join(".", relative)
    click.echo(f"created {project.name} ({kind}) in {project}")
    click.echo(f"next: pip install -e {shlex.quote(shown + '[test]')} && pytest {shlex.quote(shown)}")
