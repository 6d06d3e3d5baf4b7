"""The ``{{ cookiecutter.plugin_name }}`` adapter: ``--{{ cookiecutter.plugin_name }} TEXT`` is added to the prompt.

A payload's life: ``resolve`` at submit time turns the flag into a JSON payload frozen into the
job (None: not used); ``prime`` may complete it in the worker before the model loads;
``transform`` gives the request to generate with; ``apply`` may change the loaded model around
``generate`` and must undo it.  This adapter needs only ``resolve`` and ``transform``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from wgp_hookspecs import Adapter, AdapterOption, GenerationRequest, hookimpl

#: The option's name: ``options[OPTION]`` in ``resolve``, ``adapter_options`` in ``JobOptions``.
OPTION = "{{ cookiecutter.identifier }}"


class {{ cookiecutter.class_name }}Adapter(Adapter):
    name = "{{ cookiecutter.plugin_name }}"
    description = "Text appended to the prompt"
    options = (
        AdapterOption(OPTION, ("--{{ cookiecutter.plugin_name }}",), help="Text added to the end of the prompt.", metavar="TEXT"),
    )

    def resolve(self, request: GenerationRequest, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        text = (options.get(OPTION) or "").strip()
        return {"text": text} if text else None

    def transform(self, request: GenerationRequest, payload: Mapping[str, Any]) -> GenerationRequest:
        prompt = f"{request.prompt}, {payload['text']}" if request.prompt else str(payload["text"])
        return GenerationRequest(request.model, {**request.params, "prompt": prompt})


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    register({{ cookiecutter.class_name }}Adapter)
