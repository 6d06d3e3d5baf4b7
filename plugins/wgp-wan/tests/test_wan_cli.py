"""Wan through the real CLI and runner: tiny models built by `wgp models tiny`, lossless output
equal to a direct diffusers call, model reuse, cancel, and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanPipeline

MODEL = "wan2.1-t2v-1.3b"


def wgp(*args, env, **kw):
    return subprocess.run([sys.executable, "-m", "wgp_host", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, **kw)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {"WGP_HOME": str(home), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def tiny_t2v(tmp_path_factory, cli_env):
    folder = tmp_path_factory.mktemp("models") / MODEL
    proc = wgp("models", "tiny", MODEL, str(folder), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "model_index.json").exists() and list(folder.glob("transformer/*.safetensors"))
    assert not list(folder.rglob("*.bin"))
    return folder


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_wgp_run_equals_direct_diffusers_call_losslessly(tiny_t2v, cli_env, tmp_path):
    out = tmp_path / "out"
    proc = wgp("run", "-m", MODEL, "--model-path", str(tiny_t2v), "-p", "a red fox in snow", "-n", "blurry",
               "--resolution", "32x32", "--frames", "9", "--steps", "3", "--guidance", "6.5", "--seed", "42",
               "--set", "flow_shift=4.0", "--video-codec", "ffv1", "--writer", "video", "--output-dir", str(out),
               env=cli_env)
    assert proc.returncode == 0, proc.stderr
    ours = decode(next(out.glob("*.mkv")))

    pipe = WanPipeline.from_pretrained(str(tiny_t2v), use_safetensors=True)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=4.0)
    frames = pipe(
        prompt="a red fox in snow", negative_prompt="blurry", height=32, width=32, num_frames=9,
        num_inference_steps=3, guidance_scale=6.5, generator=torch.Generator("cpu").manual_seed(42),
        output_type="pil",
    ).frames[0]
    direct = np.stack([np.asarray(f) for f in frames])
    assert ours.shape == (9, 32, 32, 3)
    assert np.array_equal(ours, direct)


def test_second_job_does_not_reload(tiny_t2v, wgp_queue, tmp_path):
    for seed in (1, 2):
        wgp_queue.submit(
            model=MODEL, model_path=str(tiny_t2v), output_dir=str(tmp_path), writers=("video",),
            params={"prompt": "fox", "seed": seed, "width": 32, "height": 32, "frames": 5, "steps": 2})
    outcomes = wgp_queue.drain()
    events = wgp_queue.events
    assert [o.state for o in outcomes] == ["finished", "finished"]
    assert [e.event for e in events].count("model.loaded") == 1
    assert [e.fields["model_reused"] for e in events if e.event == "job.finished"] == [False, True]
    assert sum(1 for e in events if e.event == "step") == 4


def test_ctrl_c_mid_run_exits_130_and_writes_nothing(tiny_t2v, cli_env, tmp_path):
    out, events = tmp_path / "out", tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "run", "-m", MODEL, "--model-path", str(tiny_t2v), "-p", "long",
         "--resolution", "32x32", "--frames", "5", "--steps", "1000", "--output-dir", str(out),
         "--events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **cli_env},
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (events.exists() and '"step"' in events.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    steps = [e["step"] for e in lines if e["event"] == "step"]
    assert lines[-1]["event"] == "job.cancelled" and max(steps) < 1000
    assert "artifact" not in {e["event"] for e in lines}
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("args, needle", [
    (["-m", "wan2.1-i2v-14b-480p"], "--image-start"),
    (["-m", MODEL, "--frames", "80"], "frames: must be 4n+1 (got 80; nearest valid: 77 or 81)"),
    (["-m", MODEL, "--width", "840"], "width: must be a multiple of 16"),
    (["-m", MODEL, "--set", "sampler=ddim"], "has no parameter sampler"),
    (["-m", MODEL, "--device", "cuda"], "cuda"),
    (["-m", MODEL, "--offload", "sequential"], "sequential"),
    (["-m", MODEL, "--model-path", "./no/such/folder"], "--model-path"),
])
def test_bad_inputs_one_line_exit_2_no_files(cli_env, tiny_t2v, tmp_path, args, needle):
    out = tmp_path / "out"
    extra = [] if "--model-path" in args else ["--model-path", str(tiny_t2v)]
    if args[1] != MODEL:
        extra = []
    proc = wgp("run", *args, *extra, "-p", "x", "--output-dir", str(out), env=cli_env)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr
    assert not out.exists()


def test_missing_weights_offline_names_the_repo(cli_env, tmp_path):
    proc = wgp("run", "-m", "wan2.1-t2v-14b", "-p", "x", "--output-dir", str(tmp_path / "o"),
               env={**cli_env, "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 2, proc.stderr
    assert "Wan-AI/Wan2.1-T2V-14B-Diffusers" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
