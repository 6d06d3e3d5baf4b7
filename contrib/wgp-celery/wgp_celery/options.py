"""The backend's settings: config ``queue_options`` when ``queue_backend`` is ``celery``.

Times are seconds.  The defaults suit real jobs (minutes to hours); tests shorten the lease,
heartbeat and intervals so that recovery happens in a second or two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from wgp_hookspecs import UserError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Keys the host adds to every backend's options (not the user's to set here).
HOST_KEYS = ("state_dir",)


@dataclass(frozen=True)
class CeleryOptions:
    #: Redis for wgp's own keys (jobs, leases, flags, events): ``redis://[:PASSWORD@]HOST:PORT/DB``,
    #: ``rediss://...`` (TLS) or ``unix:///PATH/redis.sock?db=N``.
    url: str = DEFAULT_URL
    #: Celery's broker; default: the same Redis as ``url``.
    broker_url: str | None = None
    #: First part of every Redis key and Celery queue name wgp uses (several queues on one Redis).
    prefix: str = "wgp"
    #: A running job's lease: a worker that has not renewed it for this long is dead, and its
    #: job is put back.  Bounds how long a job of a killed worker waits.
    lease_s: float = 10.0
    #: How often a worker renews its leases and looks for cancel requests (well under ``lease_s``).
    heartbeat_s: float = 2.0
    #: How often each worker looks for jobs of dead workers (and for jobs left without a token).
    reap_interval_s: float = 1.0
    #: How often each worker reads the paused flags and its stop flag.
    pause_poll_s: float = 0.5
    #: A cancelled job still running this long after the request is terminated (Celery revoke).
    cancel_grace_s: float = 10.0
    #: A waiting job that has been first in line this long with its model's Celery queue empty
    #: gets a new token (its own was lost with a killed process).
    token_grace_s: float = 5.0
    #: Celery's visibility timeout for the Redis broker: longer than the longest job, or Redis
    #: hands a running job's message out again (harmless here, but wasted).
    visibility_timeout_s: float = 12 * 3600.0

    @property
    def broker(self) -> str:
        """The broker URL in kombu's spelling (``redis+socket://`` for a unix socket)."""
        url = self.broker_url or self.url
        parts = urlsplit(url)
        if parts.scheme == "unix":
            db = parse_qs(parts.query).get("db", ["0"])[0]
            return f"redis+socket://{parts.path}?virtual_host={db}"
        return url


def parse_options(options: Mapping[str, Any]) -> CeleryOptions:
    """``queue_options`` as :class:`CeleryOptions`; anything unknown or out of range is a one-line UserError."""
    known = {f.name: f for f in fields(CeleryOptions)}
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key in HOST_KEYS:
            continue
        if key not in known:
            raise UserError(f"config queue_options: unknown key {key!r} for queue backend 'celery'; "
                            f"known: {', '.join(sorted(known))}")
        if key in ("url", "broker_url", "prefix"):
            if value is None and key == "broker_url":
                continue
            if not isinstance(value, str) or not value.strip():
                raise UserError(f"config queue_options.{key}: must be a non-empty string (got {value!r})")
            values[key] = value.strip()
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise UserError(f"config queue_options.{key}: must be a positive number of seconds (got {value!r})")
            values[key] = float(value)
    out = CeleryOptions(**values)
    for key in ("url", "broker_url"):
        url = getattr(out, key)
        if url is not None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise UserError(f"config queue_options.{key}: {url!r} is not a Redis URL (redis://, rediss:// or unix://)")
    if ":" in out.prefix or " " in out.prefix:
        raise UserError(f"config queue_options.prefix: {out.prefix!r} may not hold ':' or spaces")
    if out.heartbeat_s * 2 > out.lease_s:
        raise UserError(f"config queue_options: heartbeat_s ({out.heartbeat_s:g}) must be at most half of lease_s "
                        f"({out.lease_s:g}), or a slow renewal loses a live job")
    return out
