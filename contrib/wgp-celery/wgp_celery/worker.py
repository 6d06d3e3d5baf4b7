"""The Celery side: the app, the one task, the supervisor in the serving process, and :func:`serve`.

Process layout of ``wgp queue work`` with this backend (prefork pool)::

    serving process   Celery's consumer and the supervisor (a timer in its event loop): the
                      paused flags (stop or resume consuming), the reaper (jobs of dead
                      workers), lost tokens, the cancel fallback; the host's control channel.
                      Never a model: torch used here would hang the forked children.
    pool processes    one per GPU; each builds the host's job runner at its first task and
                      keeps the model loaded between jobs.

Celery settings that make a token safe to lose or to see twice: ``acks_late`` (a token is
acknowledged after its job), ``reject_on_worker_lost`` (a killed pool process's token goes
back), prefetch 1 (a busy process holds no second token), JSON only, no result backend.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from .backend import TASK_NAME, CeleryQueue, queue_name, stop_flag
from .options import CeleryOptions

if TYPE_CHECKING:
    from wgp_hookspecs import JobExecutor, WorkerService

log = logging.getLogger("wgp.queue.celery")


def make_app(settings: CeleryOptions) -> Any:
    """A Celery app on the configured broker, with the ``wgp.job`` task registered."""
    from celery import Celery

    app = Celery(settings.prefix, broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_default_queue=queue_name(settings.prefix, "_default"),
    )
    app.task(name=TASK_NAME, bind=True)(run_token)
    return app


@dataclass
class Serving:
    """What the serving process knows, inherited by its pool processes (fork) or threads."""

    backend: CeleryQueue  # the serving process's own instance
    service: WorkerService
    queues: list[str]
    slots: Iterator[int] = field(default_factory=itertools.count)
    local: threading.local = field(default_factory=threading.local)


@dataclass
class PoolSlot:
    """One pool process's (or thread's) backend and job runner."""

    pid: int
    backend: CeleryQueue
    executor: JobExecutor
    stopping: threading.Event


# --------------------------------------------------------------------------- the task


def run_token(task: Any, model: str, hint: str = "") -> str:
    """A token for ``model``: claim a job for this process and run it to its end."""
    serving: Serving | None = getattr(task.app, "wgp_serving", None)
    if serving is None:
        raise RuntimeError("a wgp token reached a process that is not a wgp worker")
    slot = _pool_slot(serving)
    if slot.stopping.is_set() or slot.executor.paused():
        # Put the token back and wait a little: the supervisor stops consuming within pause_poll_s.
        slot.backend.send_token(model, hint)
        time.sleep(min(serving.backend.settings.pause_poll_s, 1.0))
        return "paused"
    record = slot.backend.claim_token(slot.executor.worker, model, prefer=slot.executor.loaded_model(),
                                      models=serving.service.models, task_id=str(task.request.id or ""))
    if record is None:
        return "nothing waiting"
    return slot.executor.run(record)


def _pool_slot(serving: Serving) -> PoolSlot:
    slot: PoolSlot | None = getattr(serving.local, "slot", None)
    if slot is not None and slot.pid == os.getpid():
        return slot
    index = _process_index()
    if index is None:  # a thread pool (in-process workers): one slot per thread
        index = next(serving.slots)
        worker = f"{serving.service.worker}/{os.getpid()}.{index}"
    else:
        worker = f"{serving.service.worker}/{os.getpid()}"
    backend = CeleryQueue(serving.backend.options)  # its own connections, made after the fork
    executor = serving.service.executor(worker, backend, index)
    slot = PoolSlot(os.getpid(), backend, executor, threading.Event())
    serving.local.slot = slot
    threading.Thread(target=_watch_stop, args=(serving, slot), name="wgp-stop-watch", daemon=True).start()
    return slot


def _process_index() -> int | None:
    """The prefork pool index of this process (which GPU it uses); None outside a prefork child."""
    from billiard.process import current_process

    process = current_process()
    index = getattr(process, "index", None)
    return index if process.name != "MainProcess" and isinstance(index, int) else None


def _watch_stop(serving: Serving, slot: PoolSlot) -> None:
    """Put the running job back when the serving worker shuts down (Celery waits for running tasks)."""
    flag = stop_flag(serving.service.worker)
    interval = serving.backend.settings.pause_poll_s
    while True:
        time.sleep(interval)
        try:
            if slot.backend.get_flag(flag) is not None:
                slot.stopping.set()
                slot.executor.shutdown()
                return
        except Exception:  # noqa: BLE001 - Redis away for a moment: look again
            log.debug("stop flag check failed", exc_info=True)


# --------------------------------------------------------------------------- the supervisor


def _supervisor_step() -> Any:
    from celery import bootsteps

    class Supervisor(bootsteps.StartStopStep):
        """Timers in the consumer's event loop of the serving process."""

        requires = {"celery.worker.consumer.tasks:Tasks"}

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.timers: list[Any] = []
            self.consuming = True
            self.revoked: set[str] = set()

        def start(self, c: Any) -> None:
            serving: Serving | None = getattr(c.app, "wgp_serving", None)
            if serving is None:
                return
            settings = serving.backend.settings
            self.watch_pause(c, serving)
            self.timers = [
                c.timer.call_repeatedly(settings.pause_poll_s, self.guarded, (self.watch_pause, c, serving), priority=10),
                c.timer.call_repeatedly(settings.reap_interval_s, self.guarded, (self.supervise, c, serving), priority=10),
            ]
            models = serving.service.models
            serving.service.ready(f"celery, {serving.service.concurrency} job process(es), "
                                  + (f"models {', '.join(models)}" if models is not None else f"any model ({len(serving.queues)} queues)"))

        def stop(self, c: Any) -> None:
            for timer in self.timers:
                timer.cancel()
            self.timers = []

        @staticmethod
        def guarded(call: Any, c: Any, serving: Serving) -> None:
            try:
                call(c, serving)
            except Exception:  # noqa: BLE001 - one failed round must not stop the timer
                log.warning("worker supervisor: %s failed", getattr(call, "__name__", call), exc_info=True)

        def watch_pause(self, c: Any, serving: Serving) -> None:
            paused = serving.service.sync_paused()
            if paused and self.consuming:
                for queue in serving.queues:
                    c.cancel_task_queue(queue)
                self.consuming = False
            elif not paused and not self.consuming:
                for queue in serving.queues:
                    c.add_task_queue(queue)
                self.consuming = True

        def supervise(self, c: Any, serving: Serving) -> None:
            backend = serving.backend
            backend.heartbeat(serving.service.worker)
            serving.service.recover()
            backend.resend_lost_tokens()
            self.cancel_fallback(c, serving)

        def cancel_fallback(self, c: Any, serving: Serving) -> None:
            """Terminate a pool process whose job ignores its cancel flag for ``cancel_grace_s``
            (stuck in one long step): revoke with terminate.  The lease then runs out and the
            reaper settles the job as cancelled."""
            grace = serving.backend.settings.cancel_grace_s
            mine = serving.service.worker + "/"
            now = time.time()
            for job in serving.backend.running_jobs():
                task, since = job.get("task") or "", job.get("cancel_at") or ""
                if not (task and since and (job.get("worker") or "").startswith(mine)) or task in self.revoked:
                    continue
                if now - float(since) >= grace:
                    log.warning("job %s ignored its cancel for %.0f s; terminating its process", job["id"], grace)
                    c.app.control.revoke(task, terminate=True, signal="SIGKILL")
                    self.revoked.add(task)

    return Supervisor


def _prepare(backend: CeleryQueue, service: WorkerService) -> Any:
    models = service.models if service.models is not None else service.available_models
    app = make_app(backend.settings)
    app.wgp_serving = Serving(backend, service, [queue_name(backend.settings.prefix, m) for m in models])
    app.steps["consumer"].add(_supervisor_step())
    backend._app = app  # tokens sent by the supervisor use the worker's own connections
    backend.set_flag(stop_flag(service.worker), None)
    backend.register_worker(service.worker, models=list(service.models) if service.models is not None else "any",
                            concurrency=service.concurrency)
    return app


def serve(backend: CeleryQueue, service: WorkerService) -> int:
    """Run a prefork Celery worker for ``service`` until SIGTERM/SIGINT; returns its exit code.

    On SIGTERM (warm shutdown) the stop flag makes each pool process put its job back at the
    next step, so shutdown takes a step, not a job.
    """
    from celery.signals import worker_shutting_down

    app = _prepare(backend, service)
    hostname = f"{_node_name(service.worker)}@{socket.gethostname()}"

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        if str(sender) == hostname:
            backend.set_flag(stop_flag(service.worker), "1")

    worker_shutting_down.connect(on_shutdown, weak=False)
    worker = app.Worker(
        pool="prefork",
        concurrency=service.concurrency,
        queues=app.wgp_serving.queues,
        hostname=hostname,
        loglevel="WARNING",
        quiet=True,
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
        optimization="fair",
    )
    try:
        worker.start()
    finally:
        worker_shutting_down.disconnect(on_shutdown)
        with contextlib.suppress(Exception):
            backend.set_flag(stop_flag(service.worker), None)
            backend.unregister_worker(service.worker)
    return int(worker.exitcode or 0)


@contextlib.contextmanager
def in_process_worker(backend: CeleryQueue, service: WorkerService, *, pool: str = "threads",
                      concurrency: int = 1) -> Iterator[Any]:
    """A worker in this process (``celery.contrib.testing``): for tests and embedding.

    Jobs run in threads of this process (``threads`` or ``solo`` pool), each with its own
    runner; leaving the block stops the worker after its running jobs.
    """
    from celery.contrib.testing.worker import start_worker

    app = _prepare(backend, service)
    try:
        with start_worker(app, pool=pool, concurrency=concurrency, queues=app.wgp_serving.queues,
                          perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30,
                          hostname=f"{_node_name(service.worker)}@{socket.gethostname()}"):
            yield app
    finally:
        with contextlib.suppress(Exception):
            backend.unregister_worker(service.worker)


def _node_name(worker: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in worker)
