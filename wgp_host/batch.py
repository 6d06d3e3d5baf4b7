"""Batches: many jobs made from one command (``--sweep KEY=VALUES``, ``--requests FILE``) under one
batch id, and the roll-up of their progress (``wgp queue status BATCH``, ``wgp queue wait``).

Every job of a batch passes the same door as a single one (:func:`~wgp_host.submit.build_job`),
all of them before any is queued, so a bad value in the fifth combination queues nothing.  The
jobs are ordered so that those for the same model and prompt are next to each other: in a queue
(priority, then age) they then run one after another with the model kept loaded.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from wgp_hookspecs import ENDED_STATES, JOB_STATES, JobOptions, UserError

from .job import Job

BATCH_PREFIX = "batch-"
#: States a job of a batch ends in (``interrupted`` jobs are still due a retry).
ENDED = ENDED_STATES
#: The most jobs one command may make (a typo like ``seed=1..1000000`` must not flood the queue).
MAX_JOBS = 10_000


def new_batch_id() -> str:
    return BATCH_PREFIX + uuid.uuid4().hex[:10]


def parse_sweeps(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``--sweep KEY=A..B`` (integers, both ends included) or ``KEY=V1,V2,...``; values stay strings,
    typed by the model's schema like ``--set`` values."""
    out: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not key.replace("_", "").isalnum() or not text.strip():
            raise UserError(f"--sweep expects KEY=A..B or KEY=V1,V2,... (got {item!r})")
        if key in (k for k, _ in out):
            raise UserError(f"--sweep {key} is given twice; give its values in one --sweep")
        low, dots, high = text.partition("..")
        if dots:
            try:
                first, last = int(low), int(high)
            except ValueError:
                raise UserError(f"--sweep {key}={text}: a range is two integers, A..B") from None
            if last < first:
                raise UserError(f"--sweep {key}={text}: the range is empty ({first} > {last})")
            if last - first >= MAX_JOBS:
                raise UserError(f"--sweep {key}={text}: more than {MAX_JOBS} values")
            values = [str(v) for v in range(first, last + 1)]
        else:
            values = [v.strip() for v in text.split(",")]
            if not all(values):
                raise UserError(f"--sweep {key}={text}: an empty value")
        out.append((key, values))
    return out


def read_requests(path: str | Path) -> list[dict[str, Any]]:
    """A JSONL file of requests: each line ``{"model": ..., "params": {...}}`` (a request, as in a
    generation record) or a flat object of parameters (with an optional ``model``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"--requests: file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--requests: cannot read {p}: {exc}") from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"--requests {p} line {number}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise UserError(f"--requests {p} line {number}: must be a JSON object")
        if isinstance(data.get("request"), dict):  # a generation record
            data = data["request"]
        params = data.get("params") if isinstance(data.get("params"), dict) else {
            k: v for k, v in data.items() if k not in ("model", "schema")}
        model = data.get("model")
        if model is not None and not isinstance(model, str):
            raise UserError(f"--requests {p} line {number}: model must be a string")
        out.append({"model": model, "params": dict(params), "line": number})
    if not out:
        raise UserError(f"--requests {p}: no requests in the file")
    return out


def expand(base: JobOptions, sweeps: Sequence[tuple[str, list[str]]], requests: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, JobOptions]]:
    """Every job the command describes, as ``(label, options)``: each request line (or the command
    alone) times each combination of the sweeps (the first ``--sweep`` varies slowest)."""
    combos = [dict(zip((k for k, _ in sweeps), values)) for values in itertools.product(*(v for _, v in sweeps))]
    lines = list(requests) or [{"model": None, "params": {}, "line": None}]
    if len(lines) * len(combos) > MAX_JOBS:
        raise UserError(f"the batch would hold {len(lines) * len(combos)} jobs; at most {MAX_JOBS}")
    out = []
    for line in lines:
        given = dict(line.get("params") or {})
        for combo in combos:
            swept = set(combo)
            # Precedence: flags < the request line < the sweep.
            set_items = tuple(i for i in base.set_items if i.partition("=")[0].strip().replace("-", "_") not in {*given, *swept})
            params = {k: v for k, v in {**base.params, **given}.items() if k not in swept}
            # A size given by the line or the sweep wins over the flags' --resolution.
            resolution = None if {"width", "height"} & {*given, *swept} else base.resolution
            options = replace(base, model=line.get("model") or base.model, params=params, resolution=resolution,
                              set_items=set_items + tuple(f"{k}={v}" for k, v in combo.items()))
            label = ", ".join([*([f"line {line['line']}"] if line.get("line") else []), *(f"{k}={v}" for k, v in combo.items())])
            out.append((label, options))
    return out


def build_batch(host: Any, runtime: Any, base: JobOptions, sweep_items: Sequence[str] = (),
                requests_file: str | None = None) -> tuple[str, list[Job], list[str]]:
    """Validate every job of a batch (none is queued when one is refused); returns the batch id,
    the jobs in run order (same model and prompt together) and the warnings, each once."""
    from .submit import build_job

    sweeps = parse_sweeps(sweep_items)
    requests = read_requests(requests_file) if requests_file else []
    batch = new_batch_id()
    jobs: list[Job] = []
    warnings: list[str] = []
    for label, options in expand(base, sweeps, requests):
        try:
            job, found = build_job(host, runtime, options)
        except UserError as exc:
            if not label:
                raise
            raise UserError(f"{label}: {exc}") from None
        jobs.append(replace(job, batch=batch))
        warnings += [w for w in found if w not in warnings]
    jobs.sort(key=lambda j: (j.request.model, str(j.request.params.get("prompt") or "")))
    return batch, jobs, warnings


def batch_rows(backend: Any, batch: str) -> list[dict[str, Any]]:
    """The jobs of ``batch`` as :meth:`QueueBackend.rows` dicts, in the order they were added."""
    return [r for r in backend.rows() if (r.get("job") or {}).get("batch") == batch]


def rollup(batch: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How far a batch is: jobs per state, steps done of all its steps, and which jobs failed."""
    counts = dict.fromkeys(JOB_STATES, 0)
    done_steps = total_steps = 0
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
        progress = row.get("progress") or {}
        params = ((row.get("job") or {}).get("request") or {}).get("params") or {}
        total = int(progress.get("total") or params.get("steps") or 1)
        total_steps += total
        if row["state"] == "finished":
            done_steps += total
        elif row["state"] == "running":
            done_steps += min(int(progress.get("step") or 0), total)
    return {
        "batch": batch,
        "jobs": len(rows),
        "counts": counts,
        "steps": done_steps,
        "total_steps": total_steps,
        "progress": round(done_steps / total_steps, 4) if total_steps else 0.0,
        "done": bool(rows) and all(r["state"] in ENDED for r in rows),
        "failed": [r["id"] for r in rows if r["state"] == "failed"],
        "cancelled": [r["id"] for r in rows if r["state"] == "cancelled"],
        "ids": [r["id"] for r in rows],
    }
