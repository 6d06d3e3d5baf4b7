"""Registration of the ``celery`` queue backend: the class only; celery and redis are imported on use."""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import hookimpl


@hookimpl
def register_queue_backends(register: Any) -> None:
    from .backend import CeleryQueue

    register(CeleryQueue)
