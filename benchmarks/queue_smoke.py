"""Smoke test of the queue and its control channel, runnable anywhere the ``echo`` family is installed.

``run_smoke()`` makes a temporary ``WGP_HOME``, starts a real worker
(``python -m wgp_host queue work``) on the ``echo`` family, and drives it over
TCP: pause (a job added meanwhile stays queued), status, resume (the queue is
active again and the job finishes), then SIGTERM (clean exit).  It prints a
JSON object with ``ok`` and what it saw, and exits 1 when ``ok`` is false::

    python benchmarks/queue_smoke.py [--keep]

Test and benchmark tooling, not part of the installed package; the test suite
runs it (tests/test_queue.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

TIMEOUT_S = 30.0


class SmokeFailure(AssertionError):
    pass


def _wait(what: str, check: Callable[[], Any], timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise SmokeFailure(f"timed out waiting for {what}")


def run_smoke(keep: bool = False) -> dict[str, Any]:
    """Run the smoke test; returns ``{"ok": True, ...}`` or ``{"ok": False, "error": ...}``."""
    from wgp_host.queue.control import WorkerUnavailable, send_command

    home = Path(tempfile.mkdtemp(prefix="wgp-smoke-"))
    env = {**os.environ, "WGP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("WGP_CONFIG", None)
    state_dir = home / "state"
    out: dict[str, Any] = {"ok": False, "home": str(home)}
    t0 = time.monotonic()
    log_path = home / "worker.log"
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in finally
    worker = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "queue", "work", "--control-port", "0", "--progress", "none",
         "--poll-interval", "0.05", "--events", str(home / "events.jsonl")],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    try:
        def answering() -> Any:
            if worker.poll() is not None:
                raise SmokeFailure(f"worker exited with {worker.returncode}: {log_path.read_text()[-2000:]}")
            try:
                return send_command("status", state_dir, timeout=2.0)
            except WorkerUnavailable:
                return None

        first = _wait("the worker's control channel", answering)
        out["port"] = int((state_dir / "control.port").read_text().split()[0])
        out["token_mode"] = oct((state_dir / "control.token").stat().st_mode & 0o777)
        out["initial_state"] = first["state"]

        send_command("pause", state_dir)
        paused = send_command("status", state_dir)
        if paused["state"] != "paused" or not paused["paused"]:
            raise SmokeFailure(f"status after pause: {paused['state']}")
        out["paused_state"] = paused["state"]

        add = subprocess.run(
            [sys.executable, "-m", "wgp_host", "queue", "add", "-m", "echo", "-p", "smoke", "--steps", "3",
             "--width", "16", "--height", "16", "--frames", "2", "--writer", "video", "--set", "audio=false", "--json"],
            env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        )
        if add.returncode != 0:
            raise SmokeFailure(f"wgp queue add failed: {add.stderr.strip()}")
        job_id = json.loads(add.stdout)["id"]
        out["job"] = job_id
        time.sleep(0.3)  # several poll intervals: a paused worker must not take it
        held = send_command("status", state_dir)
        if held["counts"]["queued"] != 1 or held["current"] is not None:
            raise SmokeFailure(f"a paused worker started a job: {held['counts']}")

        send_command("resume", state_dir)
        resumed = send_command("status", state_dir)
        if resumed["paused"] or resumed["state"] == "paused":
            raise SmokeFailure(f"status after resume: {resumed['state']}")
        out["resumed_state"] = resumed["state"]

        def finished() -> Any:
            status = send_command("status", state_dir)
            done = [r for r in status["recent"] if r["id"] == job_id]
            return done[0] if done else None

        result = _wait("the job to finish", finished)
        if result["state"] != "finished" or not result["artifacts"]:
            raise SmokeFailure(f"job ended {result['state']}: {result.get('error')}")
        out["job_state"] = result["state"]
        out["artifacts"] = [a["path"] for a in result["artifacts"]]
        if not all(Path(p).is_file() for p in out["artifacts"]):
            raise SmokeFailure("an artifact listed in status does not exist")

        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=TIMEOUT_S)
        out["worker_exit"] = worker.returncode
        if worker.returncode != 0:
            raise SmokeFailure(f"worker exited with {worker.returncode} on SIGTERM")
        if (state_dir / "control.port").exists():
            raise SmokeFailure("the worker left its port file behind")
        events = [json.loads(line)["event"] for line in (home / "events.jsonl").read_text().splitlines()]
        out["events"] = {name: events.count(name) for name in sorted(set(events))}
        if events.count("queue.paused") != 1 or events.count("queue.resumed") != 1:
            raise SmokeFailure(f"expected one queue.paused and one queue.resumed event, saw {out['events']}")
        out["ok"] = True
    except (SmokeFailure, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        log.close()
        out["seconds"] = round(time.monotonic() - t0, 2)
        if not keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> None:
    result = run_smoke(keep="--keep" in sys.argv[1:])
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
