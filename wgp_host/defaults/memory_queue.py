"""In-memory queue backend: the one-job queue behind ``wgp run``.

Jobs live in one process, so the read-then-write defaults of
:class:`~wgp_hookspecs.QueueBackend` are enough; they run under the
instance's lock here, so the control channel's threads and the worker loop
never interleave inside one.  Flags live in the instance (``persistent_flags``
is False); workers are not tracked, so ``recover`` settles nothing: a job
cannot outlive the process that runs it.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from typing import Any, Mapping, Sequence

from wgp_hookspecs import JOB_STATES, JobRecord, QueueBackend, hookimpl

_FIELDS = frozenset(JobRecord.__dataclass_fields__) - {"id"}


class MemoryQueue(QueueBackend):
    name = "memory"
    description = "Jobs kept in process memory; lost on exit (used by wgp run)"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options or {})
        self._jobs: dict[str, JobRecord] = {}
        # Re-entrant: the inherited defaults call get/update from inside a held lock.
        self._lock = threading.RLock()
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
            waiting = [r for r in self._jobs.values() if r.state in ("queued", "interrupted")]
            if not waiting:
                return None
            record = min(waiting, key=lambda r: (-r.priority, self._seq[r.id]))
            record.state, record.started, record.finished = "running", time.time(), None
            record.progress, record.result, record.error = {}, {}, None
            record.attempts += 1
            return record

    def update(self, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise ValueError(f"unknown job state {fields['state']!r}")
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None:
                return
            for key, value in fields.items():
                setattr(record, key, value)

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        with self._lock:
            return [r for r in self._jobs.values() if states is None or r.state in states]

    # The check-then-write defaults, made atomic by holding the lock around them.

    def complete(self, job_id: str, worker: str, **fields: Any) -> bool:
        with self._lock:
            return super().complete(job_id, worker, **fields)

    def release(self, job_id: str, worker: str) -> bool:
        with self._lock:
            return super().release(job_id, worker)

    def set_progress(self, job_id: str, worker: str, progress: Mapping[str, Any]) -> bool:
        with self._lock:
            return super().set_progress(job_id, worker, progress)

    def request_cancel(self, job_id: str) -> tuple[bool, str | None]:
        with self._lock:
            return super().request_cancel(job_id)

    def retry(self, job_id: str) -> tuple[bool, str | None]:
        with self._lock:
            return super().retry(job_id)

    def clear(self) -> int:
        """Delete the waiting jobs (memory can, unlike the default, which marks them cancelled)."""
        with self._lock:
            waiting = [job_id for job_id, r in self._jobs.items() if r.state in ("queued", "interrupted")]
            for job_id in waiting:
                del self._jobs[job_id]
                del self._seq[job_id]
            return len(waiting)


@hookimpl
def register_queue_backends(register: Any) -> None:
    register(MemoryQueue)
