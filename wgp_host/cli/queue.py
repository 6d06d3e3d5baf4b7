"""``wgp queue ...``: add jobs, run a worker, and control it.

Commands talk to the running worker over its control channel when there is
one (``control.port`` and ``control.token`` in the state dir, and it answers),
and to the queue database directly when there is none; the database's paused
flag and cancel requests are seen by workers either way.

Only click and light host modules are imported here: command bodies import the
backend, the runner and the plugins when they run, so ``wgp --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

import click

from wgp_hookspecs import JOB_STATES, QueueOperationNotSupported, UserError

from .common import CONFIG_OPTION, JSON_OPTION, echo_json
from .options import EVENTS_OPTION, PROGRESS_OPTION, GenerationCommand, generation_options, job_options

if TYPE_CHECKING:
    from wgp_hookspecs import QueueBackend


@click.group("queue")
def queue() -> None:
    """Persistent job queue: add jobs, run a worker that keeps models loaded, control it."""




# --------------------------------------------------------------------------- helpers


def _runtime(config_file: str | None) -> Any:
    from ..runtime import initialize_runtime

    return initialize_runtime(config_file)


def open_backend(runtime: Any) -> QueueBackend:
    """The configured persistent backend (config ``queue_backend``, default ``sqlite``)."""
    from ..plugins import get_host

    name = str(runtime.get("queue_backend", "sqlite"))
    backends = get_host().registry.queue_backends
    if name == "memory":
        raise UserError("queue_backend 'memory' forgets jobs when the process exits; set queue_backend to 'sqlite' for wgp queue")
    if name not in backends:
        raise UserError(f"queue backend {name!r} is not available; available: {', '.join(sorted(backends)) or 'none'}")
    return backends[name]({"state_dir": str(runtime.state_dir), **(runtime.get("queue_options", {}) or {})})


def _worker(runtime: Any, command: str, **args: Any) -> dict[str, Any] | None:
    """The worker's reply, or None when no worker answers (then the caller uses the database)."""
    from ..queue.control import WorkerUnavailable, send_command

    try:
        return send_command(command, runtime.state_dir, timeout=5.0, **args)
    except WorkerUnavailable:
        return None


def _describe(row: dict[str, Any]) -> dict[str, Any]:
    job = row.get("job") or {}
    request = job.get("request") or {}
    params = request.get("params") or {}
    return {
        "id": row["id"],
        "state": row["state"],
        "priority": row.get("priority", 0),
        "attempts": row.get("attempts", 0),
        "model": request.get("model"),
        "prompt": params.get("prompt"),
        "worker": row.get("worker"),
        "created": row.get("created"),
        "started": row.get("started"),
        "finished": row.get("finished"),
        "progress": row.get("progress") or {},
        "error": row.get("error"),
        "artifacts": [a.get("path") for a in (row.get("result") or {}).get("artifacts") or []],
        "cancel_requested": bool(row.get("cancel_requested")),
    }


# --------------------------------------------------------------------------- add, list, status


@queue.command("add", cls=GenerationCommand)
@generation_options
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first; equal priorities run oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the queued job as JSON.")
@CONFIG_OPTION
def add(priority: int, as_json: bool, config_file: str | None, **kw: Any) -> None:
    """Validate a job (same flags as `wgp run`) and queue it; prints the job id."""
    from ..plugins import get_host
    from ..submit import build_job

    opts = job_options(kw)
    runtime = _runtime(config_file)
    job, warnings = build_job(get_host(), runtime, opts)
    for warning in warnings:
        print(f"wgp: warning: {warning}", file=sys.stderr)
    backend = open_backend(runtime)
    try:
        job_id = backend.add(job.to_dict(), priority)
    finally:
        backend.close()
    if as_json:
        click.echo(json.dumps({"id": job_id, "state": "queued", "priority": priority, "model": job.request.model, "warnings": warnings}))
    else:
        click.echo(job_id)


@queue.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(JOB_STATES), help="Only jobs in this state; repeatable.")
@JSON_OPTION
@CONFIG_OPTION
def list_jobs(states: tuple[str, ...], as_json: bool, config_file: str | None) -> None:
    """List jobs, oldest first, with state, priority, attempts and progress."""
    backend = open_backend(_runtime(config_file))
    try:
        rows = [_describe(r) for r in backend.rows(list(states) if states else None)]
    finally:
        backend.close()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no jobs")
    for r in rows:
        progress = r["progress"]
        step = f"{progress.get('step')}/{progress.get('total')}" if r["state"] == "running" and progress.get("total") else ""
        prompt = (r["prompt"] or "")[:40]
        click.echo(f"{r['id']:<14} {r['state']:<11} p{r['priority']:<3} a{r['attempts']:<2} {r['model'] or '?':<16} {step:<9} {prompt}".rstrip())


@queue.command("status")
@JSON_OPTION
@CONFIG_OPTION
def status(as_json: bool, config_file: str | None) -> None:
    """Show the worker's state, the current job's progress, counts per state and recent results."""
    runtime = _runtime(config_file)
    reply = _worker(runtime, "status")
    if reply is not None:
        reply.pop("ok", None)
        reply.pop("command", None)
        info = {"via": "control", **reply}
    else:
        from ..queue.controller import queue_summary

        backend = open_backend(runtime)
        try:
            paused = backend.get_flag("paused") is not None
            info = {"via": "database", "worker": None, "state": "stopped", "paused": paused, "current": None,
                    "workers": backend.live_workers(), **queue_summary(backend)}
        finally:
            backend.close()
    if as_json:
        echo_json(info)
        return
    if info["worker"]:
        click.echo(f"worker {info['worker']}: {info['state']}" + (" (paused: finishing the current job)" if info["paused"] and info["current"] else ""))
    elif info.get("workers"):
        click.echo(f"no worker answers on the control channel; registered: {', '.join(info['workers'])}"
                   + (" (the queue is paused)" if info["paused"] else ""))
    else:
        click.echo("no worker is running" + (" (the queue is paused)" if info["paused"] else ""))
    for job in info.get("running") or []:
        click.echo(f"running {job['id']} {job['model']} step {job['step']}/{job['total']} ({job['worker']})")
    counts = info.get("counts") or {}
    click.echo(", ".join(f"{state} {counts.get(state, 0)}" for state in JOB_STATES))
    for r in info.get("recent") or []:
        what = r["error"] if r["state"] != "finished" else ", ".join(str(a["path"]) for a in r["artifacts"])
        click.echo(f"{r['id']} {r['state']}: {what}")


# --------------------------------------------------------------------------- control


@queue.command("pause")
@CONFIG_OPTION
def pause(config_file: str | None) -> None:
    """Finish the current job and start no new one until `wgp queue resume`."""
    runtime = _runtime(config_file)
    reply = _worker(runtime, "pause")
    if reply is not None:
        click.echo(f"paused (worker {reply.get('worker')}): the current job finishes, no new one starts" if reply.get("changed") else "already paused")
        return
    _set_paused_flag(runtime, True)
    click.echo("paused; no worker is running: the next worker starts paused")


@queue.command("resume")
@CONFIG_OPTION
def resume(config_file: str | None) -> None:
    """Start taking jobs again after `wgp queue pause`."""
    runtime = _runtime(config_file)
    reply = _worker(runtime, "resume")
    if reply is not None:
        click.echo("resumed" if reply.get("changed") else "not paused")
        return
    _set_paused_flag(runtime, False)
    click.echo("resumed; no worker is running")


def _set_paused_flag(runtime: Any, paused: bool) -> None:
    backend = open_backend(runtime)
    try:
        # A flag only this process would see would make "the next worker starts paused" a lie.
        if not backend.persistent_flags:
            raise QueueOperationNotSupported(backend.name, f"{'pausing' if paused else 'resuming'} without a running worker")
        backend.set_flag("paused", "1" if paused else None)
    finally:
        backend.close()


@queue.command("cancel")
@click.argument("job_id", metavar="JOB")
@CONFIG_OPTION
def cancel(job_id: str, config_file: str | None) -> None:
    """Cancel JOB: a queued job never runs; a running one stops at its next step."""
    runtime = _runtime(config_file)
    from ..queue.control import ControlError, WorkerUnavailable, send_command

    try:
        reply: dict[str, Any] | None = send_command("cancel", runtime.state_dir, job=job_id)
        state = str(reply["state"])
    except WorkerUnavailable:
        reply = None
    except ControlError as exc:
        raise UserError(str(exc)) from None
    if reply is None:
        changed, state = _job_operation(runtime, job_id, lambda backend: backend.request_cancel(job_id))
        if not changed:
            raise UserError(f"job {job_id} is already {state}")
    click.echo(f"cancelled {job_id}" if state == "cancelled" else f"cancelling {job_id}: it stops at its next step")


def _job_operation(
    runtime: Any, job_id: str, operation: Callable[[QueueBackend], tuple[bool, str | None]]
) -> tuple[bool, str]:
    """Run ``operation(backend)`` (``request_cancel``, ``retry``) on the database directly; ``(changed, state)``."""
    backend = open_backend(runtime)
    try:
        changed, state = operation(backend)
    finally:
        backend.close()
    if state is None:
        raise UserError(f"no job {job_id!r} in the queue")
    return bool(changed), str(state)


@queue.command("retry")
@click.argument("job_id", metavar="JOB")
@CONFIG_OPTION
def retry(job_id: str, config_file: str | None) -> None:
    """Queue a failed, cancelled or interrupted JOB again."""
    changed, state = _job_operation(_runtime(config_file), job_id, lambda backend: backend.retry(job_id))
    if not changed:
        raise UserError(f"job {job_id} is {state}; only failed, cancelled or interrupted jobs can be retried")
    click.echo(f"queued {job_id} again")


@queue.command("clear")
@CONFIG_OPTION
def clear(config_file: str | None) -> None:
    """Remove every queued job and every interrupted one awaiting its retry (running and finished jobs stay)."""
    runtime = _runtime(config_file)
    reply = _worker(runtime, "clear")
    if reply is not None:
        count = int(reply["cleared"])
    else:
        backend = open_backend(runtime)
        try:
            count = backend.clear()
        finally:
            backend.close()
    click.echo(f"cleared {count} queued job{'s' if count != 1 else ''}")


# --------------------------------------------------------------------------- work


@queue.command("work")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit (also when paused).")
@click.option("--control-port", type=click.IntRange(0, 65535), default=None, help="Control channel port (default: config control_port; 0 picks a free one).")
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True, metavar="ADDR", help="Address the control channel binds.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (anyone who can reach it and has the token controls the worker).")
@click.option("--poll-interval", type=click.FloatRange(0.01, 60), default=0.5, show_default=True, help="Seconds between looks at an empty queue.")
@PROGRESS_OPTION
@EVENTS_OPTION
@CONFIG_OPTION
def work(once: bool, control_port: int | None, bind_host: str, allow_remote: bool, poll_interval: float,
         progress: str | None, events_file: str | None, config_file: str | None) -> None:
    """Run queued jobs, keeping the model loaded, and serve the control channel."""
    from ..plugins import get_host
    from ..runner import Runner
    from ..submit import make_channel
    from ..queue.control import QueueControlServer, is_loopback
    from ..queue.controller import QueueController

    _log_to_stderr()
    runtime = _runtime(config_file)
    host = get_host()
    port = int(runtime.get("control_port", 0) if control_port is None else control_port)
    backend = open_backend(runtime)
    channel = make_channel(host, progress or runtime.get("progress", "auto"), events_file, runtime.get("progress_sinks", []))
    controller = QueueController(backend, Runner(host, runtime.get("model_paths", {}), runtime.get("cache_dir")), channel,
                                 max_retries=int(runtime.get("max_retries", 1)))
    server = QueueControlServer(controller, runtime.state_dir, bind_host, port, allow_remote=allow_remote)
    try:
        port = server.start()
        if not is_loopback(bind_host):
            print(f"wgp: warning: the control channel listens on {bind_host}:{port}; anyone who can reach it "
                  "and holds the token can control this worker", file=sys.stderr)
        print(f"wgp queue: worker {controller.worker} on {runtime.state_dir}; control channel {bind_host}:{port}", file=sys.stderr)
        t0 = time.monotonic()
        done = controller.work(once=once, poll_interval=poll_interval)
    finally:
        server.stop()
        channel.close()
        backend.close()
    states = [o.state for o in controller.outcomes]
    summary = ", ".join(f"{s} {states.count(s)}" for s in ("finished", "failed", "cancelled") if states.count(s))
    print(f"wgp queue: ran {done} job{'s' if done != 1 else ''} in {time.monotonic() - t0:.1f} s"
          + (f" ({summary})" if summary else ""), file=sys.stderr)


def _log_to_stderr() -> None:
    import logging

    logger = logging.getLogger("wgp")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("wgp: %(levelname)s: %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
