"""``wgp loras``: the LoRAs available per model family.

Declared as a ``wgp.commands`` entry point, so ``wgp --help`` lists it without
importing this module; the host interface arrives as the click context's object.
"""

from __future__ import annotations

import json

import click

from wgp_hookspecs import Host


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--model", "model_id", metavar="MODEL", help="Only the LoRAs for MODEL's family.")
@click.pass_obj
def loras(host: Host, as_json: bool, model_id: str | None) -> None:
    """List the LoRAs available per model family, and the files refused (with why)."""
    config = host.config()
    manager = host.adapter("lora").manager  # type: ignore[attr-defined]
    if model_id:
        families = [host.model(model_id)[0].name]
    else:
        families = sorted(set(manager.families(config)) | set(host.families()))
    rows = []
    for family in families:
        available, refused = manager.scan(family, config)
        for name, path in available.items():
            rows.append({"family": family, "name": name, "status": "available", "path": str(path),
                         "bytes": path.stat().st_size})
        for name, (path, reason) in refused.items():
            rows.append({"family": family, "name": name, "status": "refused", "path": str(path), "reason": reason})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no LoRAs found (folders: {', '.join(str(manager.folder(f, config)) for f in families)})")
    for row in rows:
        if row["status"] == "refused":
            click.echo(f"{row['family']:<10} {row['name']:<40} {'refused':>12}  {row['reason']}")
        else:
            click.echo(f"{row['family']:<10} {row['name']:<40} {row['bytes']:>12}  {row['path']}")
