"""The HTTP job API (``wgp serve``): submit-to-finished latency and status requests per second.  Prints JSON.

In a fresh ``WGP_HOME``: a real ``wgp queue work`` worker subprocess and the API on uvicorn (a
thread of this process, on a free loopback port), driven by httpx.

- ``latency``: ``--jobs`` tiny ``echo-image`` jobs (8x8, 1 step) one after another: from the
  POST to the ``job.finished`` event on the job's SSE stream (percentiles, ms); this includes
  the worker's poll interval (0.05 s) and the stream's (0.1 s);
- ``status``: ``GET /v1/jobs/{id}`` on one kept-open connection, sequential, and from 8
  threads at once (requests per second);
- ``control``: the control channel's ``status`` over TCP to the same worker, a new connection
  each (what ``wgp queue status`` does), for comparison.

    python benchmarks/http.py [--jobs 20] [--requests 500]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# This file is named like the standard library's ``http`` package: its folder must not shadow it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"p50_ms": round(1000 * statistics.median(values), 2), "p90_ms": round(1000 * pick(0.9), 2),
            "p99_ms": round(1000 * pick(0.99), 2), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="wgp-http-bench-")) / "home"
    os.environ["WGP_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import httpx

    from wgp_host.interface import PluginFacingHost
    from wgp_host.queue.control import send_command

    from wgp_http.app import TokenFile, create_app
    from wgp_http.server import ServerThread, ensure_token
    from wgp_http.service import JobService

    service = JobService(PluginFacingHost())
    token_file = ensure_token(service.state_dir)
    worker = subprocess.Popen([sys.executable, "-m", "wgp_host", "queue", "work", "--poll-interval", "0.05",
                               "--progress", "none", "--control-port", "0"], stderr=subprocess.DEVNULL)
    server = ServerThread(create_app(service, TokenFile(token_file).get)).start()
    out: dict[str, Any] = {}
    try:
        while not (service.state_dir / "control.port").exists():
            time.sleep(0.05)
        time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        body = {"model": "echo-image", "params": {"prompt": "bench", "width": 8, "height": 8, "steps": 1}}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            latencies, job_id = [], ""
            for _ in range(args.jobs):
                t0 = time.perf_counter()
                job_id = client.post("/v1/jobs", json=body).json()["id"]
                with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                    for line in response.iter_lines():
                        if line == "event: job.finished":
                            break
                latencies.append(time.perf_counter() - t0)
            out["latency"] = percentiles(latencies)
            t0 = time.perf_counter()
            for _ in range(args.requests):
                client.get(f"/v1/jobs/{job_id}").raise_for_status()
            sequential = args.requests / (time.perf_counter() - t0)

        def hammer(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                for _ in range(n):
                    c.get(f"/v1/jobs/{job_id}").raise_for_status()

        threads = [threading.Thread(target=hammer, args=(args.requests // 8,)) for _ in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel = 8 * (args.requests // 8) / (time.perf_counter() - t0)
        out["status"] = {"sequential_req_per_s": round(sequential, 1), "threads8_req_per_s": round(parallel, 1)}
        t0 = time.perf_counter()
        for _ in range(args.requests):
            send_command("status", service.state_dir)
        out["control"] = {"status_req_per_s": round(args.requests / (time.perf_counter() - t0), 1)}
    finally:
        server.stop()
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        service.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
