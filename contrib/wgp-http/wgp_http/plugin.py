"""Registration of the ``webhook`` progress sink (the class only; ``wgp serve`` is a ``wgp.commands``
entry point, imported when it runs)."""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import hookimpl


@hookimpl
def register_progress_sinks(register: Any) -> None:
    from .webhooks import WebhookSink

    register(WebhookSink)
