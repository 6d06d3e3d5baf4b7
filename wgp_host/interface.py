"""The host as plugins see it: :class:`wgp_hookspecs.Host`, implemented once.

Plugin commands receive it as the click context's ``obj`` (and the
``register_commands`` hook as its ``host`` argument).  Creating one is free:
plugins are loaded and the config read only when a method needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import Host, JobOptions


class PluginFacingHost(Host):
    """:class:`wgp_hookspecs.Host` over the process-wide plugin host and runtime."""

    def _plugins(self) -> Any:
        from .plugins import get_host

        return get_host()

    def _runtime(self, config_file: str | None) -> Any:
        from .runtime import initialize_runtime

        return initialize_runtime(config_file)

    def config(self, config_file: str | None = None) -> Mapping[str, Any]:
        return dict(self._runtime(config_file).config)

    def directory(self, name: str, config_file: str | None = None) -> Path:
        from .runtime import DIR_KEYS

        if name not in DIR_KEYS:
            raise KeyError(f"{name!r} is not a runtime directory; known: {', '.join(DIR_KEYS)}")
        return Path(self._runtime(config_file).config[name])

    def model(self, model_id: str) -> Any:
        return self._plugins().model(model_id)

    def families(self) -> list[str]:
        return sorted(self._plugins().registry.families)

    def adapter(self, name: str) -> Any:
        return self._plugins().adapter(name)

    def prepare_job(self, options: JobOptions, *, config_file: str | None = None) -> tuple[Any, Any, list[str]]:
        from dataclasses import replace

        from .runner import resolve_weights
        from .submit import build_job

        runtime = self._runtime(config_file)
        host = self._plugins()
        job, warnings = build_job(host, runtime, options)
        _, spec = host.model(job.request.model)
        plan = replace(job.plan, weights=resolve_weights(spec, job.plan, runtime.get("model_paths", {})))
        return job.request, plan, warnings

    def run_job(
        self,
        options: JobOptions,
        *,
        config_file: str | None = None,
        progress: str | None = None,
        events_file: str | None = None,
        as_json: bool = False,
    ) -> int:
        from .inprocess import run_job
        from .submit import build_job

        runtime = self._runtime(config_file)
        host = self._plugins()
        job, warnings = build_job(host, runtime, options)
        print_warnings(warnings)
        return run_job(host, runtime, job, progress or runtime.get("progress", "auto"), events_file, as_json)

    def model_ids(self) -> list[str]:
        return sorted(self._plugins().registry.models)

    def queue(self, config_file: str | None = None) -> Any:
        from .cli.queue import open_backend

        return open_backend(self._runtime(config_file))

    def queue_job(
        self,
        options: JobOptions,
        *,
        priority: int = 0,
        job_id: str | None = None,
        config_file: str | None = None,
    ) -> tuple[str, list[str]]:
        from dataclasses import replace

        from .submit import build_job, enqueue

        _check_priority(priority)
        runtime = self._runtime(config_file)
        job, warnings = build_job(self._plugins(), runtime, options)
        if job_id is not None:
            job = replace(job, id=str(job_id))
        (queued,) = enqueue(runtime, [job], priority)
        return queued, warnings

    def queue_batch(
        self,
        options: JobOptions,
        sweeps: tuple[str, ...],
        *,
        priority: int = 0,
        batch_id: str | None = None,
        config_file: str | None = None,
    ) -> tuple[str, list[str], list[str]]:
        from dataclasses import replace

        from .batch import build_batch
        from .submit import enqueue

        _check_priority(priority)
        runtime = self._runtime(config_file)
        batch, jobs, warnings = build_batch(self._plugins(), runtime, options, tuple(sweeps))
        if batch_id is not None:
            batch, jobs = str(batch_id), [replace(job, batch=str(batch_id)) for job in jobs]
        return batch, enqueue(runtime, jobs, priority), warnings

    def batch_status(self, batch_id: str, *, config_file: str | None = None) -> dict[str, Any] | None:
        from .batch import batch_rows, rollup
        from .cli.queue import open_backend

        backend = open_backend(self._runtime(config_file))
        try:
            rows = batch_rows(backend, batch_id)
        finally:
            backend.close()
        return rollup(batch_id, rows) if rows else None


def _check_priority(priority: int) -> None:
    """The CLI's ``--priority`` range, for callers that are not the CLI."""
    from wgp_hookspecs import PRIORITY_RANGE, UserError

    low, high = PRIORITY_RANGE
    if not low <= int(priority) <= high:
        raise UserError(f"priority must be between {low} and {high} (got {priority})")


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"wgp: warning: {warning}", file=sys.stderr)
