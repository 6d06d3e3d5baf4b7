"""In-memory queue backend: the one-job queue behind ``wgp run``."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any, Mapping, Sequence

from wgp_hookspecs import JobRecord, QueueBackend, hookimpl


class MemoryQueue(QueueBackend):
    name = "memory"
    description = "Jobs kept in process memory; lost on exit (used by wgp run)"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options or {})
        self._jobs: dict[str, JobRecord] = {}
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._seq: dict[str, int] = {}

    def add(self, job: Mapping[str, Any], priority: int = 0) -> str:
        job_id = str(job.get("id") or uuid.uuid4().hex[:12])
        with self._lock:
            self._jobs[job_id] = JobRecord(id=job_id, state="queued", job=dict(job), priority=priority, created=time.time())
            self._seq[job_id] = next(self._order)
        return job_id

    def claim(self, worker: str) -> JobRecord | None:
        with self._lock:
            queued = [r for r in self._jobs.values() if r.state == "queued"]
            if not queued:
                return None
            record = min(queued, key=lambda r: (-r.priority, self._seq[r.id]))
            record.state, record.started = "running", time.time()
            record.attempts += 1
            return record

    def update(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            record = self._jobs[job_id]
            for key, value in fields.items():
                setattr(record, key, value)

    def get(self, job_id: str) -> JobRecord | None:
        return self._jobs.get(job_id)

    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        return [r for r in self._jobs.values() if states is None or r.state in states]


@hookimpl
def register_queue_backends(register: Any) -> None:
    register(MemoryQueue)
