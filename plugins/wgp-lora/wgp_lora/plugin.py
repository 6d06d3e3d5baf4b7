"""Registers the ``lora`` adapter (``--lora``, ``--lora-preset``) and ``wgp loras``."""

from __future__ import annotations

import json
from typing import Any, Mapping

import click

from wgp_hookspecs import Adapter, AdapterOption, GenerationContext, GenerationRequest, UserError, hookimpl

from .manager import LoRAInjectionManager, read_preset


class LoraAdapter(Adapter):
    name = "lora"
    description = "LoRA weights applied to the loaded pipeline for one job, then removed"
    options = (
        AdapterOption("lora", ("--lora",), "LoRA to apply, NAME[:MULT]; MULT is 0.8, 1,0.5 (per step) or 1;0 (per expert). Repeatable.",
                      multiple=True, metavar="NAME[:MULT]"),
        AdapterOption("lora_preset", ("--lora-preset",), "JSON preset of LoRAs and multipliers (WanGP .lset works).",
                      metavar="FILE"),
        AdapterOption("reset_lora_cache", ("--reset-lora-cache",), "Forget cached LoRA hashes before resolving.",
                      is_flag=True),
    )

    def __init__(self) -> None:
        self.manager = LoRAInjectionManager()

    def resolve(self, request: GenerationRequest, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if options.get("reset_lora_cache"):
            self.manager.reset()
        entries = read_preset(options["lora_preset"]) if options.get("lora_preset") else []
        for item in options.get("lora") or ():
            name, _, mult = str(item).partition(":")
            entries.append((name, mult or "1.0"))
        if not entries:
            return None
        spec = options.get("spec")
        experts = 2 if spec is not None and spec.options.get("boundary_ratio") else 1
        return self.manager.resolve(entries, str(options.get("family")), experts, options)

    def apply(self, model: Any, payload: Mapping[str, Any], context: GenerationContext) -> Any:
        pipe = getattr(model, "pipe", None)
        if pipe is None:
            raise UserError(f"{type(model).__name__} does not expose a diffusers pipeline; it cannot take LoRAs")
        return self.manager.applied(pipe, payload, context)


@hookimpl
def register_adapters(register: Any) -> None:
    register(LoraAdapter)


@hookimpl
def register_commands(cli: Any) -> None:
    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--model", "model_id", metavar="MODEL", help="Only the LoRAs for MODEL's family.")
    def loras(as_json: bool, model_id: str | None) -> None:
        """List the LoRAs available per model family."""
        from wgp_host.plugins import get_host
        from wgp_host.runtime import initialize_runtime

        runtime = initialize_runtime()
        host = get_host()
        manager = host.adapter("lora").manager
        if model_id:
            families = [host.model(model_id)[0].name]
        else:
            families = sorted(set(manager.families(runtime.config)) | {f for f in host.registry.families})
        rows = []
        for family in families:
            for name, path in manager.available(family, runtime.config).items():
                rows.append({"family": family, "name": name, "path": str(path), "bytes": path.stat().st_size})
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            click.echo(f"no LoRAs found (folders: {', '.join(str(manager.folder(f, runtime.config)) for f in families)})")
        for row in rows:
            click.echo(f"{row['family']:<10} {row['name']:<40} {row['bytes']:>12}  {row['path']}")
