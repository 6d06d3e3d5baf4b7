"""Queue throughput and control-channel latency.  Prints JSON.

Throughput: N tiny ``echo`` jobs are queued in a fresh ``WGP_HOME`` and drained by
``wgp queue work --once`` (a real subprocess).  ``jobs_per_s`` counts from the
first ``job.started`` to the last ``job.finished`` event (the worker's steady
state); ``jobs_per_s_with_startup`` includes process start and plugin loading.
Three writers are measured:

- ``video``: one H.264 MP4 per job (8x8, 1 frame, no audio): dominated by encoder
  set-up and the two fsyncs of every atomic write;
- ``image``: one PNG per job (``echo-image``);
- ``null``: a writer that persists a 1-byte file, run with the controller
  in-process, because a writer must come from an installed plugin to reach a
  subprocess; this is the queue's own overhead (claim, progress, finish) plus
  one atomic write.

Latency: ``status`` round trips over TCP to an idle worker whose database holds
the finished jobs: a new connection per request (what ``wgp queue status`` and
``send_command`` do) and requests on one kept-open connection.  Targets: 200
jobs/s, p99 under 5 ms.

    python benchmarks/queue.py [--jobs 300] [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def queue_jobs(home: Path, count: int, model: str, writers: tuple[str, ...]) -> None:
    from wgp_host.defaults.sqlite_queue import SqliteQueue
    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import SubmitOptions, build_job

    host, runtime = get_host(), initialize_runtime()
    params: dict[str, Any] = {"prompt": "bench", "steps": 1, "width": 8, "height": 8}
    extra: tuple[str, ...] = ()
    if model == "echo":
        params["frames"] = 1
        extra = ("audio=false",)
    job, _ = build_job(host, runtime, SubmitOptions(model=model, params=params, set_items=extra,
                                                    output_dir=str(home / "outputs" / model), writers=writers))
    backend = SqliteQueue({"state_dir": str(home / "state")})
    body = job.to_dict()
    for i in range(count):
        backend.add({**body, "id": f"{model}-{i:06d}"})
    backend.close()


def fresh_home() -> Path:
    from wgp_host import plugins, runtime

    home = Path(tempfile.mkdtemp(prefix="wgp-bench-queue-"))
    os.environ["WGP_HOME"] = str(home)
    os.environ.pop("WGP_CONFIG", None)
    plugins.reset_host()
    runtime._RUNTIME = None
    return home


def rates(events_file: Path, count: int, wall: float) -> dict[str, Any]:
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    started = [e["ts"] for e in events if e["event"] == "job.started"]
    finished = [e["ts"] for e in events if e["event"] == "job.finished"]
    span = max(finished) - min(started)
    return {
        "jobs": count,
        "finished": len(finished),
        "jobs_per_s": round(count / span, 1),
        "jobs_per_s_with_startup": round(count / wall, 1),
        "ms_per_job": round(1000 * span / count, 2),
        "model_loads": sum(1 for e in events if e["event"] == "model.loaded"),
    }


def subprocess_throughput(count: int, model: str, writer: str) -> dict[str, Any]:
    home = fresh_home()
    queue_jobs(home, count, model, (writer,))
    events = home / "events.jsonl"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wgp_host", "queue", "work", "--once", "--progress", "none",
                    "--events", str(events)], check=True, env=dict(os.environ), stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    return {"mode": f"wgp queue work --once, {model}, writer {writer}", **rates(events, count, wall)}


def null_writer_throughput(count: int) -> dict[str, Any]:
    from wgp_hookspecs import Writer, hookimpl

    from wgp_host.defaults.sqlite_queue import SqliteQueue
    from wgp_host.plugins import PluginHost, reset_host
    from wgp_host.progress import ProgressChannel
    from wgp_host.queue import QueueController
    from wgp_host.runner import Runner

    class NullWriter(Writer):
        name = "null"
        kinds = frozenset({"video", "image", "audio"})
        description = "one byte per job"

        def write(self, result: Any, output: Any) -> None:
            output.persist("video", ".bin", "application/octet-stream", lambda tmp: Path(tmp).write_bytes(b"x"))

    class NullPlugin:
        @hookimpl
        def register_writers(self, register: Any) -> None:
            register(NullWriter())

    home = fresh_home()
    host = PluginHost()
    host.load(extra={"null": NullPlugin()})
    reset_host(host)
    queue_jobs(home, count, "echo-image", ("null",))
    events = home / "events.jsonl"
    from wgp_host.submit import make_channel

    channel: ProgressChannel = make_channel(host, "none", str(events))
    backend = SqliteQueue({"state_dir": str(home / "state")})
    controller = QueueController(backend, Runner(host), channel)
    t0 = time.perf_counter()
    controller.work(once=True, handle_signals=False)
    wall = time.perf_counter() - t0
    channel.close()
    backend.close()
    return {"mode": "controller in-process, echo-image, null writer (1 byte)", **rates(events, count, wall)}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def status_latency(requests: int) -> dict[str, Any]:
    from wgp_host.queue.control import read_endpoint, send_command

    home = fresh_home()
    queue_jobs(home, 200, "echo-image", ("image",))
    state = home / "state"
    proc = subprocess.Popen([sys.executable, "-m", "wgp_host", "queue", "work", "--progress", "none"],
                            env=dict(os.environ), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if send_command("status", state, timeout=1)["counts"]["finished"] == 200:
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.05)
        for _ in range(50):
            send_command("status", state)
        fresh = []
        for _ in range(requests):
            t0 = time.perf_counter()
            send_command("status", state)
            fresh.append((time.perf_counter() - t0) * 1000)
        host, port, token = read_endpoint(state)
        kept = []
        line = json.dumps({"token": token, "command": "status"}).encode() + b"\n"
        with socket.create_connection((host, port)) as sock:
            reader = sock.makefile("rb")
            for _ in range(requests):
                t0 = time.perf_counter()
                sock.sendall(line)
                reader.readline()
                kept.append((time.perf_counter() - t0) * 1000)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    def summary(ms: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(ms), 3), "p99_ms": round(percentile(ms, 99), 3),
                "max_ms": round(max(ms), 3)}

    return {"requests": requests, "jobs_in_db": 200, "new_connection": summary(fresh), "kept_connection": summary(kept)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    out = {
        "throughput": [
            subprocess_throughput(args.jobs, "echo", "video"),
            subprocess_throughput(args.jobs, "echo-image", "image"),
            null_writer_throughput(args.jobs),
        ],
        "status_latency": status_latency(args.requests),
        "targets": {"jobs_per_s": 200, "status_p99_ms": 5},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
