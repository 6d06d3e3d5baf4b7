"""The celery backend (wgp-celery) against the SQLite backend.  Prints JSON.

Starts a redis-server (a child process on a unix socket, no persistence) and real workers
(``wgp queue work`` subprocesses) in fresh ``WGP_HOME`` folders, and measures, for each backend:

- ``throughput``: N tiny ``echo`` jobs (8x8, 1 frame, writer ``video``) queued while the
  workers are paused, then released; jobs per second from the first ``job.started`` to the last
  ``job.finished`` event, through one worker and through two (each a process with one job slot);
- ``status_ms``: what ``wgp queue status`` reads without a worker (counts per state, the running
  jobs, the last results) and one job's record (``wgp queue status JOB``), in-process, with the
  finished jobs in the queue: median and p99 over many reads;
- ``sigkill_to_running_s``: worker A runs a long job, worker B idles; A is SIGKILLed; the time
  until the job runs on B.  Celery: the lease (``--lease``, the backend's default 10 s) plus a
  reaper round; SQLite: a live worker looks for dead ones every 10 s.

    python benchmarks/celery.py [--jobs 200] [--lease 10] [--reads 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

# Run as a script, this file's folder is first on sys.path, and this file is named like the
# package it measures: without this, `import celery` would import the benchmark.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    sock = folder / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait("redis-server", lambda: sock.exists(), 10)
    return proc, f"unix://{sock}"


def wait(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


def fresh_home(config: dict[str, Any]) -> Path:
    from wgp_host import plugins, runtime

    home = Path(tempfile.mkdtemp(prefix="wgp-bench-celery-"))
    (home / "wgp_config.json").write_text(json.dumps(config))
    os.environ["WGP_HOME"] = str(home)
    os.environ.pop("WGP_CONFIG", None)
    plugins.reset_host()
    runtime._RUNTIME = None
    return home


def open_backend() -> Any:
    from wgp_host.cli.queue import open_backend as opener
    from wgp_host.runtime import initialize_runtime

    return opener(initialize_runtime())


def add_jobs(backend: Any, home: Path, count: int, prefix: str, **params: Any) -> list[str]:
    from wgp_hookspecs import JobOptions

    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import build_job

    flags = {"prompt": "bench", "steps": 1, "width": 8, "height": 8, "frames": 1}
    extra = tuple(f"{k}={v}" for k, v in params.items()) + ("audio=false",)
    job, _ = build_job(get_host(), initialize_runtime(), JobOptions(model="echo", params=flags, set_items=extra,
                                                                    output_dir=str(home / "outputs"), writers=("video",)))
    body = job.to_dict()
    return [backend.add({**body, "id": f"{prefix}{i:05d}"}) for i in range(count)]


def start_worker(home: Path, name: str) -> tuple[subprocess.Popen, Path]:
    events = home / f"events-{name}.jsonl"
    log = home / f"worker-{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "wgp_host", "queue", "work", "--name", name, "--progress", "none",
                             "--poll-interval", "0.05", "--events", str(events)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=open(log, "w"),  # noqa: SIM115
                            start_new_session=True)
    return proc, events


def worker_up(backend: Any, name: str) -> bool:
    return any(w == name or w.startswith(name + ":") for w in backend.live_workers())


def stop_all(*procs: subprocess.Popen) -> None:
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def read(*files: Path) -> list[dict[str, Any]]:
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def throughput(kind: str, config: dict[str, Any], jobs: int, workers: int) -> dict[str, Any]:
    home = fresh_home(config)
    backend = open_backend()
    backend.set_flag("paused", "1")
    ids = add_jobs(backend, home, jobs, "t")
    procs = [start_worker(home, f"{kind}{n}") for n in range(workers)]
    try:
        wait("the workers", lambda: all(worker_up(backend, f"{kind}{n}") for n in range(workers)), 60)
        backend.set_flag("paused", None)
        wait("every job", lambda: backend.counts()["finished"] == jobs, 600, 0.05)
    finally:
        stop_all(*(p for p, _ in procs))
    events = read(*(e for _, e in procs))
    started = [e["ts"] for e in events if e["event"] == "job.started"]
    finished = [e["ts"] for e in events if e["event"] == "job.finished"]
    span = max(finished) - min(started)
    once = len({e["job"] for e in events if e["event"] == "job.finished"}) == len(ids) == len(finished)
    backend.close()
    shutil.rmtree(home, ignore_errors=True)
    return {"workers": workers, "jobs": jobs, "jobs_per_s": round(jobs / span, 1), "each_finished_once": once}


def status_latency(kind: str, config: dict[str, Any], reads: int) -> dict[str, Any]:
    from wgp_host.queue.controller import queue_summary

    home = fresh_home(config)
    backend = open_backend()
    ids = add_jobs(backend, home, 200, "s")
    for job_id in ids[:150]:  # 150 ended, 50 waiting, like a queue in use
        backend.update(job_id, state="finished", finished=time.time(), result={"artifacts": []})

    def timed(call: Callable[[], Any]) -> dict[str, float]:
        samples = []
        for _ in range(reads):
            t0 = time.perf_counter()
            call()
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        return {"p50": round(statistics.median(samples), 3), "p99": round(samples[int(len(samples) * 0.99) - 1], 3)}

    out = {"summary": timed(lambda: queue_summary(backend)), "one_job": timed(lambda: backend.get(ids[-1]))}
    backend.close()
    shutil.rmtree(home, ignore_errors=True)
    return out


def sigkill_recovery(kind: str, config: dict[str, Any]) -> float:
    home = fresh_home(config)
    backend = open_backend()
    backend.set_flag("paused:b", "1")
    (a, _), (b, _) = start_worker(home, "a"), start_worker(home, "b")
    try:
        wait("the workers", lambda: worker_up(backend, "a") and worker_up(backend, "b"), 60)
        (job,) = add_jobs(backend, home, 1, "k", steps=10_000, step_seconds=0.01)
        wait("a to run the job", lambda: (backend.get(job).progress.get("step") or 0) >= 2, 60)
        backend.set_flag("paused:b", None)
        time.sleep(1.0)  # b polls and takes nothing: the job is a's
        a.send_signal(signal.SIGKILL)
        t0 = time.monotonic()

        def on_b() -> bool:
            rows = [r for r in backend.rows(["running"]) if r["id"] == job]
            return bool(rows and str(rows[0]["worker"]).startswith("b"))

        wait("the job to run on b", on_b, 120, 0.02)
        took = time.monotonic() - t0
    finally:
        stop_all(a, b)
    backend.close()
    shutil.rmtree(home, ignore_errors=True)
    return round(took, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--lease", type=float, default=10.0, help="celery lease_s (the backend's default: 10)")
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (apt-get install -y redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="wgp-bench-redis-", dir="/tmp"))
    redis_proc, url = start_redis(folder)
    try:
        configs = {
            "sqlite": {"queue_backend": "sqlite"},
            "celery": {"queue_backend": "celery", "queue_options": {
                "url": url, "lease_s": args.lease, "heartbeat_s": min(2.0, args.lease / 4)}},
        }
        result: dict[str, Any] = {"jobs": args.jobs, "lease_s": args.lease, "cpus": os.cpu_count()}
        import redis

        def fresh(kind: str) -> dict[str, Any]:
            if kind == "celery":  # each measurement starts from an empty queue, as a fresh SQLite file does
                redis.Redis.from_url(url).flushall()
            return configs[kind]

        for kind in configs:
            result[kind] = {
                "throughput": [throughput(kind, fresh(kind), args.jobs, n) for n in (1, 2)],
                "status_ms": status_latency(kind, fresh(kind), args.reads),
                "sigkill_to_running_s": sigkill_recovery(kind, fresh(kind)),
            }
        print(json.dumps(result, indent=2))
    finally:
        redis_proc.send_signal(signal.SIGTERM)
        redis_proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
