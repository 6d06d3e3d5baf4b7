"""What the HTTP API keeps beside the queue: idempotency keys and the jobs' event log.

One SQLite file, ``<state_dir>/http.sqlite``, shared by every ``wgp serve`` on a state dir.

The queue backends keep a job's current state, not its history (the SQLite backend stores
``progress`` and ``result`` in the job row and no events), so the event log is derived: the
server compares each job record with what it last observed and appends the events that
explain the difference (``job.queued``, ``job.started``, ``step``, ``artifact``,
``job.finished`` ...).  The log's sequence numbers are the SSE event ids: they survive server
restarts, so a client resumes with ``Last-Event-ID``.  A step that began and ended between
two observations appears once, at its last value; states are never skipped.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import ENDED_STATES, SCHEMA_VERSION

FILE_NAME = "http.sqlite"
#: Events after which a job's stream ends.
TERMINAL_EVENTS = ("job.finished", "job.failed", "job.cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, job TEXT NOT NULL, body_sha256 TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events (job, seq);
CREATE TABLE IF NOT EXISTS observed (
    job TEXT PRIMARY KEY, state TEXT NOT NULL, attempts INTEGER NOT NULL, step INTEGER, artifacts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (job TEXT PRIMARY KEY, url TEXT NOT NULL);
"""


class HttpStore:
    """The SQLite file; one connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Observing is read-compare-append: one thread at a time in this process, and the
        # IMMEDIATE transaction keeps two servers on one state dir from writing an event twice.
        self._sync_lock = threading.Lock()
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    # ------------------------------------------------------------------ idempotency

    def claim_key(self, key: str, job_id: str, body_sha256: str) -> tuple[str, str] | None:
        """Reserve ``key`` for ``job_id``; None when it is ours now, else ``(job, body_sha256)`` of
        the submit that holds it."""
        db = self._db()
        try:
            db.execute("INSERT INTO idempotency (key, job, body_sha256, created) VALUES (?, ?, ?, ?)",
                       (key, job_id, body_sha256, time.time()))
            return None
        except sqlite3.IntegrityError:
            row = db.execute("SELECT job, body_sha256 FROM idempotency WHERE key = ?", (key,)).fetchone()
            return (row[0], row[1]) if row else None

    def release_key(self, key: str, job_id: str) -> None:
        """Forget a reservation whose submit was refused, so a corrected retry may use the key."""
        self._db().execute("DELETE FROM idempotency WHERE key = ? AND job = ?", (key, job_id))

    # ------------------------------------------------------------------ webhooks

    def set_webhook(self, job_id: str, url: str) -> None:
        self._db().execute("INSERT OR REPLACE INTO webhooks (job, url) VALUES (?, ?)", (job_id, url))

    def webhook(self, job_id: str) -> str | None:
        row = self._db().execute("SELECT url FROM webhooks WHERE job = ?", (job_id,)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ events

    def events(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The job's logged events with a sequence number above ``after``, oldest first; each
        has ``id`` (the sequence number) besides the event's own fields."""
        rows = self._db().execute("SELECT seq, data FROM events WHERE job = ? AND seq > ? ORDER BY seq",
                                  (job_id, int(after))).fetchall()
        return [{"id": seq, **json.loads(data)} for seq, data in rows]

    def observe(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Append the events that lead from the last observation of this job to ``record`` (a
        ``JobRecord.to_dict()``); returns them."""
        job_id = str(record["id"])
        with self._sync_lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT state, attempts, step, artifacts FROM observed WHERE job = ?", (job_id,)).fetchone()
                new = _derive(record, row)
                if new:
                    db.executemany("INSERT INTO events (job, event, data) VALUES (?, ?, ?)",
                                   [(job_id, e["event"], json.dumps(e)) for e in new])
                    progress = record.get("progress") or {}
                    db.execute("INSERT OR REPLACE INTO observed (job, state, attempts, step, artifacts) VALUES (?, ?, ?, ?, ?)",
                               (job_id, record["state"], int(record.get("attempts") or 0), progress.get("step"),
                                len(_artifacts(record))))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _artifacts(record: Mapping[str, Any]) -> list[Any]:
    """The result's artifact records (role, path, sha256, ...): the progress holds only paths, so
    artifact events wait for the result, which the worker stores as the job ends."""
    return list((record.get("result") or {}).get("artifacts") or [])


def _event(name: str, job_id: str, ts: float | None, /, **fields: Any) -> dict[str, Any]:
    out = {"schema": SCHEMA_VERSION, "event": name, "job": job_id, "ts": ts if ts is not None else time.time()}
    out.update((k, v) for k, v in fields.items() if k not in out)  # a record's own keys never replace these
    return out


def _derive(record: Mapping[str, Any], seen: tuple[str, int, int | None, int] | None) -> list[dict[str, Any]]:
    job_id, state = str(record["id"]), str(record["state"])
    attempts = int(record.get("attempts") or 0)
    progress = record.get("progress") or {}
    out: list[dict[str, Any]] = []
    if seen is None:
        out.append(_event("job.queued", job_id, record.get("created"), priority=record.get("priority", 0)))
        seen = ("queued", 0, None, 0)
    old_state, old_attempts, old_step, old_artifacts = seen
    if old_state in ENDED_STATES and state == old_state:
        return out
    if state == "queued" and old_state not in ("queued",):
        out.append(_event("job.queued", job_id, None, requeued=True))
        old_step, old_artifacts = None, 0
    if state == "interrupted" and old_state != "interrupted":
        out.append(_event("job.interrupted", job_id, None, error=record.get("error")))
    if attempts > old_attempts and (state == "running" or state in ENDED_STATES) and record.get("started"):
        out.append(_event("job.started", job_id, record.get("started"), attempt=attempts))
        old_step, old_artifacts = None, 0
    step = progress.get("step")
    if (state == "running" or state in ENDED_STATES) and isinstance(step, int) and step >= 1 and step != old_step:
        # Steps are counted from 1 (0 is "started, no step yet"); every step since the last look
        # happened, so each gets its event, the last ones too when the job ended in between.
        first = old_step + 1 if isinstance(old_step, int) and 0 <= old_step < step else step
        out += [_event("step", job_id, None, step=n, total=progress.get("total")) for n in range(first, step + 1)]
    artifacts = _artifacts(record)
    for index, item in enumerate(artifacts[old_artifacts:], start=old_artifacts):
        # The file's name, not its path on the server (as GET /v1/jobs/{id}/artifacts).
        fields = {k: v for k, v in dict(item).items() if k not in ("path", "index")}
        fields["name"] = Path(str(item.get("path"))).name
        out.append(_event("artifact", job_id, record.get("finished"), index=index, **fields))
    if state in ENDED_STATES and state != old_state:
        name = {"finished": "job.finished", "failed": "job.failed", "cancelled": "job.cancelled"}[state]
        extra = {"error": record.get("error")} if state != "finished" else {}
        out.append(_event(name, job_id, record.get("finished"), **extra))
    return out
