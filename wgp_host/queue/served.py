"""``wgp queue work`` on a backend that runs its own worker processes (Celery): the host's side.

:meth:`QueueBackend.serve <wgp_hookspecs.QueueBackend.serve>` gets a :class:`ServedWorker`.  The
serving process only supervises: it adopts the paused flags, settles the jobs of dead workers
(the host's writers remove what their attempts left) and answers the control channel.  It never
loads a model, because torch used in a process that later forks hangs the forked children: each
process the backend starts for jobs builds its own runner there (:meth:`ServedWorker.executor`),
a :class:`~wgp_host.queue.controller.QueueController` over that process's backend instance, so
jobs take the same code path as in the host's own worker loop.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from wgp_hookspecs import JobExecutor, JobRecord, QueueBackend, WorkerService

from ..progress import ProgressChannel
from .controller import QueueController, _running, pause_requested, queue_summary


class PoolExecutor(JobExecutor):
    """One pool process's runner: a controller that runs the jobs the backend claims for it."""

    def __init__(self, controller: QueueController) -> None:
        self.controller = controller
        self.worker = controller.worker
        self._shutdown = False

    def run(self, record: JobRecord) -> str:
        outcome = self.controller.run_claimed(record)
        # A job stopped by shutdown was released (put back), not cancelled.
        return "queued" if outcome.state == "cancelled" and self._shutdown else outcome.state

    def loaded_model(self) -> str | None:
        return self.controller.loaded_model()

    def paused(self) -> bool:
        return pause_requested(self.controller.backend, self.controller.group)

    def shutdown(self, reason: str = "worker shutting down") -> None:
        self._shutdown = True
        self.controller.shutdown(reason)

    def close(self) -> None:
        self.controller.channel.close()


class ServedWorker(WorkerService):
    """The host's side of a worker whose processes a backend runs; also the control channel's controller."""

    def __init__(
        self,
        host: Any,
        runtime: Any,
        backend: QueueBackend,
        make_channel: Callable[[], ProgressChannel],
        *,
        worker: str,
        models: tuple[str, ...] | None,
        concurrency: int = 1,
        gpus: tuple[str, ...] = (),
        max_retries: int = 1,
    ) -> None:
        self.host = host
        self.runtime = runtime
        self.backend = backend
        self.worker = worker
        self.models = models
        self.available_models = tuple(sorted(host.registry.models))
        self.concurrency = concurrency
        self.gpus = gpus
        self.max_retries = max_retries
        self.started = time.time()
        #: Set by ``wgp queue work``: pool processes close their inherited copy of its socket.
        self.control_server: Any = None
        self._make_channel = make_channel
        self._pid = os.getpid()
        self.channel = make_channel()
        # Recovery, pause flags, cancel and clear; it never runs a job (its runner stays empty).
        self.controller = QueueController(backend, self._runner(), self.channel, worker, max_retries=max_retries,
                                          models=models)

    def _runner(self) -> Any:
        from ..runner import Runner

        return Runner(self.host, self.runtime.get("model_paths", {}), self.runtime.get("cache_dir"))

    # ------------------------------------------------------------------ WorkerService

    def executor(self, worker: str, backend: QueueBackend, slot: int = 0) -> JobExecutor:
        if os.getpid() != self._pid:  # a forked pool process
            if self.control_server is not None:
                self.control_server.forget_socket()
            if self.gpus:
                # Before anything touches CUDA in this process: it sees its own GPU only.
                os.environ["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        controller = QueueController(backend, self._runner(), self._make_channel(), worker,
                                     max_retries=self.max_retries, models=self.models, group=self.worker)
        return PoolExecutor(controller)

    def recover(self) -> list[dict[str, Any]]:
        return self.controller.recover()

    def sync_paused(self) -> bool:
        self.controller._sync_paused()
        return self.controller.paused

    def ready(self, description: str) -> None:
        print(f"wgp queue: worker {self.worker}: {description}", file=sys.stderr)

    # ------------------------------------------------------------------ the control channel's controller

    def status(self) -> dict[str, Any]:
        mine = [r for r in self.backend.rows(["running"]) if str(r.get("worker") or "").startswith(self.worker + "/")]
        jobs = [_running(r) for r in mine]
        paused = self.controller.paused
        current = None
        if mine:
            current = {"id": mine[0]["id"], **(mine[0].get("progress") or {})}
        out = {
            "worker": self.worker,
            "pid": os.getpid(),
            "state": "paused" if paused else ("running" if jobs else "idle"),
            "paused": paused,
            "current": current,
            "jobs": jobs,
            "loaded_model": current.get("model") if current else None,
            "models": list(self.models) if self.models is not None else "any",
            "concurrency": self.concurrency,
            "backend": self.backend.name,
            "uptime_s": round(time.time() - self.started, 3),
            "processed": None,
        }
        out.update(queue_summary(self.backend))
        return out

    def pause(self) -> bool:
        return self.controller.pause()

    def resume(self) -> bool:
        return self.controller.resume()

    def cancel(self, job_id: str) -> str:
        return self.controller.cancel(job_id)

    def clear(self) -> int:
        return self.controller.clear()

    def close(self) -> None:
        self.channel.close()
