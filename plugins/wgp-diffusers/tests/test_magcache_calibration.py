"""``wgp calibrate``: diffusers' MagCache calibration run once, stored under the wgp home keyed by
model, weights revision and steps, then used by ``--cache magcache`` runs (on a family defined in
the tests, not one of ours)."""

from __future__ import annotations

import ast
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from test_levers import PARAMS, SPEC, BlockCalls, ThirdModel, ThirdPlugin
from wgp_hookspecs import GenerationRequest, LoadPlan

from wgp_diffusers import to_uint8_video
from wgp_host.testing import Recorder, decode_video

STEPS = PARAMS["steps"]


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model("wan2.1-t2v-1.3b")


@pytest.fixture
def cli(make_wgp_host, wgp_cli):
    import wgp_diffusers.command  # noqa: F401 - the command's module, imported as `wgp calibrate` runs it
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    return wgp_cli


def direct_pipe(folder):
    import diffusers

    return diffusers.WanPipeline.from_pretrained(folder, dtype=torch.float32)


def direct_calibration(folder) -> list[float]:
    """What a diffusers user does: MagCacheConfig(calibrate=True), one run, read the ratios it logs."""
    import diffusers.hooks

    pipe = direct_pipe(folder)
    config = diffusers.hooks.MagCacheConfig(calibrate=True, num_inference_steps=STEPS)
    pipe.transformer.enable_cache(config)
    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = logging.getLogger("diffusers.hooks.mag_cache")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        pipe(**ThirdModel.pipeline_kwargs({**PARAMS, "prompt": "calibration"}), generator=torch.Generator("cpu").manual_seed(0))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return [float(r) for r in ast.literal_eval(logged[0].split(":", 1)[1].strip())]


def calibrate(cli, folder, *extra):
    return cli("calibrate", SPEC.id, "--model-path", folder, "--steps", str(STEPS), "-p", "calibration", "--seed", "0", *extra)


def test_calibrate_stores_diffusers_ratios_and_runs_use_them(cli, folder, wgp_env, tmp_path):
    refused = cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", "--cache", "magcache", "--output-dir", str(tmp_path / "no"))
    assert refused.exit_code == 2 and "wgp calibrate third-video --steps N" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and not (tmp_path / "no").exists()

    result = calibrate(cli, folder, "--json")
    assert result.exit_code == 0, result.output
    stored = json.loads(result.stdout)
    assert stored["model"] == SPEC.id and stored["steps"] == STEPS and stored["weights_revision"].startswith("sha256:")
    assert str(wgp_env / "cache" / "magcache") in stored["path"]
    assert stored["contexts"] == 2  # guidance 5: cond and uncond passes, each measured
    assert stored["mag_ratios"] == direct_calibration(folder)

    threshold = ["--cache-option", "threshold=2.0"]  # random weights: a wide threshold so it really skips
    run = cli("run", "-m", SPEC.id, "--model-path", folder, "-p", PARAMS["prompt"], "--seed", "5", "--cache", "magcache",
              *threshold, "--video-codec", "ffv1", "--writer", "video", "--output-dir", str(tmp_path / "out"), "--json")
    assert run.exit_code == 0, run.output
    video = json.loads(run.stdout)["artifacts"][0]["path"]
    record = json.loads(cli("inspect", video).stdout)
    assert record["loaded"]["magcache_calibration"] == {"file": stored["path"], "steps": STEPS}

    import diffusers.hooks

    pipe = direct_pipe(folder)
    config = diffusers.hooks.MagCacheConfig(mag_ratios=stored["mag_ratios"], num_inference_steps=STEPS, threshold=2.0)
    pipe.transformer.enable_cache(config)
    counter = BlockCalls(pipe.transformer)
    out = pipe(**ThirdModel.pipeline_kwargs(PARAMS), generator=torch.Generator("cpu").manual_seed(5))
    assert np.array_equal(decode_video(video), to_uint8_video(out.frames))
    assert counter.calls < 2 * STEPS, "MagCache skipped no transformer work"


def test_another_step_count_is_interpolated_and_said(cli, folder, wgp_env):
    assert calibrate(cli, folder).exit_code == 0
    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"cache": "magcache"},
                                           cache_dir=str(wgp_env / "cache")))
    recorder = Recorder()
    model.generate(GenerationRequest(SPEC.id, {**PARAMS, "steps": 6}), recorder.context)
    warnings = [fields["message"] for event, fields in recorder.events if event == "job.warning"]
    assert warnings == [f"magcache: ratios calibrated for {STEPS} steps, interpolated to 6"]
    assert model.magcache_steps == 6
    model.generate(GenerationRequest(SPEC.id, {**PARAMS, "steps": STEPS}), recorder.context)
    assert model.magcache_steps == STEPS


def test_other_weights_need_their_own_calibration(cli, folder, tmp_path):
    assert calibrate(cli, folder).exit_code == 0
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    config = other / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "flow_shift": 7.0}))
    result = cli("run", "-m", SPEC.id, "--model-path", str(other), "-p", "x", "--cache", "magcache", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code != 0 and "no MagCache calibration of third-video for its weights" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_two_expert_models_are_refused(make_wgp_host, wgp_cli, wgp_tiny_model):
    import wgp_diffusers.options as diffusers_plugin
    import wgp_wan.plugin as wan_plugin

    make_wgp_host(diffusers_plugin, wan_plugin)
    result = wgp_cli("calibrate", "wan2.2-t2v-a14b", "--model-path", wgp_tiny_model("wan2.2-t2v-a14b"), "--steps", "4",
                     "--set", "width=32", "--set", "height=32", "--set", "frames=5")
    assert result.exit_code == 2 and "two experts" in result.output
    assert len(result.output.strip().splitlines()) == 1
