"""The runner: one job from request to artifacts.

capability checks -> weights location -> model cache (load or reuse) ->
adapters applied -> ``generate`` with progress and a cancel token -> writers
through media persistence -> ``job.finished`` (or ``job.failed`` /
``job.cancelled`` with every artifact of the job rolled back).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from wgp_hookspecs import (
    SCHEMA_VERSION,
    Artifact,
    CancelToken,
    GenerationContext,
    JobCancelled,
    LoadPlan,
    UserError,
)

from .failure import debug, failure_text
from .job import Job
from .inputs import check_unchanged
from .naming import render_stem, template_fields
from .persistence import MediaPersistence
from .plugins import PluginHost
from .progress import ProgressChannel
from .testpoints import pause_point

log = logging.getLogger("wgp.runner")


@dataclass
class JobOutcome:
    """How a job ended: ``finished``, ``failed`` or ``cancelled``."""

    job: str
    state: str
    artifacts: list[Artifact] = field(default_factory=list)
    error: str | None = None
    user_error: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "state": self.state,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "error": self.error,
            "timings": self.timings,
            "metadata": self.metadata,
        }


class ModelCache:
    """Keeps one loaded model; a job for another model or plan evicts it first."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.model: Any = None

    def get(self, key: tuple[Any, ...]) -> Any:
        return self.model if self.key == key else None

    def put(self, key: tuple[Any, ...], model: Any) -> None:
        self.key, self.model = key, model

    def evict(self) -> tuple[Any, ...] | None:
        old_key, model = self.key, self.model
        self.key, self.model = None, None
        if model is not None:
            unload = getattr(model, "unload", None)
            if unload is not None:
                unload()
            del model
            gc.collect()
        return old_key


def resolve_weights(spec: Any, plan: LoadPlan, model_paths: Mapping[str, str]) -> str | None:
    """``--model-path`` > config ``model_paths[id]`` > the family's default location."""
    if plan.weights:
        return plan.weights
    if spec.id in model_paths:
        return str(model_paths[spec.id])
    return spec.weights


def plugin_versions(host: PluginHost) -> dict[str, str]:
    return {info.distribution: info.version for info in host.plugins.values() if info.status == "ok"}


class Runner:
    """Runs jobs one at a time; keeps the model cache between them."""

    def __init__(
        self, host: PluginHost, model_paths: Mapping[str, str] | None = None, cache_dir: str | None = None
    ) -> None:
        self.host = host
        self.model_paths = dict(model_paths or {})
        #: Handed to families as ``plan.cache_dir`` (this worker's caches: compiled kernels, ...).
        self.cache_dir = cache_dir
        self.cache = ModelCache()

    def adapter(self, name: str) -> Any:
        return self.host.adapter(name)

    def writers_for(self, names: tuple[str, ...] | list[str]) -> list[Any]:
        writers = [self.host.writer(name) for name in names]
        return sorted(writers, key=lambda w: (w.order, w.name))

    def run(
        self,
        job: Job,
        channel: ProgressChannel,
        cancel: CancelToken | None = None,
        on_primed: Callable[[Job], None] | None = None,
        attempt: int = 1,
    ) -> JobOutcome:
        """Run one job.  ``on_primed(job)`` receives the job with primed adapter
        payloads when priming changed them, so a queue can store them and a retry
        does not prime again.  ``attempt`` (the queue's claim count) goes into the
        record, so the records of a dead attempt can be told from its retry's."""
        cancel = cancel or CancelToken()
        emit = channel.bind(job.id)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        persistence: MediaPersistence | None = None
        writers: list[Any] = []
        emit("job.started", model=job.request.model, params=dict(job.request.params))
        try:
            family, spec = self.host.model(job.request.model)
            check_unchanged(job.request)
            writers = self.writers_for(job.output.writers)
            plan = replace(job.plan, weights=resolve_weights(spec, job.plan, self.model_paths), cache_dir=self.cache_dir)
            context = GenerationContext(job=job.id, cancel=cancel, emit=emit, plan=plan)
            # Adapters prime before the generation model is loaded (an LLM and a
            # video model need not share memory); their completed payloads are
            # what the record keeps, so a replay skips that work.
            adapters = [(self.adapter(name), dict(payload)) for name, payload in job.adapters.items()]
            for index, (adapter, payload) in enumerate(adapters):
                primed = adapter.prime(job.request, payload, context)
                if primed is not None:
                    adapters[index] = (adapter, dict(primed))
            primed_job = replace(job, adapters={adapter.name: payload for adapter, payload in adapters})
            if on_primed is not None and primed_job.adapters != job.adapters:
                on_primed(primed_job)
            job = primed_job
            cancel.raise_if_cancelled()
            model, reused = self._model(family, spec, plan, emit, timings)
            request = job.request
            for adapter, payload in adapters:
                request = adapter.transform(request, payload)
            t0 = time.perf_counter()
            with contextlib.ExitStack() as stack:
                for adapter, payload in adapters:
                    manager = adapter.apply(model, payload, context)
                    if manager is not None:
                        stack.enter_context(manager)
                result = model.generate(request, context)
            timings["generate_s"] = round(time.perf_counter() - t0, 4)
            cancel.raise_if_cancelled()
            record = self.record(job, plan, timings, weights_revision(model), load_report(model), attempt)
            persistence = MediaPersistence(
                Path(job.output.output_dir),
                render_stem(job.output.filename_template, template_fields(job.request.params, spec.id, job.id)),
                record=record,
                metadata_mode=job.output.metadata_mode,
                options=job.output.writer_options,
                emit=emit,
            )
            t0 = time.perf_counter()
            self._write(writers, result, persistence, cancel)
            timings["write_s"] = round(time.perf_counter() - t0, 4)
            pause_point("writers.done")
            link_audio_tracks(result.metadata, persistence.artifacts, job.id)
            if not persistence.artifacts:
                raise UserError(
                    f"no writer produced output for a {', '.join(sorted(result.kinds())) or 'empty'} result "
                    f"(writers: {', '.join(job.output.writers) or 'none'})"
                )
        except JobCancelled as exc:
            if persistence is not None:
                self._rollback(writers, job.id, attempt, persistence)
            emit("job.cancelled", reason=str(exc))
            return JobOutcome(job.id, "cancelled", error=str(exc), timings=timings)
        except (KeyboardInterrupt, SystemExit):
            # A second Ctrl-C or a hard exit while writing: still leave no files.
            if persistence is not None:
                self._rollback(writers, job.id, attempt, persistence)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is reported as job.failed
            if persistence is not None:
                self._rollback(writers, job.id, attempt, persistence)
            user = isinstance(exc, UserError)
            message = str(exc) if user else failure_text(exc)
            if not user and debug():
                traceback.print_exc(file=sys.stderr)
            emit("job.failed", error=message)
            return JobOutcome(job.id, "failed", error=message, user_error=user, timings=timings)
        timings["total_s"] = round(time.perf_counter() - started, 4)
        artifacts = list(persistence.artifacts)
        emit("job.finished", artifacts=[a.to_dict() for a in artifacts], model_reused=reused, timings=timings)
        metadata = {**result.metadata, "adapters": dict(job.adapters)} if job.adapters else dict(result.metadata)
        return JobOutcome(job.id, "finished", artifacts=artifacts, timings=timings, metadata=metadata)

    def _model(self, family: Any, spec: Any, plan: LoadPlan, emit: Any, timings: dict[str, float]) -> tuple[Any, bool]:
        key = (spec.id, plan.key())
        model = self.cache.get(key)
        if model is not None:
            return model, True
        evicted = self.cache.evict()
        if evicted is not None:
            emit("model.unloaded", model=evicted[0])
        emit("model.loading", model=spec.id, weights=plan.weights, device=plan.device, options=dict(plan.options))
        t0 = time.perf_counter()
        model = family.load(spec, plan)
        timings["load_s"] = round(time.perf_counter() - t0, 4)
        self.cache.put(key, model)
        emit("model.loaded", model=spec.id, seconds=timings["load_s"])
        return model, False

    def _rollback(self, writers: list[Any], job_id: str, attempt: int, persistence: MediaPersistence) -> None:
        """Undo a failed or cancelled attempt: writers' records first, then its files, so that
        no record (a manifest line) ever names a file that is gone."""
        for writer in reversed(writers):
            try:
                writer.discard(job_id, attempt, persistence.output_dir, persistence.options)
            except Exception:  # noqa: BLE001 - a record we cannot remove must keep naming a real file
                log.error("job %s: writer %s could not remove its records; keeping the job's files %s",
                          job_id, writer.name, [a.path for a in persistence.artifacts], exc_info=True)
                return
        persistence.rollback()

    def _write(self, writers: list[Any], result: Any, persistence: MediaPersistence, cancel: CancelToken) -> None:
        # A cancel is honoured between writers, never after the last one: by then
        # the manifest may hold the job's lines, and the job is complete.
        kinds = result.kinds() | {"artifacts"}
        selected = [w for w in writers if w.kinds & kinds]
        for index, writer in enumerate(selected):
            if index:
                cancel.raise_if_cancelled()
            writer.write(result, persistence)

    def record(
        self, job: Job, plan: LoadPlan, timings: Mapping[str, float], revision: str | None = None,
        loaded: Mapping[str, Any] | None = None, attempt: int = 1,
    ) -> dict[str, Any]:
        """The generation record embedded in or written beside every output."""
        from wgp_host import __version__

        return {
            "schema": SCHEMA_VERSION,
            "wgp": __version__,
            "job": job.id,
            "attempt": attempt,
            "model": job.request.model,
            "seed": job.request.seed,
            "request": job.request.to_dict(),
            "weights": plan.weights,
            "weights_revision": revision,
            "plan": {"device": plan.device, **plan.options},
            # What the family reports of the loaded model (levers applied, library versions).
            "loaded": dict(loaded or {}),
            "adapters": {k: dict(v) for k, v in job.adapters.items()},
            "profile": job.profile,
            "plugins": plugin_versions(self.host),
            "timings": dict(timings),
        }


def link_audio_tracks(metadata: dict[str, Any], artifacts: list[Artifact], job_id: str) -> None:
    """Fill ``metadata["audio_tracks"][i]["path"]`` with the file the audio writer wrote for track i.

    A family lists its tracks (one dict per ``result.audio`` entry, in order) before anything
    is written; only the host knows the paths afterwards.  Each track is logged at INFO.
    """
    tracks = metadata.get("audio_tracks")
    if not isinstance(tracks, list):
        return
    files = [a.path for a in artifacts if a.role == "audio"]
    for index, track in enumerate(tracks):
        if not isinstance(track, dict):
            continue
        if len(files) == len(tracks):
            track["path"] = files[index]
        else:
            track.setdefault("path", None)
        fields = ", ".join(f"{k}={track.get(k)}" for k in ("path", "sample_rate", "duration_s", "language", "channels", "codec"))
        log.info("job %s: audio track %d: %s", job_id, index, fields)


def weights_revision(model: Any) -> str | None:
    """What the loaded model says its weights were (a commit hash or a content hash).

    ``weights_revision`` is an optional attribute of :class:`~wgp_hookspecs.LoadedModel`:
    only the family knows how its weights are stored.
    """
    value = getattr(model, "weights_revision", None)
    return str(value) if value else None


def load_report(model: Any) -> dict[str, Any]:
    """``load_report``, an optional attribute of :class:`~wgp_hookspecs.LoadedModel`: what the
    family applied while loading (levers, library versions), for the record."""
    value = getattr(model, "load_report", None)
    return dict(value) if isinstance(value, Mapping) else {}
