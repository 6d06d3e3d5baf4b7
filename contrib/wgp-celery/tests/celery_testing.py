"""Helpers of the wgp-celery tests (fixtures are in conftest.py): waiting, real echo jobs,
worker subprocesses, and the host's side of an in-process worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from wgp_host.testing import wait_for  # noqa: F401 - the tests import it from here

#: Short times, so that a killed worker's job comes back in about two seconds.
FAST = {"lease_s": 1.5, "heartbeat_s": 0.25, "reap_interval_s": 0.25, "pause_poll_s": 0.1, "cancel_grace_s": 1.0,
        "token_grace_s": 1.0}


def echo_job(out: Path, model: str = "echo", writers: tuple[str, ...] = ("video",), **params: Any) -> dict[str, Any]:
    """A real job (validated as `wgp queue add` does), as the dict a backend stores."""
    from wgp_hookspecs import JobOptions

    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import build_job

    flags = {"prompt": "q", "steps": 1, **params}
    extra: tuple[str, ...] = ()
    if model in ("echo", "echo-matte", "echo-image"):
        flags = {"width": 8, "height": 8, **flags}
    if model in ("echo", "echo-matte"):
        flags = {"frames": 1, **flags}
    if model == "echo":
        extra = ("audio=false",)
    known = ("prompt", "steps", "width", "height", "frames", "seed")
    extra += tuple(f"{k}={v}" for k, v in flags.items() if k not in known)
    flags = {k: v for k, v in flags.items() if k in known}
    job, _ = build_job(get_host(), initialize_runtime(), JobOptions(model=model, params=flags, set_items=extra,
                                                                    output_dir=str(out), writers=writers))
    return job.to_dict()


def start_worker(env: dict[str, str], log_dir: Path, name: str, *args: str, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """``wgp queue work --name NAME ARGS`` in a subprocess; its events go to a file."""
    events = log_dir / f"events-{name}.jsonl"
    log = open(log_dir / f"worker-{name}.log", "w")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "queue", "work", "--name", name, "--progress", "none", "--events", str(events), *args],
        env={**os.environ, **env, **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    return proc, events


def read_events(*files: Path) -> list[dict[str, Any]]:
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def stop_worker(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Stop a worker and every process of its session (pool processes included)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    finally:
        with_children_gone(proc)


def with_children_gone(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's session (it and its pool processes; the test started it in its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def kill_workers(*procs: subprocess.Popen) -> None:
    """The end of a test that does not test shutdown: at once, not a warm shutdown each."""
    for proc in procs:
        with_children_gone(proc)


def served(backend, name: str = "w1", models=None, concurrency: int = 1):
    """The host's side of a worker (what `wgp queue work` builds), with its events kept."""
    from wgp_host.plugins import get_host
    from wgp_host.progress import ProgressChannel
    from wgp_host.queue.served import ServedWorker
    from wgp_host.runtime import initialize_runtime

    events: list = []
    service = ServedWorker(get_host(), initialize_runtime(), backend, lambda: ProgressChannel(listeners=[events.append]),
                           worker=name, models=models, concurrency=concurrency)
    return service, events
