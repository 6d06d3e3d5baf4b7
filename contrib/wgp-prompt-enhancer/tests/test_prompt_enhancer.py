"""The prompt enhancer on a tiny real causal LM, with the torch-free echo family as the generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="module")
def lm(tmp_path_factory) -> Path:
    from wgp_prompt_enhancer.bridge import build_tiny_lm

    return build_tiny_lm(tmp_path_factory.mktemp("lm") / "tiny-lm")


@pytest.fixture
def session(wgp_env, lm, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"prompt_enhancer_model": str(lm)}))
    from wgp_host.runtime import initialize_runtime
    from wgp_host.testing import InProcessQueue

    queue = InProcessQueue(runtime_=initialize_runtime(cfg))
    return {"queue": queue, "host": queue.host, "runtime": queue.runtime, "events": queue.events, "cfg": cfg,
            "out": tmp_path}


def run(session, **adapter_options):
    queue = session["queue"]
    job = queue.submit(
        model="echo-image", params={"prompt": "a fox", "seed": 3, "steps": 1}, output_dir=str(session["out"] / "o"),
        adapter_options=adapter_options)
    return job, queue.controller.run_next()


def loads(session) -> int:
    return [e.event for e in session["events"]].count("prompt_enhancer.loaded")


def test_payload_carries_the_enhanced_prompt_and_the_model_stays_loaded(session):
    job, outcome = run(session, enhance_prompt=True)
    assert "enhanced" not in job.adapters["prompt_enhancer"]  # submit time runs no LLM
    payload = outcome.metadata["adapters"]["prompt_enhancer"]
    assert payload["original"] == "a fox" and payload["enhanced"].startswith("a fox. ") and len(payload["enhanced"]) > 10
    assert payload["enhancer"]["class"] == "LlamaForCausalLM" and len(payload["enhancer"]["weights_sha256"]) == 64
    _, again = run(session, enhance_prompt=True)
    assert again.metadata["adapters"]["prompt_enhancer"]["enhanced"] == payload["enhanced"]  # greedy: deterministic
    assert loads(session) == 1  # cached between jobs
    _, plain = run(session)
    assert "adapters" not in plain.metadata


def test_reset_reloads_the_llm(session):
    run(session, enhance_prompt=True)
    run(session, enhance_prompt=True)
    assert loads(session) == 1
    run(session, enhance_prompt=True, reset_prompt_enhancer=True)
    assert loads(session) == 2
    state = session["host"].adapter("prompt_enhancer").bridge.snapshot_state()
    assert state["loaded"] and state["loads"] >= 2


def test_enhanced_prompt_changes_the_output_and_replay_never_loads_the_llm(session, tmp_path):
    env = {**os.environ, "WGP_HOME": str(session["runtime"].home), "HF_HUB_OFFLINE": "1"}
    out, replay, plain = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    base = [sys.executable, "-m", "wgp_host", "run", "-m", "echo-image", "-p", "a fox", "--seed", "3",
            "--config", str(session["cfg"])]
    first = subprocess.run(base + ["--enhance-prompt", "--output-dir", str(out)], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    png = next(out.glob("*.png"))
    record = json.loads(subprocess.run([sys.executable, "-m", "wgp_host", "inspect", str(png)], capture_output=True,
                                       text=True, env=env).stdout)
    assert record["request"]["params"]["prompt"] == "a fox"  # the user's request, unchanged
    assert record["adapters"]["prompt_enhancer"]["enhanced"].startswith("a fox. ")
    events = tmp_path / "replay.jsonl"
    second = subprocess.run([sys.executable, "-m", "wgp_host", "run", "--from", str(png), "--output-dir", str(replay),
                             "--events", str(events), "--config", str(session["cfg"])], capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr
    names = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert "prompt_enhancer.replayed" in names and "prompt_enhancer.loading" not in names
    from PIL import Image
    import numpy as np

    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(next(replay.glob("*.png")))))
    third = subprocess.run(base + ["--output-dir", str(plain)], capture_output=True, text=True, env=env)
    assert third.returncode == 0
    assert not np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(next(plain.glob("*.png")))))


def test_enhance_without_a_model_is_a_one_line_error(wgp_env, tmp_path):
    env = {**os.environ, "WGP_HOME": str(wgp_env)}
    proc = subprocess.run([sys.executable, "-m", "wgp_host", "run", "-m", "echo", "-p", "x", "--enhance-prompt",
                           "--output-dir", str(tmp_path / "o")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "prompt_enhancer_model" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_queue_retry_keeps_the_primed_payload(wgp_env, lm, tmp_path):
    """The sqlite queue stores the primed payload, so a retried job does not run the LLM again."""
    env = {**os.environ, "WGP_HOME": str(wgp_env), "WGP_PROMPT_ENHANCER_MODEL": str(lm)}
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"prompt_enhancer_model": str(lm)}))
    add = subprocess.run([sys.executable, "-m", "wgp_host", "queue", "add", "-m", "echo-image", "-p", "a fox",
                          "--enhance-prompt", "--config", str(cfg), "--output-dir", str(tmp_path / "o"), "--json"],
                         capture_output=True, text=True, env=env)
    assert add.returncode == 0, add.stderr
    work = subprocess.run([sys.executable, "-m", "wgp_host", "queue", "work", "--once"], capture_output=True, text=True, env=env)
    assert work.returncode == 0, work.stderr
    import sqlite3

    with sqlite3.connect(wgp_env / "state" / "queue.db") as db:
        (state, stored), = db.execute("SELECT state, job FROM jobs").fetchall()
    assert state == "finished"
    assert json.loads(stored)["adapters"]["prompt_enhancer"]["enhanced"].startswith("a fox. ")


def test_captioner_describes_the_start_image_once(wgp_env, lm, tmp_path):
    import numpy as np
    from PIL import Image

    from wgp_prompt_enhancer.bridge import build_tiny_captioner

    captioner = build_tiny_captioner(tmp_path / "blip")
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"prompt_enhancer_model": str(lm), "prompt_enhancer_captioner": str(captioner)}))
    image = tmp_path / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(image)
    from wgp_host.runtime import initialize_runtime
    from wgp_host.testing import InProcessQueue

    queue = InProcessQueue(runtime_=initialize_runtime(cfg))
    job, _ = queue.build(
        model="echo", params={"prompt": "a fox", "image_start": str(image), "frames": 2, "steps": 1},
        output_dir=str(tmp_path / "o"), adapter_options={"enhance_prompt": True})
    assert job.adapters["prompt_enhancer"]["captioner"] == str(captioner)
    queue.controller.submit(job)
    outcome = queue.controller.run_next()
    events = queue.events
    payload = outcome.metadata["adapters"]["prompt_enhancer"]
    assert "caption" in payload and payload["enhanced"].startswith("a fox. ")
    roles = [e.fields.get("role") for e in events if e.event == "prompt_enhancer.loading"]
    assert roles == ["captioner", None]  # the captioner and the LLM each loaded once
