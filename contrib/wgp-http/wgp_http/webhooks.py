"""Webhooks: a progress sink (``webhook``) that calls the URL a job named when it ends.

A job submitted with ``"webhook": URL`` (``POST /v1/jobs``) has its URL stored beside the queue
(``<state_dir>/http.sqlite``).  A worker with ``"progress_sinks": ["webhook"]`` in its config
POSTs to that URL on ``job.finished``, ``job.failed`` and ``job.cancelled``:

- body: the event as JSON (``schema``, ``event``, ``job``, ``ts`` and its fields);
- ``X-Wgp-Signature: sha256=HEX``: HMAC-SHA256 of the body with the secret in
  ``<state_dir>/webhook.secret`` (created 0600 on first use), ``X-Wgp-Event``, ``X-Wgp-Delivery``;
- retries on a network error or a non-2xx answer, with exponential backoff
  (:data:`ATTEMPTS` tries, :data:`BACKOFF_S` doubling; ``WGP_WEBHOOK_BACKOFF_S`` changes it).

Deliveries run on one background thread with a bounded queue: the worker hands the event over
and goes on; a URL that hangs or keeps failing costs that thread's time, never the worker's.
A job cancelled while it waited never reaches a worker: ``POST /v1/jobs/{id}/cancel`` calls its
webhook itself, from the server (a ``wgp queue cancel`` on the command line does not).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from wgp_hookspecs import ProgressEvent, ProgressSink, SinkOptions

# The sink is registered at every start-up: sqlite3 and urllib are imported when a job ends.
FILE_NAME = "http.sqlite"  # wgp_http.store.FILE_NAME
TERMINAL_EVENTS = ("job.finished", "job.failed", "job.cancelled")

log = logging.getLogger("wgp.http.webhooks")

SECRET_FILE = "webhook.secret"
ATTEMPTS = 5
BACKOFF_S = 0.5
TIMEOUT_S = 5.0
#: Deliveries waiting at once; beyond this new ones are dropped (and logged), never waited for.
MAX_PENDING = 1000
#: Seconds ``close`` lets pending deliveries finish.
CLOSE_WAIT_S = 2.0


def secret(state_dir: str | Path) -> bytes:
    """The signing secret of a state dir, created (mode 0600) on first use."""
    path = Path(state_dir) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip().encode()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode()


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class WebhookSink(ProgressSink):
    name = "webhook"
    description = "Calls the webhook URL a job was submitted with (POST /v1/jobs) when it ends"

    def __init__(self, options: SinkOptions) -> None:
        super().__init__(options)
        state_dir = (options.extra or {}).get("state_dir") or options.target
        self.state_dir = Path(state_dir) if state_dir else None
        self.backoff_s = float(os.environ.get("WGP_WEBHOOK_BACKOFF_S", BACKOFF_S))
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._key: bytes | None = None

    def emit(self, event: ProgressEvent) -> None:
        if event.event not in TERMINAL_EVENTS or event.job is None or self.state_dir is None:
            return
        import sqlite3

        try:
            url = self._url(str(event.job))
        except sqlite3.Error:
            log.warning("could not read the webhook of job %s", event.job, exc_info=True)
            return
        if not url:
            return
        if self._thread is None:
            self._key = secret(self.state_dir)
            self._thread = threading.Thread(target=self._deliver_all, name="wgp-webhooks", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait((url, event.to_dict()))
        except queue.Full:
            log.warning("webhook of job %s dropped: %d deliveries already wait", event.job, MAX_PENDING)

    def _url(self, job_id: str) -> str | None:
        path = self.state_dir / FILE_NAME if self.state_dir else None
        if path is None or not path.exists():
            return None
        import sqlite3

        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            row = db.execute("SELECT url FROM webhooks WHERE job = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def _deliver_all(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.deliver(*item)
            except Exception:  # noqa: BLE001 - one bad delivery must not end the thread
                log.warning("webhook delivery failed", exc_info=True)

    def deliver(self, url: str, event: dict[str, Any]) -> bool:
        """POST ``event`` to ``url``, retrying with backoff; True once it was answered 2xx."""
        import urllib.error
        import urllib.request

        body = json.dumps(event).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "wgp-webhook/1",
                   "X-Wgp-Event": str(event.get("event")), "X-Wgp-Delivery": uuid.uuid4().hex,
                   "X-Wgp-Signature": sign(self._key or b"", body)}
        delay = self.backoff_s
        for attempt in range(1, ATTEMPTS + 1):
            try:
                request = urllib.request.Request(url, data=body, headers={**headers, "X-Wgp-Attempt": str(attempt)}, method="POST")
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - http(s) only, checked at submit
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.info("webhook %s attempt %d: %s", url, attempt, exc)
            if attempt < ATTEMPTS:
                time.sleep(delay)
                delay *= 2
        log.warning("webhook %s for job %s gave up after %d attempts", url, event.get("job"), ATTEMPTS)
        return False

    def close(self) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return
        self._thread.join(timeout=CLOSE_WAIT_S)
