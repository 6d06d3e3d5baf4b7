"""QueueController: the one orchestrator, used by ``wgp run`` (a one-job queue) and workers."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from wgp_hookspecs import CancelToken, QueueBackend

from ..job import Job
from ..progress import ProgressChannel
from ..runner import JobOutcome, Runner


class QueueController:
    """Takes jobs from a backend in order (priority, then age) and runs them."""

    def __init__(self, backend: QueueBackend, runner: Runner, channel: ProgressChannel, worker: str | None = None) -> None:
        self.backend = backend
        self.runner = runner
        self.channel = channel
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.current: str | None = None
        self.current_cancel: CancelToken | None = None
        self.outcomes: list[JobOutcome] = []

    def submit(self, job: Job, priority: int = 0) -> str:
        job_id = self.backend.add(job.to_dict(), priority)
        self.channel.emit("job.queued", job_id, model=job.request.model, priority=priority)
        return job_id

    def run_next(self) -> JobOutcome | None:
        """Claim and run one job; None when the queue is empty."""
        record = self.backend.claim(self.worker)
        if record is None:
            return None
        job = Job.from_dict(record.job)
        self.current, self.current_cancel = record.id, CancelToken()
        try:
            outcome = self.runner.run(job, self.channel, self.current_cancel)
        finally:
            self.current = None
        self.backend.update(
            record.id,
            state=outcome.state,
            finished=time.time(),
            result=outcome.to_dict(),
            error=outcome.error,
        )
        self.outcomes.append(outcome)
        return outcome

    def drain(self) -> list[JobOutcome]:
        done = []
        while (outcome := self.run_next()) is not None:
            done.append(outcome)
        return done

    def cancel_current(self, reason: str = "cancelled") -> bool:
        token = self.current_cancel
        if self.current is None or token is None:
            return False
        token.cancel(reason)
        return True

    def status(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for record in self.backend.list():
            counts[record.state] = counts.get(record.state, 0) + 1
        return {"worker": self.worker, "current": self.current, "counts": counts}
