"""The HTTP API's domain, in plain functions over the host interface: no HTTP here.

The routes (:mod:`wgp_http.app`), the MCP tools and the tests call these.  Every job goes
through :meth:`Host.queue_job`, the code path of ``wgp queue add``: the door's checks and
messages are the CLI's.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import ENDED_STATES, Host, JobOptions, ParameterError, ProgressEvent, SinkOptions, UserError

from .store import HttpStore
from .webhooks import WebhookSink

#: Top-level fields of a job request, with the JSON type each must have.
REQUEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "params": dict,
    "set": list,
    "resolution": str,
    "profile": str,
    "writers": list,
    "metadata_mode": str,
    "plan": dict,
    "adapters": dict,
    "priority": int,
    "webhook": str,
}


#: How often :meth:`JobService.watch` looks at the running jobs (a step of a tiny model takes longer).
WATCH_S = 0.1


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, one-line ``message``, the ``field`` it is about."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}


class JobService:
    """The queue as the API sees it, for one host and config file."""

    def __init__(self, host: Host, config_file: str | None = None) -> None:
        self.host = host
        self.config_file = config_file
        self.state_dir = host.directory("state_dir", config_file)
        self.store = HttpStore(self.state_dir)
        # One backend connection per thread, kept: opening and closing one per request is most
        # of a status request's time.
        self._local = threading.local()
        self._backends: list[Any] = []
        self._backends_lock = threading.Lock()
        self._webhook_sink: WebhookSink | None = None
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()

    def backend(self) -> Any:
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = self._local.backend = self.host.queue(self.config_file)
            with self._backends_lock:
                self._backends.append(backend)
        return backend

    # ------------------------------------------------------------------ models

    def models(self) -> list[dict[str, Any]]:
        """The registered models with their parameter schemas, as ``wgp models --json`` lists them."""
        rows = []
        for model_id in self.host.model_ids():
            family, spec = self.host.model(model_id)
            rows.append({
                "id": model_id,
                "family": family.name,
                "description": spec.description,
                "capabilities": sorted(spec.capabilities),
                "weights": spec.weights,
                "defaults": spec.defaults(),
                "params": [p.describe() for p in spec.params],
                "tiny": family.build_tiny is not None,
            })
        return rows

    # ------------------------------------------------------------------ submit

    def submit(self, body: Any, idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Validate and queue one job; returns the job as :meth:`job` describes it and whether it is
        new (False: an earlier submit with the same ``Idempotency-Key`` made it)."""
        options, priority, webhook = parse_request(body)
        if not idempotency_key:
            job_id, warnings = self._queue(options, priority, None, webhook)
            return self.job(job_id, warnings=warnings), True
        job_id = uuid.uuid4().hex[:12]
        held = self._claim(idempotency_key, job_id, body)
        if held is not None:
            return self._wait_for(lambda: self.job(held)), False
        try:
            _, warnings = self._queue(options, priority, job_id, webhook)
        except BaseException:
            self.store.release_key(idempotency_key, job_id)
            raise
        return self.job(job_id, warnings=warnings), True

    def submit_batch(self, body: Any, idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Validate every job of a sweep (``"sweep": {"seed": "1..4"}`` or ``["seed=1..4"]`` besides a
        job request's fields), queue them all or none; returns the batch rolled up and whether it is new."""
        if not isinstance(body, dict):
            raise ApiError(400, f"the request body must be a JSON object (got {type(body).__name__})")
        sweeps = parse_sweep(body.get("sweep"))
        options, priority, webhook = parse_request({k: v for k, v in body.items() if k != "sweep"})
        batch_id = "batch-" + uuid.uuid4().hex[:10]
        if idempotency_key:
            held = self._claim(idempotency_key, batch_id, body)
            if held is not None:
                return self._wait_for(lambda: self.batch(held)), False
        try:
            try:
                self.host.model(str(options.model))
            except UserError as exc:
                raise ApiError(422, str(exc), "model") from None
            try:
                batch, ids, warnings = self.host.queue_batch(options, sweeps, priority=priority, batch_id=batch_id,
                                                             config_file=self.config_file)
            except ParameterError as exc:
                raise ApiError(422, str(exc), field_name(exc.param)) from None
            except UserError as exc:
                raise ApiError(422, str(exc), "sweep" if _SWEEP_LABEL.match(str(exc)) else guess_field(str(exc))) from None
        except BaseException:
            if idempotency_key:
                self.store.release_key(idempotency_key, batch_id)
            raise
        if webhook:
            for job_id in ids:
                self.store.set_webhook(job_id, webhook)
        return {**self.batch(batch), "warnings": warnings}, True

    def batch(self, batch_id: str) -> dict[str, Any]:
        info = self.host.batch_status(batch_id, config_file=self.config_file)
        if info is None:
            raise ApiError(404, f"no batch {batch_id!r} in the queue", "id")
        return {"id": batch_id, "object": "batch", **{k: v for k, v in info.items() if k != "batch"}}

    def _claim(self, key: str, new_id: str, body: Any) -> str | None:
        """Reserve an Idempotency-Key for ``new_id``; None when reserved now, else the id that holds it
        (409 when that submit had another body)."""
        if len(key) > 255:
            raise ApiError(400, "Idempotency-Key: at most 255 characters", "Idempotency-Key")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()
        held = self.store.claim_key(key, new_id, digest)
        if held is None:
            return None
        if held[1] != digest:
            raise ApiError(409, f"Idempotency-Key {key!r} was used for another request ({held[0]})", "Idempotency-Key")
        return held[0]

    @staticmethod
    def _wait_for(read: Any) -> Any:
        """``read()`` once the first submit with a key has stored what it made (two retries at once)."""
        deadline = time.monotonic() + 10.0
        while True:
            try:
                return read()
            except ApiError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _queue(self, options: JobOptions, priority: int, job_id: str | None, webhook: str | None) -> tuple[str, list[str]]:
        try:
            self.host.model(str(options.model))
        except UserError as exc:
            raise ApiError(422, str(exc), "model") from None
        try:
            job_id, warnings = self.host.queue_job(options, priority=priority, job_id=job_id, config_file=self.config_file)
        except ParameterError as exc:
            raise ApiError(422, str(exc), field_name(exc.param)) from None
        except UserError as exc:
            raise ApiError(422, str(exc), guess_field(str(exc))) from None
        if webhook:
            self.store.set_webhook(job_id, webhook)
        return job_id, warnings

    # ------------------------------------------------------------------ jobs

    def record(self, job_id: str) -> dict[str, Any]:
        record = self.backend().get(job_id)
        if record is None:
            raise ApiError(404, f"no job {job_id!r} in the queue", "id")
        data = record.to_dict()
        self.store.observe(data)
        return data

    def job(self, job_id: str, warnings: list[str] | None = None) -> dict[str, Any]:
        """One job: state, progress, error and artifacts (what ``wgp queue status JOB --json`` shows)."""
        out = describe(self.record(job_id))
        if warnings is not None:
            out["warnings"] = list(warnings)
        return out

    def cancel(self, job_id: str) -> dict[str, Any]:
        changed, state = self.backend().request_cancel(job_id)
        if state is None:
            raise ApiError(404, f"no job {job_id!r} in the queue", "id")
        if not changed:
            raise ApiError(409, f"job {job_id} is already {state}", "id")
        if state == "cancelled":
            # It never reaches a worker, whose webhook sink would call the job's URL: call it here.
            event = ProgressEvent("job.cancelled", job=job_id, fields={"reason": "cancelled before it ran"})
            self._webhooks().emit(event)
        return {**self.job(job_id), "cancel": state}

    def _webhooks(self) -> WebhookSink:
        with self._backends_lock:
            if self._webhook_sink is None:
                self._webhook_sink = WebhookSink(SinkOptions(extra={"state_dir": str(self.state_dir)}))
            return self._webhook_sink

    def events(self, job_id: str, after: int = 0) -> tuple[list[dict[str, Any]], bool]:
        """The job's events after sequence number ``after`` (observing the record first), and
        whether the job has ended."""
        record = self.record(job_id)
        return self.store.events(job_id, after), record["state"] in ENDED_STATES

    def artifacts(self, job_id: str) -> list[dict[str, Any]]:
        return list((self.record(job_id).get("result") or {}).get("artifacts") or [])

    def artifact(self, job_id: str, index: int) -> dict[str, Any]:
        items = self.artifacts(job_id)
        if not 0 <= index < len(items):
            raise ApiError(404, f"job {job_id} has no artifact {index} (it has {len(items)})", "n")
        item = items[index]
        if not Path(str(item.get("path"))).is_file():
            raise ApiError(410, f"artifact {index} of job {job_id} is gone from {item.get('path')}", "n")
        return item

    # ------------------------------------------------------------------ queue

    def queue_status(self) -> dict[str, Any]:
        backend = self.backend()
        return {"backend": backend.name, "paused": backend.get_flag("paused") is not None,
                "counts": backend.counts(), "workers": backend.live_workers()}

    def set_paused(self, paused: bool) -> dict[str, Any]:
        """The queue-wide paused flag in the database: workers adopt it between jobs."""
        backend = self.backend()
        if not backend.persistent_flags:
            raise ApiError(409, f"queue backend {backend.name!r} cannot be paused without a worker's control channel")
        was = backend.get_flag("paused") is not None
        backend.set_flag("paused", "1" if paused else None)
        return {**self.queue_status(), "changed": was != paused}

    def watch(self, interval: float = WATCH_S) -> None:
        """Observe every running job every ``interval`` seconds from a thread of its own, so the
        event log holds a job's steps even when no client followed it while it ran."""
        if self._watcher is not None:
            return
        stop = self._stop_watching

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    for row in self.backend().rows(("running",)):
                        self.store.observe(row)
                except Exception:  # noqa: BLE001 - a busy database this round: the next one catches up
                    continue

        self._watcher = threading.Thread(target=loop, name="wgp-http-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        with self._backends_lock:
            backends, self._backends = self._backends, []
        for backend in backends:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - a connection of another thread: best effort at shutdown
                pass
        if self._webhook_sink is not None:
            self._webhook_sink.close()
        self.store.close()


def parse_request(body: Any) -> tuple[JobOptions, int, str | None]:
    """A job request's JSON into :class:`JobOptions`; shapes are checked here, values at the door."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the request body must be a JSON object (got {type(body).__name__})")
    unknown = sorted(set(body) - set(REQUEST_FIELDS))
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r}; known: {', '.join(REQUEST_FIELDS)}", unknown[0])
    for name, kind in REQUEST_FIELDS.items():
        if name in body and body[name] is not None:
            value = body[name]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ApiError(422, f"{name} must be a JSON {_json_type(kind)}", name)
    if not body.get("model"):
        raise ApiError(422, "no model given: set model (see GET /v1/models)", "model")
    for name in ("set", "writers"):
        if not all(isinstance(item, str) for item in body.get(name) or ()):
            raise ApiError(422, f"{name} must be a list of strings", name)
    webhook = body.get("webhook")
    if webhook is not None and not str(webhook).startswith(("http://", "https://")):
        raise ApiError(422, "webhook must be an http:// or https:// URL", "webhook")
    options = JobOptions(
        model=body["model"],
        profile=body.get("profile"),
        params=dict(body.get("params") or {}),
        set_items=tuple(body.get("set") or ()),
        resolution=body.get("resolution"),
        writers=tuple(body.get("writers") or ()),
        metadata_mode=body.get("metadata_mode"),
        plan_options=dict(body.get("plan") or {}),
        adapter_options=dict(body.get("adapters") or {}),
    )
    return options, int(body.get("priority") or 0), webhook


#: A batch door message about one combination (``seed=3: ...``) or the sweep itself (``--sweep ...``).
_SWEEP_LABEL = re.compile(r"^((line \d+, )?\w+=[^:]*: |--sweep)")


def parse_sweep(value: Any) -> tuple[str, ...]:
    """``{"seed": "1..4", "steps": [2, 4]}`` or ``["seed=1..4"]`` as ``--sweep`` items."""
    if isinstance(value, dict) and value:
        items = []
        for key, values in value.items():
            if isinstance(values, list) and values and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
                items.append(f"{key}={','.join(str(v) for v in values)}")
            elif isinstance(values, str):
                items.append(f"{key}={values}")
            else:
                raise ApiError(422, f"sweep {key}: give \"A..B\", \"V1,V2\" or a list of values", "sweep")
        return tuple(items)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ApiError(422, "sweep must be an object like {\"seed\": \"1..4\"} or a list of KEY=VALUES strings", "sweep")


def describe(record: Mapping[str, Any]) -> dict[str, Any]:
    """A job record as the API shows it (the fields of ``wgp queue status JOB --json``)."""
    job = record.get("job") or {}
    request = job.get("request") or {}
    result = record.get("result") or {}
    return {
        "id": record["id"],
        "object": "job",
        "state": record["state"],
        "priority": record.get("priority", 0),
        "attempts": record.get("attempts", 0),
        "model": request.get("model"),
        "params": request.get("params") or {},
        "batch": job.get("batch"),
        "created": record.get("created"),
        "started": record.get("started"),
        "finished": record.get("finished"),
        "progress": record.get("progress") or {},
        "error": record.get("error"),
        "artifacts": [{k: a.get(k) for k in ("role", "media_type", "sha256", "bytes")} | {"index": i}
                      for i, a in enumerate(result.get("artifacts") or [])],
    }


def field_name(param: str | None) -> str | None:
    """A ParameterError's parameter (``--steps``, ``steps``, ``--resolution``) as the request field."""
    if not param:
        return None
    name = param.lstrip("-").replace("-", "_")
    return name if name in REQUEST_FIELDS else f"params.{name}"


def guess_field(message: str) -> str | None:
    """The request field a door message without a parameter is about, from the flag it names."""
    unknown = re.search(r"has no parameter (\w+)", message)
    if unknown:
        return f"params.{unknown.group(1)}"
    for flag, name in (("resolution", "resolution"), ("profile", "profile"),
                       ("--writer", "writers"), ("writer", "writers"), ("metadata mode", "metadata_mode"),
                       ("priority", "priority"), ("--set", "set"), ("plan option", "plan")):
        if flag in message:
            return name
    return None


def _json_type(kind: Any) -> str:
    return {str: "string", dict: "object", list: "array", int: "integer"}.get(kind, "value")
