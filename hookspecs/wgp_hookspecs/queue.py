"""The queue contract: :class:`JobRecord` and :class:`QueueBackend`.

Every operation the controller, the control channel and ``wgp queue`` use is a
method here: abstract, or with a documented default built on the abstract ones
(or raising :class:`~wgp_hookspecs.QueueOperationNotSupported`).  See
docs/queue.md, "The backend contract".
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from .constants import ENDED_STATES, JOB_STATES, WAITING_STATES
from .errors import QueueOperationNotSupported

#: States a worker claims: waiting, or interrupted by a dead worker and due a retry.
_CLAIMABLE = WAITING_STATES
#: States ``retry`` puts back to ``queued``.
_RETRYABLE = ("failed", "cancelled", "interrupted")
#: States of jobs that ended (``recent`` lists these).
_ENDED = ENDED_STATES


@dataclass
class JobRecord:
    """A job as a queue backend stores it."""

    id: str
    state: str
    job: dict[str, Any]
    priority: int = 0
    attempts: int = 0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @staticmethod
    def stored_object(text: str | None) -> dict[str, Any]:
        """A JSON object field (``job``, ``progress``, ``result``) as a backend stored it; empty
        or damaged text reads as ``{}``, so one bad row never hides the rest of the queue."""
        import json

        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class QueueBackend(ABC):
    """Stores jobs and hands them to workers: everything the controller, the control channel and
    ``wgp queue`` ask of a backend.

    Five methods are abstract (``add``, ``claim``, ``update``, ``get``, ``list``);
    every other one has a default built on them, or a default that says what a
    backend without that capability does (a no-op, an empty answer, or
    :class:`QueueOperationNotSupported`).  The defaults read, then write: they
    are correct for a backend used by one process (like ``memory``); a backend
    shared by several processes overrides the writes that must be atomic
    (``complete``, ``release``, ``set_progress``, ``request_cancel``, ``retry``,
    ``clear``), as the SQLite backend does.

    Dicts returned by ``rows``, ``recent`` and ``recover`` hold the
    :class:`JobRecord` fields plus ``worker`` (the id of the worker that ran or
    runs the job, None when unknown) and ``cancel_requested`` (bool).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: True when ``set_flag`` is seen by other processes and by later instances (the
    #: ``paused`` flag then outlives a worker: ``wgp queue pause`` works with none running).
    persistent_flags: ClassVar[bool] = False
    #: True when the backend runs its own worker processes (:meth:`serve`): ``wgp queue work``
    #: then hands the worker to it instead of running the host's loop.
    serves_workers: ClassVar[bool] = False
    #: Seconds between the host's :meth:`heartbeat` calls (and forced progress writes, which
    #: notice cancel requests) while a worker runs; a backend with leases sets it below them.
    heartbeat_interval_s: float = 2.0

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options
        self._flags: dict[str, str] = {}

    # ------------------------------------------------------------------ abstract

    @abstractmethod
    def add(self, job: Mapping[str, Any], priority: int = 0) -> str:
        """Store ``job`` (a ``Job.to_dict()``) as ``queued`` and return its id.

        The id is ``job["id"]`` when given, else a new unique one.  Higher
        ``priority`` runs first; equal priorities run oldest first.  Every backend
        stores any priority in :data:`~wgp_hookspecs.PRIORITY_RANGE` (64-bit); the
        CLI refuses others.
        """

    @abstractmethod
    def claim(self, worker: str) -> JobRecord | None:
        """Atomically take the next ``queued`` or ``interrupted`` job for ``worker``.

        Highest priority first, then oldest.  The job becomes ``running`` with
        ``attempts`` one higher and ``started`` set; it is returned as it is now
        stored.  None when no job is waiting.  Two concurrent claims, from
        threads or processes, never return the same job.
        """

    @abstractmethod
    def update(self, job_id: str, **fields: Any) -> None:
        """Overwrite fields of a job (names of :class:`JobRecord` fields other than ``id``).

        Unconditional; an unknown job id is ignored, an unknown field name or
        state raises ValueError.
        """

    @abstractmethod
    def get(self, job_id: str) -> JobRecord | None:
        """The job as stored now, or None when there is no such job."""

    @abstractmethod
    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        """The jobs in ``states`` (all jobs when None), oldest first."""

    def claim_for(self, worker: str, *, prefer: str | None = None, models: Sequence[str] | None = None) -> JobRecord | None:
        """Like :meth:`claim`, for a worker that takes only jobs for ``models`` (model ids; None:
        any) and has ``prefer`` loaded: among the waiting jobs of the highest priority, one for
        ``prefer`` goes first (then the oldest), so a worker serving mixed jobs does not reload
        its model for every job.

        Default: :meth:`claim` when ``models`` is None (``prefer`` is then ignored), else
        :class:`QueueOperationNotSupported`.
        """
        if models is None:
            return self.claim(worker)
        raise QueueOperationNotSupported(self.name, "taking jobs for some models only (--models)")

    # ------------------------------------------------------------------ reading

    def rows(self, states: Sequence[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Like :meth:`list`, as dicts with ``worker`` and ``cancel_requested`` too; at most ``limit``.

        Default: from :meth:`list`, with ``worker`` None and ``cancel_requested`` False.
        """
        records = self.list(states)
        if limit:
            records = records[: int(limit)]
        return [dict(r.to_dict(), worker=None, cancel_requested=False) for r in records]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state; every state of ``JOB_STATES`` is a key.  Default: from :meth:`list`."""
        out = dict.fromkeys(JOB_STATES, 0)
        for record in self.list():
            out[record.state] = out.get(record.state, 0) + 1
        return out

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last ``limit`` jobs that ended (finished, failed, cancelled), newest first, as :meth:`rows` dicts."""
        ended = self.rows(_ENDED)
        ended.sort(key=lambda r: r.get("finished") or 0.0, reverse=True)
        return ended[: int(limit)]

    # ------------------------------------------------------------------ a worker's own job

    def set_progress(self, job_id: str, worker: str, progress: Mapping[str, Any]) -> bool:
        """Store the progress of a running job; True when its worker should stop it.

        Stop means: a cancel was requested from another process, or the job is
        no longer running (another worker or ``recover`` took it).  Default:
        stop when :meth:`get` no longer shows it ``running``, else ``update``.
        The default cannot tell workers apart, nor hold cancel requests.
        """
        record = self.get(job_id)
        if record is None or record.state != "running":
            return True
        self.update(job_id, progress=dict(progress))
        return False

    def complete(self, job_id: str, worker: str, **fields: Any) -> bool:
        """Record how a job ended (``state``, ``finished``, ``result``, ``error``) while ``worker`` owns it.

        Returns False, writing nothing, when the job is no longer ``running``
        for ``worker`` (``recover`` gave it to another worker).  Default: checks
        that the job is ``running`` (the default cannot tell workers apart),
        then ``update``; not atomic.
        """
        record = self.get(job_id)
        if record is None or record.state != "running":
            return False
        self.update(job_id, **fields)
        return True

    def release(self, job_id: str, worker: str) -> bool:
        """Put a job ``worker`` stopped cleanly (shutdown) back to ``queued``; the attempt does not count.

        Returns False when the job was not ``running``.  Default: check, then
        ``update``; not atomic.
        """
        record = self.get(job_id)
        if record is None or record.state != "running":
            return False
        self.update(job_id, state="queued", started=None, progress={}, attempts=max(record.attempts - 1, 0))
        return True

    # ------------------------------------------------------------------ control

    def request_cancel(self, job_id: str) -> tuple[bool, str | None]:
        """Cancel a job that has not run, or ask the worker of a running one to stop it.

        Returns ``(True, "cancelled")`` for a ``queued`` or ``interrupted`` job
        (it never runs), ``(True, "cancelling")`` for a ``running`` one (its
        worker sees the request at its next :meth:`set_progress`), ``(False,
        state)`` for a job that ended, ``(False, None)`` for an unknown job.
        Default: cancels waiting jobs through ``update``; a running job raises
        :class:`QueueOperationNotSupported` (the default has nowhere to leave
        the request for another process).
        """
        record = self.get(job_id)
        if record is None:
            return False, None
        if record.state in _CLAIMABLE:
            self.update(job_id, state="cancelled", finished=time.time(), error="cancelled before it ran")
            return True, "cancelled"
        if record.state == "running":
            raise QueueOperationNotSupported(self.name, "cancelling a running job from outside its worker")
        return False, record.state

    def retry(self, job_id: str) -> tuple[bool, str | None]:
        """Put a ``failed``, ``cancelled`` or ``interrupted`` job back to ``queued``; attempts start over.

        Returns ``(True, "queued")``, ``(False, state)`` when the job is in
        another state, ``(False, None)`` for an unknown job.  Default: check,
        then ``update``.
        """
        record = self.get(job_id)
        if record is None:
            return False, None
        if record.state not in _RETRYABLE:
            return False, record.state
        self.update(job_id, state="queued", attempts=0, started=None, finished=None, progress={}, result={}, error=None)
        return True, "queued"

    def clear(self) -> int:
        """Remove every job waiting to run (``queued``, and ``interrupted`` ones due a retry); returns how many.

        Running and ended jobs stay.  Default: the abstract methods cannot
        delete, so the jobs become ``cancelled`` with the error ``cleared``.
        """
        waiting = self.list(_CLAIMABLE)
        for record in waiting:
            self.update(record.id, state="cancelled", finished=time.time(), error="cleared")
        return len(waiting)

    def get_flag(self, name: str) -> str | None:
        """The value of a queue-wide flag (``paused``), None when unset.

        Default: kept in this instance only (see :attr:`persistent_flags`).
        """
        return self._flags.get(name)

    def set_flag(self, name: str, value: str | None) -> None:
        """Set a queue-wide flag; None unsets it.  Default: in this instance only, lost on close."""
        if value is None:
            self._flags.pop(name, None)
        else:
            self._flags[name] = value

    # ------------------------------------------------------------------ workers

    def register_worker(self, worker: str) -> None:  # noqa: B027 - optional
        """Record that ``worker`` (this process) starts taking jobs.  Default: nothing."""

    def heartbeat(self, worker: str) -> None:  # noqa: B027 - optional
        """Called every few seconds while ``worker`` lives.  Default: nothing."""

    def unregister_worker(self, worker: str) -> None:  # noqa: B027 - optional
        """``worker`` stopped cleanly.  Default: nothing."""

    def workers(self) -> list[dict[str, Any]]:
        """The registered workers, dead or alive, as dicts with at least ``id``.  Default: none."""
        return []

    def live_workers(self) -> list[str]:
        """The ids of registered workers this backend considers alive.  Default: none."""
        return []

    def recover(
        self,
        max_retries: int = 1,
        on_interrupted: Callable[[dict[str, Any], set[str]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Settle the ``running`` jobs of dead workers; returns one dict per job settled.

        Each dict holds at least ``id``, ``state`` (the new one), ``worker`` (the
        dead one), ``attempts``, ``error``, ``job`` and ``progress``.

        A job becomes ``interrupted`` (claimable again) while ``attempts - 1 <
        max_retries``, ``failed`` beyond that, and ``cancelled`` when a cancel
        had been requested.  ``on_interrupted(row, busy_dirs)`` runs for each
        before its state changes, with the output folders of jobs live workers
        are running: it removes what the dead attempt left.  Default: the
        backend does not track workers, so it settles nothing.
        """
        return []

    def publish(self, event: Mapping[str, Any]) -> None:  # noqa: B027 - optional
        """Called with every event (a ``ProgressEvent.to_dict()``) of a worker's channel, so that
        clients on other machines can follow jobs.  Default: nothing."""

    def serve(self, service: WorkerService) -> int:
        """Run this machine's worker with the backend's own machinery until it is stopped; returns
        the exit status.  Only for backends with :attr:`serves_workers`.

        ``service`` is the host's side: the worker's settings, and the job runner to create in
        each process that runs jobs (:meth:`WorkerService.executor`).  Default:
        :class:`QueueOperationNotSupported`.
        """
        raise QueueOperationNotSupported(self.name, "running its own workers")

    def close(self) -> None:  # noqa: B027
        """Release connections.  Default: nothing."""


class JobExecutor(ABC):
    """The host's job runner in one process of a backend's own worker (see :meth:`QueueBackend.serve`).

    The backend claims a job (``claim_for(executor.worker, prefer=executor.loaded_model(), ...)``)
    and hands it to :meth:`run`; everything else a job does goes through the backend's own
    methods, as in the host's worker loop: ``set_progress`` (which also notices cancel requests),
    ``heartbeat(worker)`` every :attr:`QueueBackend.heartbeat_interval_s` while the job runs,
    ``publish``, then ``complete`` or ``release``.
    """

    #: The worker id jobs are claimed for in this process (the ``worker`` of its job records).
    worker: str

    @abstractmethod
    def run(self, record: JobRecord) -> str:
        """Run ``record`` (claimed for :attr:`worker`) to its end; returns its state afterwards:
        ``finished``, ``failed``, ``cancelled``, or ``queued`` when :meth:`shutdown` put it back."""

    @abstractmethod
    def loaded_model(self) -> str | None:
        """The model id this process has loaded, or None."""

    @abstractmethod
    def paused(self) -> bool:
        """True while the queue-wide ``paused`` flag or this worker's own (``paused:<worker>``,
        for the serving worker's id) is set: a job claimed now should be left waiting."""

    @abstractmethod
    def shutdown(self, reason: str = "worker shutting down") -> None:
        """Stop the running job at its next step and put it back to ``queued`` (the attempt does not count)."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release what the executor holds (progress sinks).  Default: nothing."""


class WorkerService(ABC):
    """What ``wgp queue work`` hands :meth:`QueueBackend.serve`: the worker's settings, and the host's
    side of running jobs.

    The process that calls ``serve`` only supervises: it must never load a model (torch used in
    a process that then forks hangs the children), so jobs run in processes the backend starts,
    each with an :class:`JobExecutor` from :meth:`executor`.
    """

    #: This worker's id (``wgp queue work --name``): per-worker pause flags and status use it.
    worker: str
    #: The model ids this worker takes jobs for (``--models``); None: any registered model.
    models: tuple[str, ...] | None
    #: Every model id registered on this machine (what ``--models any`` can take).
    available_models: tuple[str, ...]
    #: Processes that run jobs at once (one per GPU).
    concurrency: int

    @abstractmethod
    def executor(self, worker: str, backend: QueueBackend, slot: int = 0) -> JobExecutor:
        """Create the job runner for one process (or thread) that runs jobs, there, after the
        fork: ``worker`` is the id its jobs are claimed for, ``f"{self.worker}/..."`` (status
        finds this worker's jobs by that prefix), ``backend`` the backend instance it uses (its
        own connections), ``slot`` its index among :attr:`concurrency` (which GPU it uses)."""

    @abstractmethod
    def recover(self) -> list[dict[str, Any]]:
        """Settle the ``running`` jobs of dead workers: :meth:`QueueBackend.recover` with the
        configured ``max_retries``, the host removing what each dead attempt left and reporting
        it (``job.interrupted``/``job.failed``).  Called by the serving process, periodically."""

    @abstractmethod
    def sync_paused(self) -> bool:
        """Adopt the paused flags (queue-wide, and this worker's own); True while paused.  Called by
        the serving process, periodically; the host reports changes (``queue.paused``/``queue.resumed``)."""

    def ready(self, description: str) -> None:  # noqa: B027 - optional
        """The backend's worker is up and takes jobs (``description`` says how, for the log).  Default: nothing."""
