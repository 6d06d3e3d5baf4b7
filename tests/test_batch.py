"""Batches on the SQLite queue: `--sweep` and `--requests` add one batch (validated all or nothing,
same model and prompt together), `wgp queue status BATCH` rolls it up, `wgp queue wait` blocks
until it ends and fails when a job failed, and `wgp run --sweep` runs one with the model loaded once.
Real CLI, real worker subprocesses, real SQLite."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

from wgp_host.testing import run_wgp

QUICK = ("--resolution", "8x8", "--frames", "1", "--writer", "video", "--set", "audio=false")


def worker_once(home_env: dict[str, str], events: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wgp_host", "queue", "work", "--once", "--progress", "none",
                             "--poll-interval", "0.05", "--events", str(events)],
                            env={**os.environ, **home_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def rows(wgp_cli) -> list[dict]:
    return json.loads(wgp_cli("queue", "list", "--json").stdout)


def test_a_sweep_is_one_batch_of_every_combination_and_a_bad_one_queues_nothing(wgp_env, wgp_cli, tmp_path):
    bad = wgp_cli("queue", "add", "-m", "echo", "-p", "fox", *QUICK, "--sweep", "steps=1,20000", "--sweep", "seed=1..2")
    assert bad.exit_code == 2 and bad.stderr.strip().splitlines() == [
        "wgp: error: steps=20000, seed=1: --steps: must be at most 10000 (got 20000)"]
    assert rows(wgp_cli) == []  # the valid combinations were not queued either
    for args, needle in ((("--sweep", "seed=3..1"), "the range is empty"), (("--sweep", "seed"), "expects KEY=A..B"),
                         (("--sweep", "seed=1", "--sweep", "seed=2"), "given twice")):
        result = wgp_cli("queue", "add", "-m", "echo", "-p", "fox", *args)
        assert result.exit_code == 2 and needle in result.stderr, result.stderr
    added = wgp_cli("queue", "add", "-m", "echo", "-p", "fox", *QUICK, "--sweep", "seed=1..4", "--sweep", "steps=1,2",
                    "--output-dir", str(tmp_path), "--json")
    assert added.exit_code == 0, added.stderr
    batch = json.loads(added.stdout)
    listed = rows(wgp_cli)
    assert batch["batch"].startswith("batch-") and [j["id"] for j in listed] == batch["jobs"]
    combos = []
    for job in listed:
        record = json.loads(wgp_cli("queue", "status", job["id"], "--json").stdout)
        assert record["state"] == "queued"
    from wgp_host.defaults.sqlite_queue import SqliteQueue

    backend = SqliteQueue({"state_dir": str(wgp_env / "state")})
    try:
        for row in backend.rows():
            assert row["job"]["batch"] == batch["batch"]
            params = row["job"]["request"]["params"]
            combos.append((params["seed"], params["steps"]))
    finally:
        backend.close()
    assert combos == [(s, n) for s in (1, 2, 3, 4) for n in (1, 2)]  # the first --sweep varies slowest


def test_a_requests_file_runs_same_model_and_prompt_together_and_wait_reports_a_failure(wgp_env, home_env, wgp_cli, tmp_path):
    good, doomed = tmp_path / "good.png", tmp_path / "doomed.png"
    for shade, path in enumerate((good, doomed)):
        Image.new("RGB", (8, 8), (10, 200, 10 + shade)).save(path)
    lines = [
        {"prompt": "b"},
        {"model": "echo-image", "params": {"prompt": "a", "width": 8, "height": 8}},  # its size beats --resolution
        {"prompt": "a", "image_start": str(doomed)},
        {"prompt": "b", "seed": 7},
        {"request": {"model": "echo", "params": {"prompt": "a", "image_start": str(good)}}},  # a generation record
    ]
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    # The flags are every line's defaults: only what both models take.
    added = wgp_cli("queue", "add", "-m", "echo", "--resolution", "16x16", "--writer", "video", "--writer", "image",
                    "--requests", str(requests), "--output-dir", str(tmp_path / "out"))
    assert added.exit_code == 0, added.stderr
    batch = added.stdout.strip()
    order = [(j["model"], j["prompt"]) for j in rows(wgp_cli)]
    assert order == [("echo", "a"), ("echo", "a"), ("echo", "b"), ("echo", "b"), ("echo-image", "a")]
    status = json.loads(wgp_cli("queue", "status", batch, "--json").stdout)
    assert (status["jobs"], status["counts"]["queued"], status["steps"], status["done"]) == (5, 5, 0, False)
    (stored,) = Path(wgp_env).rglob(hashlib.sha256(doomed.read_bytes()).hexdigest() + ".png")  # the queue's own copy
    doomed.write_bytes(b"edited after it was queued")  # changes nothing: the job reads its copy
    stored.write_bytes(b"broken in the store")  # ... which the worker refuses to use once it is damaged
    events = tmp_path / "events.jsonl"
    worker = worker_once(home_env, events)
    waited = run_wgp("queue", "wait", batch, "--interval", "0.05", env=home_env)  # blocks while the worker runs
    assert worker.wait(timeout=120) == 0, worker.stderr.read().decode()
    assert waited.returncode == 1, waited.stderr
    assert waited.stdout.splitlines()[0] == f"{batch}: finished 4, failed 1"
    status = json.loads(wgp_cli("queue", "status", batch, "--json").stdout)
    assert status["done"] and status["counts"]["finished"] == 4 and len(status["failed"]) == 1
    assert "doomed.png changed since the job was queued" in wgp_cli("queue", "status", status["failed"][0]).stdout
    assert status["steps"] == 4 * 4 and status["total_steps"] == 5 * 4  # echo's default: 4 steps
    text = wgp_cli("queue", "status", batch).stdout
    assert text.startswith(f"{batch}: 5 jobs, finished 4, failed 1; 16/20 steps (80%), done") and "  failed " in text
    one = next(j["id"] for j in rows(wgp_cli) if j["state"] == "finished")
    assert run_wgp("queue", "wait", one, env=home_env).returncode == 0
    loads = [e for e in map(json.loads, events.read_text().splitlines()) if e["event"] == "model.loaded"]
    assert [e["model"] for e in loads] == ["echo", "echo-image"]  # run together: one load each
    missing = wgp_cli("queue", "wait", "batch-nosuch")
    assert missing.exit_code == 2 and "no batch 'batch-nosuch'" in missing.stderr


def test_run_sweep_runs_the_batch_here_with_the_model_loaded_once(home_env, tmp_path):
    events = tmp_path / "events.jsonl"
    proc = run_wgp("run", "-m", "echo", "-p", "fox", *QUICK, "--steps", "1", "--sweep", "seed=1..3",
                   "--output-dir", str(tmp_path / "out"), "--events", str(events), env=home_env)
    assert proc.returncode == 0, proc.stderr
    assert len([line for line in proc.stdout.splitlines() if line.startswith("wrote ")]) == 3
    names = Counter(e["event"] for e in map(json.loads, events.read_text().splitlines()))
    assert (names["model.loaded"], names["job.finished"]) == (1, 3)
    assert sorted(p.name.split("_")[2] for p in (tmp_path / "out").iterdir()) == ["seed1", "seed2", "seed3"]
    dry = run_wgp("run", "-m", "echo", "-p", "fox", "--sweep", "steps=1,2", "--dry-run", env=home_env)
    assert [r["params"]["steps"] for r in json.loads(dry.stdout)] == [1, 2]
