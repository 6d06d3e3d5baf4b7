"""The ``{{ cookiecutter.plugin_name }}`` queue backend: jobs in one JSON file.

Every operation is one transaction: the file is read under an exclusive lock (between
processes ``fcntl.flock``, between threads a lock of the instance), changed, and written
back atomically (a temporary file renamed over it).  The inherited read-then-write defaults
of :class:`~wgp_hookspecs.QueueBackend` (``complete``, ``release``, ``set_progress``,
``request_cancel``, ``retry``) run inside one transaction too, which makes them atomic: a
backend shared by several processes needs exactly that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

from wgp_hookspecs import JOB_STATES, JobRecord, QueueBackend, hookimpl

_FIELDS = frozenset(JobRecord.__dataclass_fields__) - {"id"}
_WAITING = ("queued", "interrupted")


class {{ cookiecutter.class_name }}Queue(QueueBackend):
    name = "{{ cookiecutter.plugin_name }}"
    description = "Jobs in one JSON file under the state folder"
    #: The ``paused`` flag is in the file: ``wgp queue pause`` works with no worker running.
    persistent_flags = True

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        folder = Path(options.get("path") or options.get("state_dir") or ".").expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "{{ cookiecutter.plugin_name }}.json"
        self._thread_lock = threading.RLock()
        self._state: dict[str, Any] | None = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        """The stored state, locked; written back when the outermost transaction ends without an error."""
        with self._thread_lock:
            if self._state is not None:  # nested: a default method calling get/update
                yield self._state
                return
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                state = self._read()
                before = json.dumps(state, sort_keys=True)
                self._state = state
                try:
                    yield state
                finally:
                    self._state = None
                if json.dumps(state, sort_keys=True) != before:
                    self._write(state)

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"jobs": {}, "flags": {}}

    def _write(self, state: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ the five abstract methods

    def add(self, job: Mapping[str, Any], priority: int = 0) -> str:
        job_id = str(job.get("id") or uuid.uuid4().hex[:12])
        record = JobRecord(id=job_id, state="queued", job=dict(job), priority=int(priority), created=time.time())
        with self._transaction() as state:
            state["jobs"][job_id] = record.to_dict()  # dicts keep insertion order: oldest first
        return job_id

    def claim(self, worker: str) -> JobRecord | None:
        with self._transaction() as state:
            jobs = state["jobs"]
            waiting = [(-row["priority"], index, job_id) for index, (job_id, row) in enumerate(jobs.items())
                       if row["state"] in _WAITING]
            if not waiting:
                return None
            row = jobs[min(waiting)[2]]
            row.update(state="running", started=time.time(), finished=None, progress={}, result={}, error=None,
                       attempts=row["attempts"] + 1)
            return JobRecord(**row)

    def update(self, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise ValueError(f"unknown job state {fields['state']!r}")
        with self._transaction() as state:
            row = state["jobs"].get(job_id)
            if row is not None:
                row.update(json.loads(json.dumps(fields, default=str)))  # stored as JSON would hold it

    def get(self, job_id: str) -> JobRecord | None:
        with self._transaction() as state:
            row = state["jobs"].get(job_id)
            return None if row is None else JobRecord(**row)

    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        with self._transaction() as state:
            return [JobRecord(**row) for row in state["jobs"].values() if states is None or row["state"] in states]

    # ------------------------------------------------------------------ the defaults, made atomic

    def complete(self, job_id: str, worker: str, **fields: Any) -> bool:
        with self._transaction():
            return super().complete(job_id, worker, **fields)

    def release(self, job_id: str, worker: str) -> bool:
        with self._transaction():
            return super().release(job_id, worker)

    def set_progress(self, job_id: str, worker: str, progress: Mapping[str, Any]) -> bool:
        with self._transaction():
            return super().set_progress(job_id, worker, progress)

    def request_cancel(self, job_id: str) -> tuple[bool, str | None]:
        with self._transaction():
            return super().request_cancel(job_id)

    def retry(self, job_id: str) -> tuple[bool, str | None]:
        with self._transaction():
            return super().retry(job_id)

    def clear(self) -> int:
        """Delete the waiting jobs (the default can only mark them cancelled)."""
        with self._transaction() as state:
            waiting = [job_id for job_id, row in state["jobs"].items() if row["state"] in _WAITING]
            for job_id in waiting:
                del state["jobs"][job_id]
            return len(waiting)

    def get_flag(self, name: str) -> str | None:
        with self._transaction() as state:
            return state["flags"].get(name)

    def set_flag(self, name: str, value: str | None) -> None:
        with self._transaction() as state:
            if value is None:
                state["flags"].pop(name, None)
            else:
                state["flags"][name] = str(value)


@hookimpl
def register_queue_backends(register: Callable[[type[QueueBackend]], None]) -> None:
    register({{ cookiecutter.class_name }}Queue)
