"""The ``celery`` queue backend: jobs in wgp's own Redis keys (:mod:`.store`), run by Celery workers.

A Celery message is a *token*, not a job: "a job for model M is waiting".  The job itself waits
in M's line in Redis, and a worker that gets a token claims, with one script, the first job of
that line (or, within the same priority, one for the model it has loaded: see
:meth:`CeleryQueue.claim_token`).  So priorities are exact, a queued job is cancelled by leaving
the line, and a token delivered twice (a killed worker's message coming back, a job longer than
the visibility timeout) can never run a job twice: at worst it finds the line empty.

Crash safety is a lease per running job, renewed by the worker's heartbeat; every worker's
reaper puts the job of an expired lease back in line (see :meth:`CeleryQueue.recover`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

from wgp_hookspecs import JOB_STATES, JobRecord, QueueBackend, UserError

from .options import CeleryOptions, parse_options
from .store import ENDED, WAITING, Store, record_of, row_of

#: The name of the one Celery task: ``wgp.job(model, hint)``.
TASK_NAME = "wgp.job"
_FIELDS = frozenset(JobRecord.__dataclass_fields__) - {"id"}
#: How long a reaper holds a dead attempt's job while it removes what the attempt left.
REAP_LEASE_MS = 60_000


def queue_name(prefix: str, model: str) -> str:
    """The Celery queue of one model's tokens."""
    return f"{prefix}.{model or '_'}"


def stop_flag(worker: str) -> str:
    """Set while ``worker`` shuts down: its pool processes put their jobs back."""
    return f"stop:{worker}"


class CeleryQueue(QueueBackend):
    """Jobs in Redis, shared by any number of machines; ``wgp queue work`` runs a Celery worker."""

    name = "celery"
    description = "Jobs in Redis (wgp's own keys), run by Celery workers on any number of machines (wgp-celery)"
    persistent_flags = True
    serves_workers = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options or {})
        self.settings: CeleryOptions = parse_options(self.options)
        self.heartbeat_interval_s = self.settings.heartbeat_s
        self.store = Store(self.settings.url, self.settings.prefix)
        self.lease_ms = int(self.settings.lease_s * 1000)
        #: Jobs claimed through this instance: job id -> worker (``heartbeat`` renews their leases).
        self._owned: dict[str, str] = {}
        self._registered: dict[str, dict[str, Any]] = {}
        #: model -> (first member of its line, when it was first seen first), for lost tokens.
        self._heads: dict[str, tuple[str, float]] = {}
        self._app: Any = None
        self._broker_redis: Any = None

    # ------------------------------------------------------------------ tokens

    def celery_app(self) -> Any:
        """The Celery app tokens are sent with (a worker sets its own)."""
        if self._app is None:
            from .worker import make_app

            self._app = make_app(self.settings)
        return self._app

    def send_token(self, model: str, hint: str = "") -> None:
        """Tell the workers of ``model`` that a job of it waits (``hint``: which one, for logs only)."""
        self.celery_app().send_task(TASK_NAME, args=[model, hint], queue=queue_name(self.settings.prefix, model),
                                    ignore_result=True)

    def _broker(self) -> Any:
        if self._broker_redis is None:
            if self.settings.broker_url in (None, self.settings.url):
                self._broker_redis = self.store.redis
            else:
                import redis

                self._broker_redis = redis.Redis.from_url(self.settings.broker_url, decode_responses=True)
        return self._broker_redis

    def resend_lost_tokens(self, now: float | None = None) -> list[str]:
        """Send a token for each model whose first waiting job has not moved for ``token_grace_s``
        while its Celery queue is empty: its token died with a process (a worker killed between a
        job's write and its token, or a whole worker holding a prefetched message).  A token too
        many costs one empty claim; one too few strands a job.  Returns the models served."""
        now = time.monotonic() if now is None else now
        heads = self.store.pending_heads()
        for model in list(self._heads):
            if model not in heads:
                del self._heads[model]
        sent = []
        for model, head in heads.items():
            seen = self._heads.get(model)
            if seen is None or seen[0] != head:
                self._heads[model] = (head, now)
                continue
            if now - seen[1] < self.settings.token_grace_s:
                continue
            if self._broker().llen(queue_name(self.settings.prefix, model)) == 0:
                self.send_token(model, "resent")
                sent.append(model)
            self._heads[model] = (head, now)
        return sent

    # ------------------------------------------------------------------ abstract

    def add(self, job: Mapping[str, Any], priority: int = 0) -> str:
        job_id = str(job.get("id") or uuid.uuid4().hex[:12])
        model = _model_of(job)
        body = json.dumps({**job, "id": job_id}, default=str)
        if not self.store.add(job_id, body, int(priority), model, time.time()):
            raise UserError(f"job {job_id} is already in the queue")
        self.send_token(model, job_id)
        return job_id

    def claim(self, worker: str) -> JobRecord | None:
        return self.claim_for(worker)

    def claim_for(self, worker: str, *, prefer: str | None = None, models: Sequence[str] | None = None) -> JobRecord | None:
        candidates = sorted(self.store.redis.smembers(self.store.key("models"))) if models is None else list(models)
        return self._claim(worker, candidates, prefer, "")

    def claim_token(self, worker: str, token_model: str, *, prefer: str | None, models: Sequence[str] | None,
                    task_id: str) -> JobRecord | None:
        """What a token for ``token_model`` gets a worker: the first job of that model's line, or,
        within the same priority, one for ``prefer`` (the loaded model) when the worker takes
        ``prefer``'s jobs.  A job of the other model was claimed with this token, so the token
        goes back to ``token_model``'s queue while its line still holds jobs."""
        candidates = [token_model]
        if prefer and prefer != token_model and (models is None or prefer in models):
            candidates.append(prefer)
        record = self._claim(worker, candidates, prefer, task_id)
        if record is not None and _model_of(record.job) != token_model and self.store.waiting(token_model):
            self.send_token(token_model, "swapped")
        return record

    def _claim(self, worker: str, models: Sequence[str], prefer: str | None, task_id: str) -> JobRecord | None:
        fields = self.store.claim(worker, self.lease_ms, time.time(), prefer, task_id, models)
        if fields is None:
            return None
        self._owned[fields["id"]] = worker
        return record_of(fields)

    def update(self, job_id: str, **fields: Any) -> None:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {', '.join(sorted(unknown))}")
        if "state" in fields and fields["state"] not in JOB_STATES:
            raise ValueError(f"unknown job state {fields['state']!r}")
        pairs = [x for item in fields.items() for x in item]
        before = self.get(job_id) if fields.get("state") in WAITING else None
        if self.store.run("update", job_id, *pairs) and before is not None and before.state not in WAITING:
            self.send_token(_model_of(before.job), job_id)

    def get(self, job_id: str) -> JobRecord | None:
        fields = self.store.fields(job_id)
        return record_of(fields) if fields else None

    def list(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        return [record_of(f) for f in self._hashes(states)]

    def _hashes(self, states: Sequence[str] | None, limit: int | None = None) -> list[dict[str, str]]:
        found = self.store.many(self.store.ids(states))
        found.sort(key=lambda f: int(f.get("seq") or 0))
        return found[: int(limit)] if limit else found

    # ------------------------------------------------------------------ reading

    def rows(self, states: Sequence[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        return [row_of(f) for f in self._hashes(states, limit)]

    def counts(self) -> dict[str, int]:
        return dict(zip(JOB_STATES, self.store.counts(JOB_STATES)))

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        return [row_of(f) for f in self.store.recent(limit)]

    def running_jobs(self) -> list[dict[str, str]]:
        """The stored fields of every running job (with ``task``, ``cancel_at``), for the supervisor."""
        return self._hashes(["running"])

    # ------------------------------------------------------------------ a worker's own job

    def set_progress(self, job_id: str, worker: str, progress: Mapping[str, Any]) -> bool:
        answer = int(self.store.run("progress", job_id, worker, self.lease_ms, json.dumps(dict(progress), default=str)))
        if answer < 0:
            self._owned.pop(job_id, None)
        return answer != 0

    def complete(self, job_id: str, worker: str, **fields: Any) -> bool:
        state = fields.get("state")
        if state not in ENDED:
            raise ValueError(f"complete needs an end state ({', '.join(ENDED)}), got {state!r}")
        pairs = [x for key, value in fields.items() if key != "state" for x in (key, value)]
        self._owned.pop(job_id, None)
        return bool(self.store.run("complete", job_id, worker, state, *pairs))

    def release(self, job_id: str, worker: str) -> bool:
        self._owned.pop(job_id, None)
        record = self.get(job_id)
        if not self.store.run("release", job_id, worker):
            return False
        self.send_token(_model_of(record.job) if record else "", job_id)
        return True

    # ------------------------------------------------------------------ control

    def request_cancel(self, job_id: str) -> tuple[bool, str | None]:
        changed, state = self.store.run("cancel", job_id, time.time())
        return bool(changed), (state or None)

    def retry(self, job_id: str) -> tuple[bool, str | None]:
        before = self.get(job_id)
        changed, state = self.store.run("retry", job_id)
        if changed and before is not None and before.state != "interrupted":  # an interrupted job has its token
            self.send_token(_model_of(before.job), job_id)
        return bool(changed), (state or None)

    def clear(self) -> int:
        return int(self.store.run("clear"))

    def get_flag(self, name: str) -> str | None:
        return self.store.redis.get(self.store.key("flag", name))

    def set_flag(self, name: str, value: str | None) -> None:
        key = self.store.key("flag", name)
        if value is None:
            self.store.redis.delete(key)
        else:
            self.store.redis.set(key, value)

    def publish(self, event: Mapping[str, Any]) -> None:
        self.store.redis.publish(self.store.key("events"), json.dumps(dict(event), default=str))

    # ------------------------------------------------------------------ workers

    def _alive_ms(self) -> int:
        return int(max(self.settings.lease_s, 3 * self.settings.reap_interval_s) * 1000)

    def register_worker(self, worker: str, **info: Any) -> None:
        """Record ``worker`` (``info``: what ``workers()`` shows of it, e.g. its models)."""
        now = time.time()
        self._registered[worker] = {"host": socket.gethostname(), "pid": os.getpid(), "started": now, **info}
        self._beat(worker, now)

    def _beat(self, worker: str, now: float) -> None:
        row = dict(self._registered[worker], heartbeat=now)
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.hset(self.store.key("workers"), worker, json.dumps(row, default=str))
        pipe.set(self.store.key("alive", worker), "1", px=self._alive_ms())
        pipe.execute()

    def heartbeat(self, worker: str) -> None:
        """Renew the leases of the jobs ``worker`` claimed through this instance (and its own row)."""
        if worker in self._registered:
            self._beat(worker, time.time())
        for job_id, owner in list(self._owned.items()):
            if owner == worker and int(self.store.run("progress", job_id, worker, self.lease_ms, "")) < 0:
                self._owned.pop(job_id, None)

    def unregister_worker(self, worker: str) -> None:
        self._registered.pop(worker, None)
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.hdel(self.store.key("workers"), worker)
        pipe.delete(self.store.key("alive", worker))
        pipe.execute()

    def workers(self) -> list[dict[str, Any]]:
        rows = self.store.redis.hgetall(self.store.key("workers"))
        alive = set(self.live_workers())
        out = [{"id": worker, **json.loads(info), "alive": worker in alive} for worker, info in rows.items()]
        return sorted(out, key=lambda w: w.get("started") or 0.0)

    def live_workers(self) -> list[str]:
        ids = sorted(self.store.redis.hkeys(self.store.key("workers")))
        pipe = self.store.redis.pipeline(transaction=False)
        for worker in ids:
            pipe.exists(self.store.key("alive", worker))
        return [worker for worker, exists in zip(ids, pipe.execute()) if exists]

    def recover(
        self,
        max_retries: int = 1,
        on_interrupted: Callable[[dict[str, Any], set[str]], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Settle the running jobs whose lease ran out: their worker is dead (or stopped for longer
        than ``lease_s``, which is the same to everyone else).

        For each: take the job with a reaper's lease (so neither its old worker nor another reaper
        can touch it), let ``on_interrupted`` remove what the attempt left, then put it back in
        line (``interrupted``, with a new token), or ``failed`` beyond ``max_retries``, or
        ``cancelled`` when a cancel was requested.  A reaper that dies half-way leaves its lease
        to run out: the next one does it all again.
        """
        running = self.running_jobs()
        dead = set(self.store.leases_missing([f["id"] for f in running]))
        self._forget_dead_workers()
        if not dead:
            return []
        busy = {str(_output_dir(f)) for f in running if f["id"] not in dead}
        me = f"reaper:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        settled = []
        for job_id in sorted(dead):
            found = self.store.run("fence", job_id, me, REAP_LEASE_MS)
            if not found:
                continue
            row = row_of(dict(zip(found[::2], found[1::2])))
            if on_interrupted is not None:
                on_interrupted(row, busy)
            worker, attempts = row["worker"], row["attempts"]
            if row["cancel_requested"]:
                state, error = "cancelled", f"cancelled; worker {worker} died while it ran"
            elif attempts - 1 < max_retries:
                state, error = "interrupted", f"worker {worker} died during attempt {attempts} (its lease ran out)"
            else:
                state, error = "failed", f"worker {worker} died during attempt {attempts}; max_retries={max_retries} reached"
            finished = None if state == "interrupted" else time.time()
            if not self.store.run("settle", job_id, me, state, error, finished):
                continue
            row["state"], row["error"] = state, error
            settled.append(row)
            if state == "interrupted":
                self.send_token(_model_of(row["job"]), job_id)
        return settled

    def _forget_dead_workers(self) -> None:
        """Drop worker rows that have been silent for a long while (a dead worker is listed for a time)."""
        rows = self.store.redis.hgetall(self.store.key("workers"))
        cutoff = time.time() - 100 * max(self.settings.lease_s, 1.0)
        stale = [w for w, info in rows.items() if float(json.loads(info).get("heartbeat") or 0) < cutoff]
        if stale:
            self.store.redis.hdel(self.store.key("workers"), *stale)

    # ------------------------------------------------------------------ serving

    def serve(self, service: Any) -> int:
        from .worker import serve

        return serve(self, service)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
        self.store.close()


def _model_of(job: Mapping[str, Any]) -> str:
    return str(((job or {}).get("request") or {}).get("model") or "")


def _output_dir(fields: Mapping[str, str]) -> Any:
    job = json.loads(fields.get("job") or "{}")
    return (job.get("output") or {}).get("output_dir")
