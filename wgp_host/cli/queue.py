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

from wgp_hookspecs import JOB_STATES, PRIORITY_RANGE, QueueOperationNotSupported, UserError

from .common import CONFIG_OPTION, EXIT_FAILED, JSON_OPTION, echo_json
from .options import EVENTS_OPTION, PROGRESS_OPTION, SWEEP_OPTION, GenerationCommand, generation_options, job_options

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
@click.option("--priority", type=click.IntRange(*PRIORITY_RANGE), default=0, show_default=True,
              help="Higher runs first; equal priorities run oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the queued job as JSON.")
@SWEEP_OPTION
@click.option("--requests", "requests_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="JSONL file of requests, one job each (with the flags as defaults); one batch.")
@CONFIG_OPTION
def add(priority: int, as_json: bool, sweeps: tuple[str, ...], requests_file: str | None, config_file: str | None,
        **kw: Any) -> None:
    """Validate a job (same flags as `wgp run`) and queue it; prints the job id."""
    from ..plugins import get_host
    from ..submit import build_job, enqueue

    opts = job_options(kw)
    runtime = _runtime(config_file)
    if sweeps or requests_file:
        _add_batch(runtime, opts, sweeps, requests_file, priority, as_json)
        return
    job, warnings = build_job(get_host(), runtime, opts)
    for warning in warnings:
        print(f"wgp: warning: {warning}", file=sys.stderr)
    (job_id,) = enqueue(runtime, [job], priority)
    if as_json:
        click.echo(json.dumps({"id": job_id, "state": "queued", "priority": priority, "model": job.request.model, "warnings": warnings}))
    else:
        click.echo(job_id)


def _add_batch(runtime: Any, opts: Any, sweeps: tuple[str, ...], requests_file: str | None, priority: int,
               as_json: bool) -> None:
    """Every job of the batch validated first, then all queued, in run order; prints the batch id."""
    from ..batch import build_batch
    from ..plugins import get_host
    from ..submit import enqueue

    batch, jobs, warnings = build_batch(get_host(), runtime, opts, sweeps, requests_file)
    for warning in warnings:
        print(f"wgp: warning: {warning}", file=sys.stderr)
    ids = enqueue(runtime, jobs, priority)
    _report_batch(batch, ids, priority, warnings, as_json, "queued", "")


@queue.command("import")
@click.argument("file", type=click.Path(dir_okay=False), metavar="FILE")
@click.option("--priority", type=click.IntRange(*PRIORITY_RANGE), default=0, show_default=True,
              help="Higher runs first; equal priorities run oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the batch and its job ids as JSON.")
@CONFIG_OPTION
def import_queue(file: str, priority: int, as_json: bool, config_file: str | None) -> None:
    """Queue the tasks of a WanGP saved queue (queue.zip), all or none; prints the batch id."""
    from ..plugins import get_host
    from ..submit import enqueue
    from ..wangp_queue import import_queue as read_wangp_queue

    runtime = _runtime(config_file)
    backend = open_backend(runtime)  # before the import copies any file: a bad backend leaves none
    try:
        batch, jobs, warnings = read_wangp_queue(get_host(), runtime, file)
        for warning in warnings:
            print(f"wgp: warning: {warning}", file=sys.stderr)
        ids = enqueue(runtime, jobs, priority, backend)
    finally:
        backend.close()
    _report_batch(batch, ids, priority, warnings, as_json, "imported", f" from {file}")


def _report_batch(batch: str, ids: list[str], priority: int, warnings: list[str], as_json: bool, verb: str, source: str) -> None:
    """The batch id (or the batch as JSON) on stdout, and how many jobs were queued on stderr."""
    if as_json:
        click.echo(json.dumps({"batch": batch, "jobs": ids, "state": "queued", "priority": priority, "warnings": warnings}))
    else:
        click.echo(batch)
    print(f"wgp: {verb} {len(ids)} job{'s' if len(ids) != 1 else ''}{source} as {batch}", file=sys.stderr)


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
@click.argument("job_id", metavar="[JOB]", required=False)
@JSON_OPTION
@CONFIG_OPTION
def status(job_id: str | None, as_json: bool, config_file: str | None) -> None:
    """Show the worker's state, the current job's progress, counts per state and recent results.

    With JOB: that job's state, progress, error and outputs, from the database.
    """
    from ..batch import BATCH_PREFIX

    runtime = _runtime(config_file)
    if job_id is not None and job_id.startswith(BATCH_PREFIX):
        _batch_status(runtime, job_id, as_json)
        return
    if job_id is not None:
        _job_status(runtime, job_id, as_json)
        return
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


def _batch_status(runtime: Any, batch: str, as_json: bool) -> None:
    """A batch rolled up: jobs per state, steps done of all, the failed jobs."""
    info = _batch_info(runtime, batch)
    if as_json:
        echo_json(info)
        return
    counts = ", ".join(f"{state} {n}" for state, n in info["counts"].items() if n)
    click.echo(f"{batch}: {info['jobs']} jobs, {counts}; {info['steps']}/{info['total_steps']} steps "
               f"({100 * info['progress']:.0f}%)" + (", done" if info["done"] else ""))
    for job_id in info["failed"]:
        click.echo(f"  failed {job_id}")


def _batch_info(runtime: Any, batch: str) -> dict[str, Any]:
    from ..batch import batch_rows, rollup

    backend = open_backend(runtime)
    try:
        rows = batch_rows(backend, batch)
    finally:
        backend.close()
    if not rows:
        raise UserError(f"no batch {batch!r} in the queue")
    return rollup(batch, rows)


@queue.command("wait")
@click.argument("target", metavar="JOB|BATCH")
@click.option("--timeout", type=click.FloatRange(0, None, min_open=True), default=None, metavar="SECONDS",
              help="Give up after this long (exit status 1).")
@click.option("--interval", type=click.FloatRange(0.01, 60), default=0.5, show_default=True,
              help="Seconds between looks at the queue.")
@JSON_OPTION
@CONFIG_OPTION
def wait(target: str, timeout: float | None, interval: float, as_json: bool, config_file: str | None) -> None:
    """Wait until JOB, or every job of BATCH, has ended; exit status 1 if any failed or was cancelled."""
    from ..batch import BATCH_PREFIX, ENDED

    runtime = _runtime(config_file)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if target.startswith(BATCH_PREFIX):
            info = _batch_info(runtime, target)
        else:
            backend = open_backend(runtime)
            try:
                record = backend.get(target)
            finally:
                backend.close()
            if record is None:
                raise UserError(f"no job {target!r} in the queue (see `wgp queue list`)")
            counts = dict.fromkeys(JOB_STATES, 0)
            counts[record.state] = 1
            info = {"job": target, "jobs": 1, "counts": counts, "done": record.state in ENDED,
                    "failed": [target] if record.state == "failed" else [],
                    "cancelled": [target] if record.state == "cancelled" else [], "error": record.error}
        if info["done"] or (deadline is not None and time.monotonic() >= deadline):
            break
        time.sleep(interval)
    ok = info["done"] and not info["failed"] and not info["cancelled"]
    if as_json:
        echo_json({**info, "ok": ok})
    else:
        counts = ", ".join(f"{state} {n}" for state, n in info["counts"].items() if n)
        click.echo(f"{target}: {counts}" + ("" if info["done"] else f"; still not done after {timeout:g} s"))
        for job_id in info["failed"]:
            click.echo(f"  failed {job_id}" + (f": {info['error']}" if info.get("error") else ""))
    if not ok:
        sys.exit(EXIT_FAILED)


def _job_status(runtime: Any, job_id: str, as_json: bool) -> None:
    """One job as ``wgp queue list`` describes it, with its progress, error and files."""
    backend = open_backend(runtime)
    try:
        record = backend.get(job_id)
        # rows() also says which worker runs the job and whether a cancel is pending.
        row = None if record is None else next((r for r in backend.rows([record.state]) if r["id"] == job_id), None)
    finally:
        backend.close()
    if record is None:
        raise UserError(f"no job {job_id!r} in the queue (see `wgp queue list`)")
    info = _describe(row or {**record.to_dict(), "worker": None, "cancel_requested": False})
    if as_json:
        echo_json(info)
        return
    prompt = f" {info['prompt']!r}" if info["prompt"] else ""
    click.echo(f"{info['id']} {info['state']}: {info['model'] or '?'}{prompt} "
               f"(priority {info['priority']}, attempts {info['attempts']})")
    progress = info["progress"]
    if info["state"] == "running":
        step = f"step {progress.get('step')}/{progress.get('total')}" if progress.get("total") else "starting"
        click.echo(f"  {step} on worker {info['worker'] or '?'}" + (" (cancel requested)" if info["cancel_requested"] else ""))
    if info["error"]:
        click.echo(f"  error: {info['error']}")
    for path in info["artifacts"]:
        click.echo(f"  wrote {path}")


# --------------------------------------------------------------------------- control


WORKER_OPTION = click.option("--worker", "worker_id", metavar="ID",
                             help="Only this worker (its id in `wgp queue status`, or `wgp queue work --name`).")


@queue.command("pause")
@WORKER_OPTION
@CONFIG_OPTION
def pause(worker_id: str | None, config_file: str | None) -> None:
    """Finish the current job and start no new one until `wgp queue resume`."""
    runtime = _runtime(config_file)
    if worker_id is not None:
        _set_paused_flag(runtime, True, worker_id)
        click.echo(f"paused worker {worker_id}: its current jobs finish, it starts no new one")
        return
    reply = _worker(runtime, "pause")
    if reply is not None:
        click.echo(f"paused (worker {reply.get('worker')}): the current job finishes, no new one starts" if reply.get("changed") else "already paused")
        return
    live = _set_paused_flag(runtime, True)
    if live:
        click.echo(f"paused: {', '.join(live)} finish their current jobs and start no new one")
    else:
        click.echo("paused; no worker is running: the next worker starts paused")


@queue.command("resume")
@WORKER_OPTION
@CONFIG_OPTION
def resume(worker_id: str | None, config_file: str | None) -> None:
    """Start taking jobs again after `wgp queue pause`."""
    runtime = _runtime(config_file)
    if worker_id is not None:
        _set_paused_flag(runtime, False, worker_id)
        click.echo(f"resumed worker {worker_id}")
        return
    reply = _worker(runtime, "resume")
    if reply is not None:
        click.echo("resumed" if reply.get("changed") else "not paused")
        return
    live = _set_paused_flag(runtime, False)
    click.echo(f"resumed: {', '.join(live)} take jobs again" if live else "resumed; no worker is running")


def _set_paused_flag(runtime: Any, paused: bool, worker_id: str | None = None) -> list[str]:
    """Set or clear the queue-wide paused flag (or one worker's); returns the live workers."""
    from ..queue.controller import worker_pause_flag

    backend = open_backend(runtime)
    try:
        # A flag only this process would see would make "the next worker starts paused" a lie.
        if not backend.persistent_flags:
            raise QueueOperationNotSupported(backend.name, f"{'pausing' if paused else 'resuming'} without a running worker")
        backend.set_flag(worker_pause_flag(worker_id) if worker_id else "paused", "1" if paused else None)
        return backend.live_workers()
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
    """Remove every queued job and every interrupted one awaiting its retry (running and finished jobs stay),
    and the stored input files no remaining job reads."""
    from ..inputs import prune_inputs

    runtime = _runtime(config_file)
    reply = _worker(runtime, "clear")
    backend = open_backend(runtime)
    try:
        count = int(reply["cleared"]) if reply is not None else backend.clear()
        pruned = prune_inputs(runtime.state_dir, [row.get("job") or {} for row in backend.rows()])
    finally:
        backend.close()
    click.echo(f"cleared {count} queued job{'s' if count != 1 else ''}"
               + (f", removed {pruned} stored input file{'s' if pruned != 1 else ''}" if pruned else ""))


# --------------------------------------------------------------------------- work


@queue.command("work")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit (also when paused).")
@click.option("--control-port", type=click.IntRange(0, 65535), default=None, help="Control channel port (default: config control_port; 0 picks a free one).")
@click.option("--host", "bind_host", default="127.0.0.1", show_default=True, metavar="ADDR", help="Address the control channel binds.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (anyone who can reach it and has the token controls the worker).")
@click.option("--poll-interval", type=click.FloatRange(0.01, 60), default=0.5, show_default=True, help="Seconds between looks at an empty queue.")
@click.option("--name", "worker_name", metavar="ID", help="This worker's id, for `wgp queue pause --worker ID` (default: HOST:PID:RANDOM).")
@click.option("--models", "models_arg", default="any", show_default=True, metavar="ID,...|any",
              help="Take only jobs for these model ids (comma-separated); `any` takes every model's, preferring the loaded one.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Processes that run jobs at once, for a backend that runs its own workers (celery; default: one per --gpus, else 1).")
@click.option("--gpus", "gpus_arg", metavar="N,...", help="GPU indices, one job process each, each seeing only its GPU (CUDA_VISIBLE_DEVICES); backends that run their own workers.")
@PROGRESS_OPTION
@EVENTS_OPTION
@CONFIG_OPTION
def work(once: bool, control_port: int | None, bind_host: str, allow_remote: bool, poll_interval: float,
         worker_name: str | None, models_arg: str, concurrency: int | None, gpus_arg: str | None,
         progress: str | None, events_file: str | None, config_file: str | None) -> None:
    """Run queued jobs, keeping the model loaded, and serve the control channel."""
    from ..plugins import get_host
    from ..runner import Runner
    from ..submit import make_channel
    from ..queue.control import QueueControlServer
    from ..queue.controller import QueueController, new_worker_id

    _log_to_stderr()
    runtime = _runtime(config_file)
    host = get_host()
    models = _models_option(host, models_arg)
    gpus = _gpus_option(gpus_arg)
    port = int(runtime.get("control_port", 0) if control_port is None else control_port)
    if worker_name is not None and (not worker_name.strip() or "/" in worker_name):
        raise UserError(f"--name must be a non-empty id without '/' (got {worker_name!r})")
    worker = worker_name.strip() if worker_name else new_worker_id()
    backend = open_backend(runtime)
    try:
        if backend.serves_workers:
            if once:
                raise UserError(f"--once is not supported by queue backend {backend.name!r}; stop the worker with SIGTERM")
        elif (concurrency or 1) > 1 or gpus:
            raise UserError(f"--concurrency and --gpus need a queue backend that runs its own workers (celery); "
                            f"with {backend.name!r}, start one `wgp queue work` per GPU")
    except BaseException:
        backend.close()
        raise

    def new_channel() -> Any:
        return make_channel(host, progress or runtime.get("progress", "auto"), events_file, runtime.get("progress_sinks", []))

    max_retries = int(runtime.get("max_retries", 1))
    if backend.serves_workers:
        from ..queue.served import ServedWorker

        served = ServedWorker(host, runtime, backend, new_channel, worker=worker, models=models,
                              concurrency=concurrency or max(len(gpus), 1), gpus=gpus, max_retries=max_retries)
        server = QueueControlServer(served, runtime.state_dir, bind_host, port, allow_remote=allow_remote)
        served.control_server = server
        try:
            port = server.start()
            _announce(bind_host, port, f"wgp queue: worker {worker} ({backend.name}) on {runtime.state_dir}; control channel")
            code = backend.serve(served)
        finally:
            server.stop()
            served.close()
            backend.close()
        print(f"wgp queue: worker {worker} stopped", file=sys.stderr)
        sys.exit(code)
    channel = new_channel()
    controller = QueueController(backend, Runner(host, runtime.get("model_paths", {}), runtime.get("cache_dir")), channel,
                                 worker, max_retries=max_retries, models=models)
    server = QueueControlServer(controller, runtime.state_dir, bind_host, port, allow_remote=allow_remote)
    try:
        port = server.start()
        _announce(bind_host, port, f"wgp queue: worker {controller.worker} on {runtime.state_dir}; control channel")
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


def _announce(bind_host: str, port: int, text: str) -> None:
    from ..queue.control import is_loopback

    if not is_loopback(bind_host):
        print(f"wgp: warning: the control channel listens on {bind_host}:{port}; anyone who can reach it "
              "and holds the token can control this worker", file=sys.stderr)
    print(f"{text} {bind_host}:{port}", file=sys.stderr)


def _models_option(host: Any, text: str) -> tuple[str, ...] | None:
    """``--models``: registered model ids, or None for ``any``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["any"]:
        return None
    if not names or "any" in names:
        raise UserError(f"--models: give model ids separated by commas, or any (got {text!r})")
    for name in names:
        try:
            host.model(name)
        except UserError as exc:
            raise UserError(f"--models: {exc}") from None
    return tuple(dict.fromkeys(names))


def _gpus_option(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    gpus = tuple(g.strip() for g in text.split(","))
    if not gpus or not all(g.isdigit() for g in gpus) or len(set(gpus)) != len(gpus):
        raise UserError(f"--gpus: give distinct GPU indices separated by commas, e.g. 0,1 (got {text!r})")
    return gpus


def _log_to_stderr() -> None:
    import logging

    logger = logging.getLogger("wgp")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("wgp: %(levelname)s: %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
