"""Embedded SQLite queue backend: persistent jobs in ``<state_dir>/queue.db``.

One row per job holds the frozen job JSON, priority, attempts, the worker that
runs it, timestamps, progress, result, error and a cancel-requested flag.  The
file is opened in WAL mode with a busy timeout, so ``wgp queue`` commands and
any number of worker processes share it safely.

Claiming is one ``UPDATE ... WHERE id = (SELECT ...) RETURNING`` statement:
SQLite takes the write lock before it evaluates the sub-select, so two workers
can never claim the same row.

Dead workers.  Every worker registers a row (host name, boot identity, pid,
process identity, heartbeat; see :mod:`wgp_host.liveness`) before it claims
anything and refreshes the heartbeat while it lives.  A worker that owns a
``running`` job is *dead* when:

- it ran on this machine (same host name and boot identity) and its pid no
  longer exists, is a zombie, or belongs to another process (pid reuse: the
  process identity differs).  This is exact and immediate, so ``kill -9`` is
  noticed at the next worker start; a worker that is alive but hung is never
  declared dead, so a job is never run twice at the same time;
- it ran on another machine (or before a reboot of this one, or the clock was
  stepped since: the boot identity differs) and its heartbeat is older than
  ``stale_after_s`` (default 60 s);
- it has no worker row at all.

Rows written by older versions (a kernel boot id, a /proc start tick) never
match a current identity, so their workers are judged by the heartbeat rule.

:meth:`SqliteQueue.recover` turns the jobs of dead workers into ``interrupted``
(claimable again) while ``attempts - 1 < max_retries``, and into ``failed``
beyond that.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from wgp_hookspecs import JOB_STATES, JobRecord, QueueBackend, UserError, hookimpl

from ..atomic import no_room_text, write_problem
from ..liveness import boot_identity, process_alive, process_identity

DB_NAME = "queue.db"
BUSY_TIMEOUT_S = 30.0
STALE_AFTER_S = 60.0
#: States a job can be retried from with ``wgp queue retry``.
RETRYABLE = ("failed", "cancelled", "interrupted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    job TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    progress TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, priority DESC, created);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    boot_id TEXT,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT
);
"""

COLUMNS = "id, state, job, priority, attempts, worker, created, started, finished, progress, result, error, cancel_requested"
_JSON_COLUMNS = ("job", "progress", "result")
#: A job's model id, for affinity and ``--models`` (the job JSON holds it; no column to migrate).
_MODEL = "json_extract(job, '$.request.model')"
_UPDATABLE = {"job", "state", "priority", "attempts", "worker", "started", "finished", "progress", "result", "error", "cancel_requested"}


# --------------------------------------------------------------------------- dead workers


def worker_dead(row: Mapping[str, Any], now: float, stale_after_s: float) -> bool:
    """The dead-worker rule (see the module docstring)."""
    if row.get("host") is None:
        return True  # no worker row
    local = row["host"] == socket.gethostname() and row.get("boot_id") == boot_identity()
    if local:
        # ``pid_start`` holds a liveness identity (the column name is from older versions);
        # NULL, when the identity could not be read, checks the pid alone.
        return not process_alive(int(row["pid"]), row.get("pid_start") or None)
    return now - float(row["heartbeat"]) > stale_after_s


# --------------------------------------------------------------------------- opening


def open_error(path: Path, exc: BaseException) -> UserError:
    """Why the queue database at ``path`` cannot be opened, with the way out, as one line.

    Opening is where a damaged file or a full disk shows (the first read checks the
    header; WAL mode needs its -shm file), so every command says it the same way.
    """
    import sqlite3

    reason = getattr(exc, "strerror", None) or str(exc)
    name = getattr(exc, "sqlite_errorname", "") or ""
    if isinstance(exc, sqlite3.DatabaseError) and (name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT"))
                                                    or "not a database" in reason or "malformed" in reason):
        return UserError(f"queue database {path} is damaged or not a SQLite file ({reason}); move it aside "
                         f"(mv {path} {path}.broken: its jobs are lost, wgp starts an empty queue) or set "
                         "state_dir (config or WGP_STATE_DIR) to use another folder")
    problem = write_problem(path.parent)
    if problem is not None:
        return UserError(f"cannot open the queue database {path} ({reason}): {no_room_text(problem)}, "
                         "or set state_dir (config or WGP_STATE_DIR) to a folder on another disk")
    return UserError(f"cannot open the queue database {path}: {reason}; check that the file and its folder "
                     "are readable and writable, or set state_dir (config or WGP_STATE_DIR) to use another folder")


# --------------------------------------------------------------------------- backend


class SqliteQueue(QueueBackend):
    """Persistent queue in one SQLite file; safe for many processes on one machine."""

    name = "sqlite"
    description = "Persistent jobs in <state_dir>/queue.db (SQLite, WAL); the default for wgp queue"
    persistent_flags = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        import sqlite3

        super().__init__(options or {})
        opts = self.options
        if opts.get("path"):
            path = Path(str(opts["path"])).expanduser()
        else:
            if opts.get("state_dir"):
                state_dir = Path(str(opts["state_dir"])).expanduser()
            else:
                from ..runtime import ensure_runtime_initialized

                state_dir = ensure_runtime_initialized().state_dir
            path = state_dir / DB_NAME
        self.path = path.resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stale_after_s = float(opts.get("stale_after_s") or STALE_AFTER_S)
        self.returning = sqlite3.sqlite_version_info >= (3, 35, 0)
        self._lock = threading.RLock()
        busy = float(opts.get("busy_timeout_s") or BUSY_TIMEOUT_S)
        try:
            # Jobs hold prompts and paths: the database is private to its owner (SQLite
            # gives its -wal and -shm files the database file's mode).
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            self._db = sqlite3.connect(str(self.path), timeout=busy, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise open_error(self.path, exc) from None
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
            self._retry_locked(lambda: self._db.execute("PRAGMA journal_mode = WAL"), busy)
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._retry_locked(lambda: self._db.executescript(SCHEMA), busy)
        except sqlite3.Error as exc:
            self._db.close()
            raise open_error(self.path, exc) from None

    @staticmethod
    def _retry_locked(call: Callable[[], Any], budget_s: float) -> Any:
        """Schema and journal-mode changes can report "locked" without waiting; retry them."""
        import sqlite3

        deadline = time.monotonic() + budget_s
        while True:
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # ------------------------------------------------------------------ helpers

    def _execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _transaction(self, body: Callable[[], Any]) -> Any:
        """Run ``body`` inside ``BEGIN IMMEDIATE`` (the write lock is taken first)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = body()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return out

    def _record(self, row: Any) -> JobRecord:
        return JobRecord(
            id=row["id"],
            state=row["state"],
            job=JobRecord.stored_object(row["job"]),
            priority=row["priority"],
            attempts=row["attempts"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            progress=JobRecord.stored_object(row["progress"]),
            result=JobRecord.stored_object(row["result"]),
            error=row["error"],
        )

    def _row_dict(self, row: Any) -> dict[str, Any]:
        out = dict(row)
        for key in _JSON_COLUMNS:
            if key in out:
                out[key] = JobRecord.stored_object(out[key])
        if "cancel_requested" in out:
            out["cancel_requested"] = bool(out["cancel_requested"])
        return out

    # ------------------------------------------------------------------ QueueBackend

    def add(self, job: Mapping[str, Any], priority: int = 0) -> str:
        import uuid

        job_id = str(job.get("id") or uuid.uuid4().hex[:12])
        body = json.dumps({**job, "id": job_id}, default=str)
        self._execute(
            "INSERT INTO jobs (id, state, job, priority, created) VALUES (?, 'queued', ?, ?, ?)",
            (job_id, body, int(priority), time.time()),
        )
        return job_id

    def claim(self, worker: str) -> JobRecord | None:
        return self._claim(worker, "", [], "priority DESC, created, rowid")

    def claim_for(self, worker: str, *, prefer: str | None = None, models: Sequence[str] | None = None) -> JobRecord | None:
        """The claim with model affinity: only jobs for ``models``; ``prefer``'s first within a priority."""
        if models is not None and not models:
            return None
        where, params = "", []
        if models is not None:
            where = f" AND {_MODEL} IN ({', '.join('?' for _ in models)})"
            params = list(models)
        order = "priority DESC, created, rowid"
        if prefer is not None:
            order = f"priority DESC, ({_MODEL} IS ?) DESC, created, rowid"
            params.append(prefer)
        return self._claim(worker, where, params, order)

    def _claim(self, worker: str, where: str, params: list[Any], order: str) -> JobRecord | None:
        now = time.time()
        pick = f"SELECT id FROM jobs WHERE state IN ('queued', 'interrupted'){where} ORDER BY {order} LIMIT 1"
        update = (
            "UPDATE jobs SET state = 'running', worker = ?, attempts = attempts + 1, started = ?, "
            "finished = NULL, progress = '{}', result = '{}', error = NULL, cancel_requested = 0 "
            f"WHERE id = ({pick}) AND state IN ('queued', 'interrupted')"
        )
        if self.returning:
            rows = self._execute(f"{update} RETURNING {COLUMNS}", (worker, now, *params))
            return self._record(rows[0]) if rows else None

        def body() -> JobRecord | None:  # SQLite < 3.35: the same, inside one write transaction
            found = self._db.execute(pick, params).fetchall()
            if not found:
                return None
            self._db.execute(update, (worker, now, *params))
            return self._record(self._db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (found[0]["id"],)).fetchone())

        return self._transaction(body)

    def update(self, job_id: str, **fields: Any) -> None:
        sets, values = self._assignments(fields)
        if sets:
            self._execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, job_id))

    @staticmethod
    def _assignments(fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise ValueError(f"unknown job state {fields['state']!r}")
        values = [json.dumps(v, default=str) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        return ", ".join(f"{k} = ?" for k in fields), values

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return self._record(rows[0]) if rows else None

    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        return [self._record(r) for r in self._select(states)]

    def _select(self, states: Sequence[str] | None, order: str = "created, rowid", limit: int | None = None) -> list[Any]:
        where, params = "", []
        if states is not None:
            where = f"WHERE state IN ({', '.join('?' for _ in states)})"
            params = list(states)
        tail = f" LIMIT {int(limit)}" if limit else ""
        return self._execute(f"SELECT {COLUMNS} FROM jobs {where} ORDER BY {order}{tail}", params)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ reading, in SQL

    def rows(self, states: Sequence[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Jobs as plain dicts with every column (worker, cancel flag included), oldest first."""
        return [self._row_dict(r) for r in self._select(states, limit=limit)]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(JOB_STATES, 0)
        for row in self._execute("SELECT state, count(*) AS n FROM jobs GROUP BY state"):
            out[row["state"]] = row["n"]
        return out

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last jobs that ended, newest first."""
        rows = self._execute(
            f"SELECT {COLUMNS} FROM jobs WHERE state IN ('finished', 'failed', 'cancelled') "
            "ORDER BY finished DESC, rowid DESC LIMIT ?",
            (int(limit),),
        )
        return [self._row_dict(r) for r in rows]

    # ------------------------------------------------------------------ atomic writes: one statement each

    def complete(self, job_id: str, worker: str, **fields: Any) -> bool:
        """Record how a job ended, only while ``worker`` still owns it; False when it did not."""
        sets, values = self._assignments(fields)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND worker = ? AND state = 'running'", (*values, job_id, worker)
            )
            return cur.rowcount == 1

    def release(self, job_id: str, worker: str) -> bool:
        """Put a job this worker stopped (clean shutdown) back in the queue; the attempt does not count."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state = 'queued', worker = NULL, started = NULL, attempts = max(attempts - 1, 0), "
                "progress = '{}' WHERE id = ? AND worker = ? AND state = 'running'",
                (job_id, worker),
            )
            return cur.rowcount == 1

    def set_progress(self, job_id: str, worker: str, progress: Mapping[str, Any]) -> bool:
        """Store progress; returns True when the job should stop (cancel requested or no longer ours)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET progress = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (json.dumps(progress, default=str), job_id, worker),
            )
            if cur.rowcount != 1:
                return True
            row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return bool(row and row[0])

    def request_cancel(self, job_id: str) -> tuple[bool, str | None]:
        """Cancel a job that has not started, or flag a running one (its worker stops it at the next step).

        Returns ``(changed, state)``: ``(True, "cancelled")``, ``(True, "cancelling")``, or
        ``(False, state)`` when the job already ended (``state`` None for an unknown job).
        """
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ?, error = 'cancelled before it ran' "
                "WHERE id = ? AND state IN ('queued', 'interrupted')",
                (time.time(), job_id),
            )
            if cur.rowcount == 1:
                return True, "cancelled"
            cur = self._db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (job_id,))
            if cur.rowcount == 1:
                return True, "cancelling"
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return False, (row["state"] if row else None)

    def retry(self, job_id: str) -> tuple[bool, str | None]:
        """Queue a failed, cancelled or interrupted job again (attempts start over).

        Returns ``(True, "queued")``, or ``(False, state)`` when the job cannot be retried
        (``state`` None for an unknown job).
        """
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, worker = NULL, started = NULL, finished = NULL, "
                "progress = '{}', result = '{}', error = NULL, cancel_requested = 0 "
                f"WHERE id = ? AND state IN ({', '.join(repr(s) for s in RETRYABLE)})",
                (job_id,),
            )
            if cur.rowcount == 1:
                return True, "queued"
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return False, (row["state"] if row else None)

    def clear(self) -> int:
        """Delete every job waiting to run (queued, or interrupted and due a retry); returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE state IN ('queued', 'interrupted')").rowcount

    def get_flag(self, name: str) -> str | None:
        """Flags are rows of the ``flags`` table: every process on the database sees them."""
        rows = self._execute("SELECT value FROM flags WHERE name = ?", (name,))
        return rows[0]["value"] if rows else None

    def set_flag(self, name: str, value: str | None) -> None:
        if value is None:
            self._execute("DELETE FROM flags WHERE name = ?", (name,))
        else:
            self._execute("INSERT OR REPLACE INTO flags (name, value) VALUES (?, ?)", (name, value))

    # ------------------------------------------------------------------ workers

    def register_worker(self, worker: str) -> None:
        now = time.time()
        pid = os.getpid()
        self._execute(
            "INSERT OR REPLACE INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (worker, socket.gethostname(), boot_identity(), pid, process_identity(pid), now, now),
        )

    def heartbeat(self, worker: str) -> None:
        self._execute("UPDATE workers SET heartbeat = ? WHERE id = ?", (time.time(), worker))

    def unregister_worker(self, worker: str) -> None:
        self._execute("DELETE FROM workers WHERE id = ?", (worker,))

    def workers(self) -> list[dict[str, Any]]:
        """Every worker row (id, host, boot_id, pid, pid_start, started, heartbeat), oldest first."""
        return [dict(r) for r in self._execute("SELECT * FROM workers ORDER BY started")]

    def live_workers(self) -> list[str]:
        """The registered workers the dead-worker rule (module docstring) considers alive."""
        now = time.time()
        return [w["id"] for w in self.workers() if not worker_dead(w, now, self.stale_after_s)]

    def recover(
        self,
        max_retries: int = 1,
        on_interrupted: Callable[[dict[str, Any], set[str]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Settle the jobs of dead workers; returns them as dicts with their new state.

        ``on_interrupted(row, busy_dirs)`` runs for each job before its state
        changes (inside the write transaction), with the output folders of jobs
        that live workers are running: it removes what the dead attempt left.
        """
        query = (
            "SELECT j.id AS id, j.worker AS worker, j.attempts AS attempts, j.job AS job, j.progress AS progress, "
            "j.cancel_requested AS cancel_requested, "
            "w.host AS host, w.boot_id AS boot_id, w.pid AS pid, w.pid_start AS pid_start, w.heartbeat AS heartbeat "
            "FROM jobs j LEFT JOIN workers w ON w.id = j.worker WHERE j.state = 'running'"
        )
        now = time.time()
        if not any(worker_dead(dict(r), now, self.stale_after_s) for r in self._execute(query)):
            self._forget_dead_workers(now)
            return []

        def body() -> list[dict[str, Any]]:
            rows = [dict(r) for r in self._db.execute(query).fetchall()]
            dead = [r for r in rows if worker_dead(r, now, self.stale_after_s)]
            busy = {str(JobRecord.stored_object(r["job"]).get("output", {}).get("output_dir")) for r in rows if r not in dead}
            settled = []
            for r in dead:
                r["job"], r["progress"] = JobRecord.stored_object(r["job"]), JobRecord.stored_object(r["progress"])
                if on_interrupted is not None:
                    on_interrupted(r, busy)
                retry = r["attempts"] - 1 < max_retries
                if r.get("cancel_requested"):
                    r["state"], r["error"] = "cancelled", f"cancelled; worker {r['worker']} died while it ran"
                    self._db.execute(
                        "UPDATE jobs SET state = 'cancelled', error = ?, finished = ?, progress = '{}' "
                        "WHERE id = ? AND state = 'running'",
                        (r["error"], now, r["id"]),
                    )
                    settled.append(r)
                    continue
                r["state"] = "interrupted" if retry else "failed"
                r["error"] = (
                    f"worker {r['worker']} died during attempt {r['attempts']}"
                    if retry
                    else f"worker {r['worker']} died during attempt {r['attempts']}; max_retries={max_retries} reached"
                )
                self._db.execute(
                    "UPDATE jobs SET state = ?, error = ?, finished = ?, progress = '{}' WHERE id = ? AND state = 'running'",
                    (r["state"], r["error"], None if retry else now, r["id"]),
                )
                settled.append(r)
            return settled

        settled = self._transaction(body)
        self._forget_dead_workers(now)
        return settled

    def _forget_dead_workers(self, now: float) -> None:
        for row in self._execute("SELECT * FROM workers"):
            if worker_dead(dict(row), now, self.stale_after_s * 10):
                self._execute("DELETE FROM workers WHERE id = ?", (row["id"],))


@hookimpl
def register_queue_backends(register: Any) -> None:
    register(SqliteQueue)
