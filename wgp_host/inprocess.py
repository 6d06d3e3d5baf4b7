"""``wgp run``'s engine: one job through a one-job in-memory queue, in this process.

The same controller, runner, writers and events as a queue worker: there is no
second code path.  Ctrl-C and SIGTERM cancel the job (a second one stops at once).
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import click

from wgp_hookspecs import UserError

from .cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, human_size
from .job import Job
from .plugins import PluginHost
from .runtime import Runtime


def run_job(host: PluginHost, runtime: Runtime, job: Job, progress: str, events_file: str | None, as_json: bool) -> int:
    """Run ``job`` and report it on stdout/stderr; returns the exit status."""
    from .queue.controller import QueueController
    from .runner import Runner
    from .submit import make_channel

    channel = make_channel(host, progress, events_file, runtime.get("progress_sinks", []))
    backend = host.registry.queue_backends.get("memory")
    if backend is None:
        raise UserError("the in-process queue backend 'memory' is disabled; wgp run needs it")
    controller = QueueController(backend({}), Runner(host, runtime.get("model_paths", {}), runtime.get("cache_dir")), channel)
    controller.submit(job)

    def on_signal(signum: int, frame: Any) -> None:
        if not controller.cancel_current("interrupted (Ctrl-C)"):
            raise KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = controller.run_next()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        channel.close()
    assert outcome is not None
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), default=str))
    if outcome.state == "finished":
        if not as_json:
            for artifact in outcome.artifacts:
                click.echo(f"wrote {artifact.path} ({artifact.role}, {human_size(artifact.bytes)})")
        return 0
    if outcome.state == "cancelled":
        print("wgp: cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"wgp: error: {outcome.error}", file=sys.stderr)
    return EXIT_USAGE if outcome.user_error else EXIT_FAILED


def run_batch(host: PluginHost, runtime: Runtime, jobs: list[Job], progress: str, events_file: str | None,
              as_json: bool) -> int:
    """Run the jobs of a batch (``wgp run --sweep``) one after another in this process, the model kept
    loaded between them; returns 0 when all finished, 130 after Ctrl-C (the running job is cancelled,
    the rest never start), else 2 if a job found bad input, else 1."""
    from .queue.controller import QueueController
    from .runner import Runner
    from .submit import make_channel

    channel = make_channel(host, progress, events_file, runtime.get("progress_sinks", []))
    backend = host.registry.queue_backends.get("memory")
    if backend is None:
        raise UserError("the in-process queue backend 'memory' is disabled; wgp run needs it")
    controller = QueueController(backend({}), Runner(host, runtime.get("model_paths", {}), runtime.get("cache_dir")), channel)
    for job in jobs:
        controller.submit(job)
    interrupted = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if interrupted or not controller.cancel_current("interrupted (Ctrl-C)"):
            raise KeyboardInterrupt
        interrupted = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    outcomes = []
    try:
        while not interrupted and (outcome := controller.run_next()) is not None:
            outcomes.append(outcome)
            if not as_json:
                for artifact in outcome.artifacts:
                    click.echo(f"wrote {artifact.path} ({artifact.role}, {human_size(artifact.bytes)})")
                if outcome.state == "failed":
                    print(f"wgp: error: job {outcome.job}: {outcome.error}", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        channel.close()
    if as_json:
        click.echo(json.dumps([o.to_dict() for o in outcomes], default=str))
    if interrupted:
        print(f"wgp: cancelled after {len(outcomes) - 1} of {len(jobs)} jobs; the cancelled job wrote nothing", file=sys.stderr)
        return EXIT_CANCELLED
    if all(o.state == "finished" for o in outcomes):
        return 0
    return EXIT_USAGE if any(o.user_error for o in outcomes) else EXIT_FAILED
