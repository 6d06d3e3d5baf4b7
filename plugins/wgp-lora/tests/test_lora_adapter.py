"""LoRA adapter on tiny Wan models: real diffusers/peft injection, real files, real runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import av
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wgp_hookspecs import UserError

T2V, A14B = "wan2.1-t2v-1.3b", "wan2.2-t2v-a14b"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A WGP_HOME with tiny models, LoRA files and one runner kept across tests (cached pipelines)."""
    from wgp_wan.plugin import build_tiny
    from wgp_wan.specs import get_spec

    root = tmp_path_factory.mktemp("lora-world")
    models = {}
    for model_id in (T2V, A14B):
        models[model_id] = root / "models" / model_id
        build_tiny(get_spec(model_id), models[model_id])
    loras = root / "home" / "loras" / "wan"
    loras.mkdir(parents=True)
    from diffusers import WanTransformer3DModel

    transformer = WanTransformer3DModel.from_pretrained(models[T2V] / "transformer")
    for seed, name, targets in ((0, "style", ("attn1.to_q", "attn1.to_v")), (1, "detail", ("attn2.to_k", "ffn.net.2"))):
        make_lora(transformer, loras / f"{name}.safetensors", seed, targets)
    (loras / "sub").mkdir()
    shutil.copy(loras / "style.safetensors", loras / "sub" / "nested.safetensors")
    flux = root / "home" / "loras" / "flux"
    flux.mkdir(parents=True)
    shutil.copy(loras / "style.safetensors", flux / "fluxonly.safetensors")
    return {"root": root, "models": models, "loras": loras}


def make_lora(transformer, path: Path, seed: int, targets) -> None:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and any(t in name for t in targets):
            sd[f"transformer.{name}.lora_A.weight"] = torch.randn(4, module.in_features, generator=g) * 0.5
            sd[f"transformer.{name}.lora_B.weight"] = torch.randn(module.out_features, 4, generator=g) * 0.5
    save_file(sd, str(path))


@pytest.fixture(scope="module")
def session(world):
    """One in-process queue (so the model cache survives between tests) in the world's WGP_HOME."""
    mp = pytest.MonkeyPatch()
    mp.setenv("WGP_HOME", str(world["root"] / "home"))
    from wgp_host import plugins
    from wgp_host.testing import InProcessQueue

    plugins.reset_host()
    queue = InProcessQueue()
    yield {"queue": queue, "host": queue.host, "events": queue.events, "world": world}
    plugins.reset_host()
    mp.undo()


def submit(session, model=T2V, lora=(), preset=None, **params):
    world = session["world"]
    out = world["root"] / "out" / os.urandom(4).hex()
    base = {"prompt": "a fox", "seed": 5, "width": 32, "height": 32, "frames": 5, "steps": 4}
    base.update(params)
    flags = {k: v for k, v in base.items() if k in ("prompt", "seed", "width", "height", "frames", "steps")}
    sets = tuple(f"{k}={v}" for k, v in base.items() if k not in flags)
    job, _ = session["queue"].build(
        model=model, model_path=str(world["models"][model]), params=flags, set_items=sets, output_dir=str(out),
        writers=("video",), writer_options={"video_codec": "ffv1"},
        adapter_options={"lora": tuple(lora), "lora_preset": preset})
    return job


def run(session, job):
    controller = session["queue"].controller
    controller.submit(job)
    outcome = controller.run_next()
    if outcome.state != "finished":
        return outcome, None
    with av.open(outcome.artifacts[0].path) as c:
        return outcome, np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def frames(session, **kw):
    outcome, video = run(session, submit(session, **kw))
    assert outcome.state == "finished", outcome.error
    return video


def test_lora_changes_frames_and_zero_is_base_and_pipeline_is_restored(session):
    loads_before = [e.event for e in session["events"]].count("model.loaded")
    base = frames(session)
    styled = frames(session, lora=["style"])
    assert not np.array_equal(base, styled)
    assert np.array_equal(frames(session, lora=["style:0"]), base)
    assert np.array_equal(frames(session), base)  # the cached pipeline is clean again
    assert np.array_equal(frames(session, lora=["style:1.0"]), styled)
    loads = [e.event for e in session["events"]].count("model.loaded") - loads_before
    assert loads <= 1  # every job above ran on one cached pipeline


def test_two_loras_combine(session):
    base, a, b = frames(session), frames(session, lora=["style"]), frames(session, lora=["detail"])
    both = frames(session, lora=["style", "detail:0.7"])
    assert all(not np.array_equal(both, other) for other in (base, a, b))


def test_per_step_schedule_differs_from_constant(session):
    constant, off = frames(session, lora=["style:1"]), frames(session, lora=["style:0"])
    scheduled = frames(session, lora=["style:1,0"])
    assert not np.array_equal(scheduled, constant) and not np.array_equal(scheduled, off)
    # the same schedule from a preset file gives the same frames
    preset = session["world"]["root"] / "preset.json"
    preset.write_text(json.dumps({"loras": ["style"], "loras_mult": "1,0"}))
    assert np.array_equal(frames(session, preset=str(preset)), scheduled)


def test_wan22_phases_reach_each_expert(session):
    kw = {"model": A14B, "flow_shift": 3.0, "steps": 4}
    base = frames(session, **kw)
    high = frames(session, lora=["style:1;0"], **kw)
    low = frames(session, lora=["style:0;1"], **kw)
    assert not np.array_equal(high, base) and not np.array_equal(low, base) and not np.array_equal(high, low)
    assert np.array_equal(frames(session, lora=["style:0;0"], **kw), base)
    applied = [e for e in session["events"] if e.event == "adapter.applied"][-1]
    assert applied.fields["experts"] == 2


def test_payload_replay_needs_the_same_file(session, tmp_path):
    world = session["world"]
    job = submit(session, lora=["detail"])
    payload = job.adapters["lora"]["loras"][0]
    assert payload["sha256"] == __import__("hashlib").sha256(Path(payload["path"]).read_bytes()).hexdigest()
    moved = tmp_path / "moved"
    shutil.move(str(world["loras"]), moved)
    try:
        outcome, _ = run(session, job)
        assert outcome.state == "failed" and "no longer at" in outcome.error
    finally:
        shutil.move(str(moved), world["loras"])
    outcome, _ = run(session, job)  # the file is reachable again: the frozen job replays
    assert outcome.state == "finished"
    target = Path(payload["path"])
    original = target.read_bytes()
    try:
        target.write_bytes(original[:-8] + b"\0" * 8)
        outcome, _ = run(session, job)
        assert outcome.state == "failed" and "has changed" in outcome.error
    finally:
        target.write_bytes(original)


@pytest.mark.parametrize("name, message", [
    ("../x", "not a path"),
    ("/etc/passwd", "not a path"),
    ("sub/../../x", "not a path"),
    ("evil.ckpt", "only .safetensors"),
    ("evil.pt", "only .safetensors"),
    ("nope", "unknown LoRA 'nope'"),
    ("fluxonly", "belongs to family 'flux'"),
    ("style:abc", "is not a number"),
    ("style:1;0", "need a model with two experts"),
    ("style:1;0;1", "at most 2 phases"),
])
def test_bad_lora_requests_fail_before_loading(session, name, message):
    with pytest.raises(UserError, match=message):
        submit(session, lora=[name])


def test_nested_names_and_lora_listing(session):
    job = submit(session, lora=["sub/nested:0.5"])
    assert job.adapters["lora"]["loras"][0]["name"] == "sub/nested"
    env = {**os.environ, "WGP_HOME": str(session["world"]["root"] / "home")}
    proc = subprocess.run([sys.executable, "-m", "wgp_host", "loras", "--json", "--model", T2V],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(row["name"] for row in json.loads(proc.stdout)) == ["detail", "style", "sub/nested"]


def test_cli_run_with_lora_and_one_line_errors(session, tmp_path):
    world = session["world"]
    env = {**os.environ, "WGP_HOME": str(world["root"] / "home")}
    base = [sys.executable, "-m", "wgp_host", "run", "-m", T2V, "--model-path", str(world["models"][T2V]), "-p", "fox",
            "--resolution", "32x32", "--frames", "5", "--steps", "2", "--output-dir", str(tmp_path / "o")]
    proc = subprocess.run(base + ["--lora", "style:0.8", "--dry-run", "--json"], capture_output=True, text=True, env=env)
    job = json.loads(proc.stdout)
    assert job["adapters"]["lora"]["loras"][0]["phases"] == [[0.8]]
    proc = subprocess.run(base + ["--lora", "../../x"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "not a path" in proc.stderr
    proc = subprocess.run(base + ["--lora", "style:0.8", "--metadata-mode", "json"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    sidecar = next((tmp_path / "o").glob("*.mp4.json"))
    assert json.loads(sidecar.read_text())["record"]["adapters"]["lora"]["loras"][0]["name"] == "style"


def test_hash_cache_snapshot_and_reset(session):
    adapter = session["host"].adapter("lora")
    submit(session, lora=["style"])
    state = adapter.manager.snapshot_state()
    assert state["hashed_files"] >= 1 and any(f.endswith("style.safetensors") for f in state["files"])
    world = session["world"]
    session["queue"].build(
        model=T2V, model_path=str(world["models"][T2V]), params={"prompt": "x"}, output_dir=str(world["root"] / "o"),
        adapter_options={"reset_lora_cache": True})
    assert adapter.manager.snapshot_state()["hashed_files"] == 0


def test_a_replayed_payload_cannot_smuggle_a_pickle(session, tmp_path):
    job = submit(session, lora=["style"])
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(Path(job.adapters["lora"]["loras"][0]["path"]).read_bytes())
    payload = {**job.adapters["lora"], "loras": [{**job.adapters["lora"]["loras"][0], "path": str(evil)}]}
    from dataclasses import replace

    outcome, _ = run(session, replace(job, adapters={"lora": payload}))
    assert outcome.state == "failed" and "only .safetensors" in outcome.error


@pytest.mark.parametrize("kind, message", [
    ("wider", "size mismatch"),  # the layers of a bigger model
    ("keys", "not found in the base model"),  # the layers of another architecture
])
def test_a_lora_made_for_another_model_is_one_line_and_leaves_the_pipeline_as_it_was(session, kind, message):
    from safetensors.torch import load_file

    loras = session["world"]["loras"]
    style = load_file(str(loras / "style.safetensors"))
    if kind == "wider":
        changed = {k: torch.cat([v, v[:, :3]], dim=1) if "lora_A" in k else v for k, v in style.items()}
    else:
        changed = {k.replace("transformer.blocks.", "transformer.other_blocks."): v for k, v in style.items()}
    path = loras / f"other_{kind}.safetensors"
    save_file(changed, str(path))
    try:
        base = frames(session)
        outcome, _ = run(session, submit(session, lora=[f"other_{kind}"]))
        assert outcome.state == "failed" and outcome.user_error, outcome.error  # exit 2 from `wgp run`
        assert outcome.error.startswith(f"LoRA 'other_{kind}' ({path}) does not fit this wan model: ")
        assert message in outcome.error and "remove it from --lora" in outcome.error and "\n" not in outcome.error
        assert np.array_equal(frames(session), base)  # the failed load was undone
    finally:
        path.unlink()


# --------------------------------------------------------------------------- coming from WanGP


def wangp_settings(**changes):
    """A WanGP settings export (Wan2GP docs/SETTINGS.md) asking for what `submit` asks for."""
    settings = {"model_type": "t2v_1.3B", "base_model_type": "t2v_1.3B", "settings_version": 2.35,
                "prompt": "a fox", "seed": 5, "resolution": "32x32", "video_length": 5, "num_inference_steps": 4,
                "activated_loras": [], "loras_multipliers": "", "sample_solver": "unipc"}
    settings.update(changes)
    return settings


def test_wangp_settings_file_loras_and_step_schedule_run_as_lora_flags(session, tmp_path):
    world = session["world"]
    path = tmp_path / "wangp.json"
    # WanGP names LoRAs by file name; "1,0" is its per-step schedule, "#" lines are comments
    path.write_text(json.dumps(wangp_settings(activated_loras=["style.safetensors", "detail.safetensors"],
                                              loras_multipliers="# style fades out\n1,0 0.7")))
    out = world["root"] / "out" / os.urandom(4).hex()
    job, warnings = session["queue"].build(settings=str(path), model_path=str(world["models"][T2V]), output_dir=str(out),
                                           writers=("video",), writer_options={"video_codec": "ffv1"})
    assert [lora["phases"] for lora in job.adapters["lora"]["loras"]] == [[[1.0, 0.0]], [[0.7]]]
    assert warnings == [f"settings file {path}: ignored WanGP-only keys: sample_solver"]
    outcome, video = run(session, job)
    assert outcome.state == "finished", outcome.error
    assert np.array_equal(video, frames(session, lora=["style:1,0", "detail:0.7"]))
    path.write_text(json.dumps(wangp_settings(activated_loras=["style"], loras_multipliers="1 0.5")))
    with pytest.raises(UserError, match="2 LoRA multipliers for 1 LoRAs"):
        session["queue"].build(settings=str(path), model_path=str(world["models"][T2V]))


def test_wangp_queue_zip_imports_and_runs_with_its_attached_image(session, tmp_path, wgp_test_images, monkeypatch):
    import zipfile

    from wgp_host.runtime import initialize_runtime
    from wgp_host.wangp_queue import import_queue
    from wgp_wan.plugin import build_tiny
    from wgp_wan.specs import get_spec

    world = session["world"]
    ti2v = world["root"] / "models" / "wan2.2-ti2v-5b"
    if not ti2v.exists():
        build_tiny(get_spec("wan2.2-ti2v-5b"), ti2v)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_paths": {T2V: str(world["models"][T2V]), "wan2.2-ti2v-5b": str(ti2v)},
                                  "writers": ["video"], "video_codec": "ffv1", "output_dir": str(tmp_path / "out")}))
    for model_id, folder in json.loads(config.read_text())["model_paths"].items():  # the worker's config, too
        monkeypatch.setitem(session["queue"].runner.model_paths, model_id, folder)
    image = wgp_test_images["a"]
    tasks = [{"id": 1, "params": wangp_settings(activated_loras=["style.safetensors"], loras_multipliers="1,0")},
             {"id": 2, "params": wangp_settings(model_type="ti2v_2_2", base_model_type="ti2v_2_2", num_inference_steps=2,
                                                image_start=["task2_start.png"], image_prompt_type="S")}]
    archive = tmp_path / "queue.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("queue.json", json.dumps(tasks))
        z.write(image, "task2_start.png")
    batch, jobs, _ = import_queue(session["host"], initialize_runtime(str(config)), archive)
    archive.unlink()  # the queued jobs hold their own copy of the image
    videos = []
    for job in jobs:
        assert job.batch == batch
        outcome, video = run(session, job)
        assert outcome.state == "finished", outcome.error
        videos.append(video)
    assert np.array_equal(videos[0], frames(session, lora=["style:1,0"]))
    direct = session["queue"].build(
        model="wan2.2-ti2v-5b", model_path=str(ti2v), params={"prompt": "a fox", "seed": 5, "steps": 2},
        set_items=("width=32", "height=32", "frames=5", f"image_start={image}"), output_dir=str(tmp_path / "d"),
        writers=("video",), writer_options={"video_codec": "ffv1"})[0]
    other = session["queue"].build(
        model="wan2.2-ti2v-5b", model_path=str(ti2v), params={"prompt": "a fox", "seed": 5, "steps": 2},
        set_items=("width=32", "height=32", "frames=5", f"image_start={wgp_test_images['c']}"),
        output_dir=str(tmp_path / "e"), writers=("video",), writer_options={"video_codec": "ffv1"})[0]
    assert np.array_equal(videos[1], run(session, direct)[1])
    assert not np.array_equal(videos[1], run(session, other)[1])  # the image makes the difference
