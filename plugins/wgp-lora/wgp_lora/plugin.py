"""Registers the ``lora`` adapter (``--lora``, ``--lora-preset``); ``wgp loras`` is in :mod:`.command`."""

from __future__ import annotations

from typing import Any, Mapping

from wgp_hookspecs import Adapter, AdapterOption, GenerationContext, GenerationRequest, UserError, hookimpl

from .manager import LoRAInjectionManager, read_preset, wangp_entries


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
    #: A WanGP settings file's LoRAs (``wgp run --settings``, ``wgp queue import``).
    settings_keys = ("activated_loras", "loras_multipliers")

    def __init__(self) -> None:
        self.manager = LoRAInjectionManager()

    def resolve(self, request: GenerationRequest, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if options.get("reset_lora_cache"):
            self.manager.reset()
        entries = wangp_entries(options.get("activated_loras"), options.get("loras_multipliers"), "settings file")
        entries += read_preset(options["lora_preset"]) if options.get("lora_preset") else []
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
