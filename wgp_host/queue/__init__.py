"""Queue: the controller that runs jobs from a backend (memory, SQLite, Celery)."""

from __future__ import annotations

from typing import Any

__all__ = ["QueueController"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `wgp --help` (which imports wgp_host.queue.cli) does not load
    # the controller, the runner and the job machinery.
    if name == "QueueController":
        from .controller import QueueController

        return QueueController
    raise AttributeError(name)
