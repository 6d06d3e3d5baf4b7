"""QueueController: the one orchestrator, used by ``wgp run`` (a one-job queue) and workers.

A controller owns one :class:`~wgp_host.runner.Runner` (so the loaded model
stays loaded between jobs of the same model) and takes jobs from a backend in
order: priority, then age.  ``work()`` is the worker loop behind
``wgp queue work``; the control channel calls ``status``, ``pause``,
``resume``, ``cancel`` and ``clear`` from its own threads.

Everything the controller asks of its backend is a method of
:class:`wgp_hookspecs.QueueBackend`, each with a documented contract: the five
abstract ones, and the rest with defaults a backend overrides when it can do
better (the SQLite backend makes the writes atomic across processes, keeps the
``paused`` flag in the database and tracks workers for dead-worker recovery).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from wgp_hookspecs import CancelToken, ProgressEvent, QueueBackend, UserError

from ..job import Job
from ..progress import ProgressChannel
from ..testpoints import pause_point

if TYPE_CHECKING:
    from ..runner import JobOutcome, Runner

log = logging.getLogger("wgp.queue")

#: Cancel reason used when the worker itself stops (SIGTERM/SIGINT): the job goes back to the queue.
SHUTDOWN_REASON = "worker shutting down"
#: Seconds between progress writes for step events (artifact events are written at once).
PROGRESS_INTERVAL_S = 0.2
HEARTBEAT_S = 2.0
RECOVER_INTERVAL_S = 10.0
RECENT = 10


class QueueController:
    """Takes jobs from a backend in order (priority, then age) and runs them."""

    def __init__(
        self,
        backend: QueueBackend,
        runner: Runner,
        channel: ProgressChannel,
        worker: str | None = None,
        *,
        max_retries: int = 1,
        models: Sequence[str] | None = None,
        group: str | None = None,
    ) -> None:
        self.backend = backend
        self.runner = runner
        self.channel = channel
        self.worker = worker or new_worker_id()
        self.max_retries = max_retries
        #: The models this worker takes jobs for (``--models``); None: any.
        self.models = tuple(models) if models is not None else None
        #: The serving worker this one runs jobs for (a backend's own pool process): its
        #: per-worker paused flag applies here too.
        self.group = group or self.worker
        self.current: str | None = None
        self.current_cancel: CancelToken | None = None
        self.progress: dict[str, Any] = {}
        self.outcomes: list[JobOutcome] = []
        self.started = time.time()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._claim_lock = threading.RLock()  # pause() waits for a claim in progress
        self._lock = threading.Lock()  # current job and its progress
        self._shutdown_cancel = False
        self._last_progress_write = 0.0
        channel.listeners.append(self._on_event)

    # ------------------------------------------------------------------ submitting and running

    def submit(self, job: Job, priority: int = 0) -> str:
        job_id = self.backend.add(job.to_dict(), priority)
        self.channel.emit("job.queued", job_id, model=job.request.model, priority=priority)
        self._wake.set()
        return job_id

    def run_next(self) -> JobOutcome | None:
        """Claim and run one job; None when the queue is empty."""
        record = self._claim(respect_pause=False)
        return None if record is None else self._run(record)

    def drain(self) -> list[JobOutcome]:
        done = []
        while (outcome := self.run_next()) is not None:
            done.append(outcome)
        return done

    def loaded_model(self) -> str | None:
        key = getattr(getattr(self.runner, "cache", None), "key", None)
        return key[0] if key else None

    def _claim(self, respect_pause: bool) -> Any:
        with self._claim_lock:
            if respect_pause:
                self._sync_paused()
                if self._paused.is_set() or self._stop.is_set():
                    return None
            record = self.backend.claim_for(self.worker, prefer=self.loaded_model(), models=self.models)
            if record is None:
                return None
            self._adopt(record)
            return record

    def run_claimed(self, record: Any) -> JobOutcome:
        """Run a job the backend already claimed for this worker (a backend's own pool process
        does the claiming), with the heartbeat the worker loop would give it."""
        with self._claim_lock:
            self._adopt(record)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(stop,), name="wgp-heartbeat", daemon=True)
        beat.start()
        try:
            return self._run(record)
        finally:
            stop.set()
            beat.join(timeout=5)

    def _adopt(self, record: Any) -> None:
        """Make ``record`` this controller's current job: cancel token, progress, first progress write."""
        with self._lock:
            self.current, self.current_cancel = record.id, CancelToken()
            self._shutdown_cancel = False
            request = (record.job or {}).get("request") or {}
            self.progress = {
                "model": request.get("model"),
                "step": 0,
                "total": (request.get("params") or {}).get("steps"),
                "phase": "starting",
                "attempt": record.attempts,
                "started": time.time(),
                "artifacts": [],
            }
        self._write_progress(force=True)

    def _run(self, record: Any) -> JobOutcome:
        from ..runner import JobOutcome

        token = self.current_cancel
        assert token is not None
        try:
            try:
                job = Job.from_dict(record.job)
            except UserError as exc:
                self.channel.emit("job.failed", record.id, error=str(exc))
                outcome = JobOutcome(record.id, "failed", error=str(exc), user_error=True)
            else:
                outcome = self.runner.run(
                    job, self.channel, token, on_primed=lambda primed: self.backend.update(record.id, job=primed.to_dict()),
                    attempt=record.attempts,
                )
        finally:
            with self._lock:
                self.current, self.current_cancel = None, None
                shutdown = self._shutdown_cancel
        if outcome.state == "cancelled" and shutdown:
            self._release(record.id)
        else:
            self._complete(record, outcome)
        self.outcomes.append(outcome)
        if len(self.outcomes) > 1000:
            del self.outcomes[:-RECENT]
        return outcome

    def _complete(self, record: Any, outcome: JobOutcome) -> None:
        fields = {"state": outcome.state, "finished": time.time(), "result": outcome.to_dict(), "error": outcome.error}
        if not self.backend.complete(record.id, self.worker, **fields):
            log.warning("job %s was taken from this worker while it ran; its outcome is not recorded", record.id)
            if outcome.artifacts:
                # Another attempt owns the job now (this worker's lease lapsed, say while the
                # process was stopped): its files must be the only ones, so this attempt's go.
                row = {"id": record.id, "attempts": record.attempts, "job": record.job,
                       "progress": {"artifacts": [a.path for a in outcome.artifacts]}}
                self._discard_dead_attempt(row, set())
        pause_point("job.completed")

    def _release(self, job_id: str) -> None:
        self.backend.release(job_id, self.worker)
        self.channel.emit("job.queued", job_id, requeued=True, reason=SHUTDOWN_REASON)

    # ------------------------------------------------------------------ progress

    def _on_event(self, event: ProgressEvent) -> None:
        """Listener on the progress channel: keeps ``progress`` and the backend's copy current."""
        try:
            self.backend.publish(event.to_dict())
        except Exception:  # noqa: BLE001 - followers missing an event must not fail the job
            log.warning("could not publish event %s", event.event, exc_info=True)
        if event.job is None or event.job != self.current:
            return
        force = False
        with self._lock:
            if event.job != self.current:
                return
            p = self.progress
            if event.event == "step":
                p["step"], p["total"], p["phase"] = event.fields.get("step"), event.fields.get("total"), "generating"
                force = p["step"] == p["total"]
            elif event.event == "model.loading":
                p["phase"] = "loading model"
                force = True
            elif event.event == "model.loaded":
                p["phase"] = "generating"
            elif event.event == "artifact":
                p["phase"] = "writing"
                p["artifacts"].append(event.fields.get("path"))
                force = True
            else:
                return
        try:
            self._write_progress(force)
        except Exception:  # noqa: BLE001 - a busy database must not fail the job
            log.warning("could not store progress of job %s", event.job, exc_info=True)

    def _write_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress_write < PROGRESS_INTERVAL_S:
            return
        with self._lock:
            job_id, token, snapshot = self.current, self.current_cancel, dict(self.progress, artifacts=list(self.progress.get("artifacts", [])))
        if job_id is None or token is None:
            return
        self._last_progress_write = now
        if self.backend.set_progress(job_id, self.worker, snapshot) and not token.cancelled:
            token.cancel("cancelled")

    # ------------------------------------------------------------------ control

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def pause(self) -> bool:
        """Finish the current job, take no new ones.  Returns False when already paused."""
        with self._claim_lock:
            self.backend.set_flag("paused", "1")
            return self._set_paused(True, "request")

    def resume(self) -> bool:
        with self._claim_lock:
            self.backend.set_flag("paused", None)
            changed = self._set_paused(False, "request")
        self._wake.set()
        return changed

    def _set_paused(self, paused: bool, source: str) -> bool:
        if paused == self._paused.is_set():
            return False
        if paused:
            self._paused.set()
        else:
            self._paused.clear()
        self.channel.emit("queue.paused" if paused else "queue.resumed", None, worker=self.worker, source=source)
        return True

    def _sync_paused(self) -> None:
        """Adopt the backend's paused flags (set by ``wgp queue pause`` with no worker, or by another worker)."""
        self._set_paused(pause_requested(self.backend, self.group), "database")

    def cancel(self, job_id: str) -> str:
        """Cancel a job: ``cancelled`` when it had not started, ``cancelling`` when it is running
        (it stops at its next step).  Unknown or finished jobs are a UserError."""
        with self._lock:
            if job_id == self.current and self.current_cancel is not None:
                self.current_cancel.cancel("cancelled")
                return "cancelling"
        changed, state = self.backend.request_cancel(job_id)
        if state is None:
            raise UserError(f"no job {job_id!r} in the queue")
        if not changed:
            raise UserError(f"job {job_id} is already {state}")
        if state == "cancelled":
            self.channel.emit("job.cancelled", job_id, reason="cancelled before it ran")
        return str(state)

    def cancel_current(self, reason: str = "cancelled") -> bool:
        with self._lock:
            token = self.current_cancel
            if self.current is None or token is None:
                return False
            token.cancel(reason)
            return True

    def clear(self) -> int:
        """Remove every job waiting to run (see :meth:`QueueBackend.clear`); returns how many."""
        return self.backend.clear()

    def shutdown(self, reason: str = SHUTDOWN_REASON) -> None:
        """Stop the worker loop; the running job stops at its next step and goes back to the queue."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            token = self.current_cancel
            if token is not None and not token.cancelled:
                self._shutdown_cancel = True
                token.cancel(reason)

    def status(self) -> dict[str, Any]:
        with self._lock:
            current = None if self.current is None else {"id": self.current, **self.progress}
        loaded = self.runner.cache.key[0] if getattr(self.runner, "cache", None) and self.runner.cache.key else None
        paused = self.paused
        out = {
            "worker": self.worker,
            "pid": os.getpid(),
            "state": "paused" if paused else ("running" if current else "idle"),
            "paused": paused,
            "current": current,
            "loaded_model": loaded,
            "uptime_s": round(time.time() - self.started, 3),
            "processed": len(self.outcomes),
        }
        out.update(queue_summary(self.backend))
        return out

    # ------------------------------------------------------------------ the worker loop

    def work(self, once: bool = False, poll_interval: float = 0.5, handle_signals: bool = True) -> int:
        """Run jobs until stopped (SIGTERM/SIGINT or :meth:`shutdown`); with ``once``, until the
        queue is empty or paused.  Returns the number of jobs run."""
        done = 0
        restore = self._install_signals() if handle_signals else {}
        self.backend.register_worker(self.worker)
        beat = threading.Thread(target=self._heartbeat_loop, name="wgp-heartbeat", daemon=True)
        beat.start()
        try:
            self.recover()
            last_recover = time.monotonic()
            while not self._stop.is_set():
                if time.monotonic() - last_recover > RECOVER_INTERVAL_S:
                    self.recover()
                    last_recover = time.monotonic()
                record = self._claim(respect_pause=True)
                if record is None:
                    if once:
                        break
                    self._wake.wait(poll_interval)
                    self._wake.clear()
                    continue
                self._run(record)
                done += 1
        finally:
            self._stop.set()
            self._wake.set()
            beat.join(timeout=5)
            for signum, handler in restore.items():
                signal.signal(signum, handler)
            try:
                self.backend.unregister_worker(self.worker)
            except Exception:  # noqa: BLE001 - the jobs are settled; a stale worker row is recovered later
                log.warning("could not unregister worker %s", self.worker, exc_info=True)
        return done

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            log.info("signal %s: stopping after the current step", signum)
            self.shutdown()
            # A second signal stops at once.
            signal.signal(signum, signal.SIG_DFL if signum == signal.SIGTERM else signal.default_int_handler)

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
        return previous

    def _heartbeat_loop(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        interval = float(getattr(self.backend, "heartbeat_interval_s", 0) or HEARTBEAT_S)
        while not stop.wait(interval):
            try:
                self.backend.heartbeat(self.worker)
                self._write_progress(force=True)  # also notices cancel requests from other processes
            except Exception:  # noqa: BLE001
                log.warning("heartbeat failed", exc_info=True)

    def recover(self) -> list[dict[str, Any]]:
        """Settle jobs left ``running`` by dead workers (see :meth:`QueueBackend.recover`)."""
        settled = self.backend.recover(self.max_retries, self._discard_dead_attempt)
        for row in settled:
            if row["state"] == "interrupted":
                self.channel.emit("job.interrupted", row["id"], worker=row["worker"], attempts=row["attempts"], error=row["error"])
            else:
                self.channel.emit("job.failed", row["id"], error=row["error"])
        if settled:
            self._wake.set()
        return settled

    def _discard_dead_attempt(self, row: dict[str, Any], busy_dirs: set[str]) -> None:
        """Settle what a dead attempt wrote: its writers' records first, then its files.

        A manifest line of the attempt names a file that is about to be deleted, so
        it goes first; when a writer cannot be asked (not installed here) or fails,
        the files stay: a record may name them, and the retry writes new ones beside.
        """
        job = row.get("job") or {}
        output = job.get("output") or {}
        folder = output.get("output_dir")
        try:
            for writer in reversed(self.runner.writers_for(list(output.get("writers") or ()))):
                writer.discard(str(row["id"]), int(row.get("attempts") or 0), Path(str(folder)) if folder else None,
                               dict(output.get("writer_options") or {}))
        except Exception:  # noqa: BLE001 - recovery must settle the job either way
            log.error("job %s: could not remove the records of dead attempt %s; keeping its files",
                      row.get("id"), row.get("attempts"), exc_info=True)
            return
        pause_point("recover.discarded")
        discard_partial_outputs(row, busy_dirs)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def worker_pause_flag(worker: str) -> str:
    """The flag that pauses one worker (``wgp queue pause --worker ID``)."""
    return f"paused:{worker}"


def pause_requested(backend: QueueBackend, worker: str) -> bool:
    """The pause rule, for every worker: the queue-wide ``paused`` flag, or the worker's own."""
    return backend.get_flag("paused") is not None or backend.get_flag(worker_pause_flag(worker)) is not None


def discard_partial_outputs(row: dict[str, Any], busy_dirs: set[str]) -> None:
    """Remove what a dead attempt left in its output folder, so the retry writes each artifact once.

    Writes are atomic (temporary file, then a hard link to the final name), so a
    killed attempt leaves no partial media file, but a job with several artifacts
    can die after some of them got their final names.  Those are listed in the
    job's progress (recorded on each ``artifact`` event) and deleted here.  A
    temporary file with a second link was being given its final name when the
    process died: that final file goes too.  Temporary files are removed only
    when the process named in them is dead, so a live ``wgp run`` or worker
    writing into the same folder is never disturbed (``busy_dirs`` is kept for
    backends that pass it).
    """
    from ..atomic import TMP_PREFIX, temp_owner_alive
    from ..persistence import remove_stale_temporaries

    for path in (row.get("progress") or {}).get("artifacts") or []:
        try:
            Path(str(path)).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove %s left by an interrupted job", path)
    folder = (row.get("job") or {}).get("output", {}).get("output_dir")
    if not folder or not Path(folder).is_dir():
        return
    # Only files of dead writers: a live `wgp run` or another worker may be
    # writing into the same folder right now.
    linked = {}
    for tmp in Path(folder).glob(TMP_PREFIX + "*"):
        try:
            st = tmp.stat()
        except OSError:
            continue
        if st.st_nlink > 1 and temp_owner_alive(tmp) is False:
            linked[(st.st_dev, st.st_ino)] = tmp
    if linked:
        for entry in Path(folder).iterdir():
            try:
                st = entry.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in linked and not entry.name.startswith(TMP_PREFIX):
                entry.unlink(missing_ok=True)
    remove_stale_temporaries(Path(folder))


def queue_summary(backend: QueueBackend, recent: int = RECENT) -> dict[str, Any]:
    """Counts per state, the running jobs with their progress, and the last results."""
    return {
        "counts": backend.counts(),
        "running": [_running(r) for r in backend.rows(["running"])],
        "recent": [_result(r) for r in backend.recent(recent)],
    }


def _running(row: dict[str, Any]) -> dict[str, Any]:
    progress = row.get("progress") or {}
    return {
        "id": row["id"],
        "worker": row.get("worker"),
        "model": progress.get("model") or (row.get("job") or {}).get("request", {}).get("model"),
        "step": progress.get("step"),
        "total": progress.get("total"),
        "phase": progress.get("phase"),
        "attempts": row.get("attempts"),
        "cancel_requested": bool(row.get("cancel_requested")),
    }


def _result(row: dict[str, Any]) -> dict[str, Any]:
    result = row.get("result") or {}
    artifacts = []
    audio_tracks = (result.get("metadata") or {}).get("audio_tracks")
    for a in result.get("artifacts") or []:
        item = {"role": a.get("role"), "path": a.get("path"), "bytes": a.get("bytes")}
        if "audio_tracks" in a:
            item["audio_tracks"] = a["audio_tracks"]
            if audio_tracks is None:
                audio_tracks = a["audio_tracks"]
        artifacts.append(item)
    out = {
        "id": row["id"],
        "state": row["state"],
        "model": (row.get("job") or {}).get("request", {}).get("model"),
        "finished": row.get("finished"),
        "attempts": row.get("attempts"),
        "error": row.get("error"),
        "artifacts": artifacts,
    }
    if audio_tracks is not None:
        out["audio_tracks"] = audio_tracks
    return out
