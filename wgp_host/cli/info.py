"""``wgp plugins``, ``wgp models``, ``wgp writers``, ``wgp inspect``: what is installed and what was made."""

from __future__ import annotations

import click

from .common import echo_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include the host's default plugins and disabled ones.")
def plugins(as_json: bool, show_all: bool) -> None:
    """List installed plugins, their hooks, their commands and their status."""
    from ..plugins import get_host

    host = get_host()
    host.register_commands(click.get_current_context().find_root().command)  # collisions show up here too
    infos = [i for i in host.plugins.values() if show_all or (not i.default and i.status != "disabled")]
    if as_json:
        echo_json([i.to_dict() for i in infos])
        return
    if not infos:
        click.echo("no plugins installed (wgp plugins --all shows the host's defaults)")
    for info in infos:
        hooks = ", ".join([*sorted(info.hooks), *(f"command {name}" for name in sorted(info.commands))])
        click.echo(f"{info.name:<20} {info.distribution} {info.version:<10} {info.status:<8} {hooks}".rstrip())
        if info.error:
            click.echo(f"{'':<20} error: {info.error}")


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List model ids with their family, capabilities, defaults and constraints."""
    if ctx.invoked_subcommand is not None:
        return
    from ..plugins import get_host

    host = get_host()
    rows = []
    for model_id, (family, spec) in sorted(host.registry.models.items()):
        rows.append(
            {
                "id": model_id,
                "family": family.name,
                "plugin": host.registry.owner.get(("model", model_id)),
                "description": spec.description,
                "capabilities": sorted(spec.capabilities),
                "weights": spec.weights,
                "defaults": spec.defaults(),
                "params": [p.describe() for p in spec.params],
                "tiny": family.build_tiny is not None,
            }
        )
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no models: install a model plugin (see `wgp plugins --all`)")
    for row in rows:
        d = row["defaults"]
        size = f"{d['width']}x{d['height']}" if d.get("width") else ""
        frames = f"{d['frames']} frames" if d.get("frames") else ""
        click.echo(f"{row['id']:<22} {row['family']:<10} {', '.join(row['capabilities']):<40} {size} {frames}".rstrip())


@models.command("tiny")
@click.argument("model_id")
@click.argument("folder", type=click.Path(file_okay=False))
def models_tiny(model_id: str, folder: str) -> None:
    """Write a random-weight copy of MODEL_ID to FOLDER (for tests and demos)."""
    from ..plugins import get_host
    from ..tiny import build_tiny

    family, spec = get_host().model(model_id)
    path = build_tiny(family, spec, folder)
    click.echo(f"wrote tiny {model_id} to {path}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def writers(as_json: bool) -> None:
    """List the available writers and the result kinds they accept."""
    from ..plugins import get_host

    host = get_host()
    rows = [
        {
            "name": name,
            "kinds": sorted(w.kinds),
            "description": w.description,
            "plugin": host.registry.owner.get(("writer", name)),
        }
        for name, w in sorted(host.registry.writers.items())
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<12} {','.join(row['kinds']):<22} {row['description']}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def inspect(file: str) -> None:
    """Print the generation record embedded in FILE or in its JSON sidecar."""
    from ..records import read_record

    echo_json(read_record(file))


@click.command()
@click.argument("model_id", metavar="[MODEL]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profiles(model_id: str | None, as_json: bool) -> None:
    """List the profiles (--profile NAME) of every model, or of MODEL: what each sets and its source."""
    from ..plugins import get_host
    from ..profiles import profiles_for
    from ..runtime import initialize_runtime

    host = get_host()
    folder = initialize_runtime(write=False).get("profiles_dir")
    models = [model_id] if model_id else sorted(host.registry.models)
    rows = []
    for mid in models:
        family, spec = host.model(mid)
        for profile in sorted(profiles_for(family, spec.id, folder).values(), key=lambda p: p.name):
            rows.append({"model": spec.id, "family": family.name, **profile.to_dict()})
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no profiles" + (f" for {model_id}" if model_id else ""))
    for row in rows:
        sets = [f"{k}={v}" for k, v in {**row["params"], **row["plan"], **row["adapters"]}.items()]
        click.echo(f"{row['model']:<22} {row['name']:<12} {row['description']}")
        click.echo(f"{'':<22} {'':<12} sets {', '.join(sets) or 'nothing'}; source: {row['source'] or '-'}")
