"""The LTX-2 family on tiny random-weight models: frames and sound equal to diffusers, media inputs, levers."""

from __future__ import annotations

import numpy as np
import pytest
from ltx2_testing import direct, load, request_params, write_video
from wgp_diffusers.testing import generate
from wgp_diffusers.levers import check_plan
from wgp_hookspecs import JobCancelled, LoadPlan, UserError
from wgp_ltx.ltx2.checks import match_weights
from wgp_ltx.ltx2.specs import LTX2_SPECS

from wgp_host.testing import Recorder, heavy_imports, registered_families

IDS = ("ltx-2", "ltx-2.3", "ltx-2.3-distilled")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("ltx2-videos")
    return {name: write_video(str(root / f"{name}.mp4"), seed) for name, seed in (("a", 1), ("b", 2))}


def test_registered_beside_ltx_without_torch():
    assert heavy_imports("wgp_ltx.plugin") == []
    ltx, ltx2, ltx25 = registered_families("ltx")
    assert (ltx.name, ltx2.name, ltx25.name) == ("ltx", "ltx2", "ltx25")
    assert [m.id for m in ltx25.models] == ["ltx-2.5"] and ltx25.models[0].weights == "Lightricks/LTX-2.5-Diffusers"
    assert [(m.id, m.weights) for m in ltx2.models] == [
        ("ltx-2", "Lightricks/LTX-2"), ("ltx-2.3", "diffusers/LTX-2.3-Diffusers"),
        ("ltx-2.3-distilled", "diffusers/LTX-2.3-Distilled-Diffusers")]
    assert all("audio-out" in m.capabilities and "video-in" in m.capabilities for m in ltx2.models)
    assert LTX2_SPECS["ltx-2"].param("condition_video").flag == "--condition-video"


@pytest.mark.parametrize("model_id, expected", [
    ("ltx-2", (768, 512, 121, 24, 40, 4.0, 4.0, 0.0, 1.0, 0.0)),
    ("ltx-2.3", (768, 512, 121, 24, 30, 3.0, 7.0, 1.0, 3.0, 0.7)),
    ("ltx-2.3-distilled", (768, 512, 121, 24, 8, 1.0, 1.0, 0.0, 1.0, 0.0)),
])
def test_published_defaults(model_id, expected):
    d = LTX2_SPECS[model_id].defaults()
    keys = ("width", "height", "frames", "fps", "steps", "guidance", "audio_guidance", "stg_scale", "modality_scale",
            "guidance_rescale")
    assert tuple(d[k] for k in keys) == expected


@pytest.mark.parametrize("model_id", IDS)
def test_text_to_video_and_its_sound_equal_a_direct_call(model_id, wgp_tiny_model):
    folder = wgp_tiny_model(model_id)
    recorder = Recorder()
    steps = 8 if model_id == "ltx-2.3-distilled" else 2
    result = generate(load(model_id, folder), request_params(model_id, steps=steps), recorder)
    frames, audio = direct(folder, model_id)
    assert result.video.shape == (9, 64, 64, 3) and result.metadata["pipeline"] == "LTX2Pipeline"
    assert recorder.steps() == [(i, steps) for i in range(1, steps + 1)]
    assert np.array_equal(result.video, frames)
    (track,) = result.audio
    assert track.sample_rate == (24000 if model_id == "ltx-2" else 48000) and track.channels == 2
    assert track.samples.dtype == np.float32 and np.array_equal(track.samples, audio)


def test_start_image_is_image_to_video_and_changes_the_output(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model("ltx-2.3")
    model = load("ltx-2.3", folder)
    one = generate(model, request_params("ltx-2.3", image_start=wgp_test_images["a"]))
    assert one.metadata["pipeline"] == "LTX2ImageToVideoPipeline"
    frames, audio = direct(folder, "ltx-2.3", image=wgp_test_images["a"])
    assert np.array_equal(one.video, frames) and np.array_equal(one.audio[0].samples, audio)
    two = generate(model, request_params("ltx-2.3", image_start=wgp_test_images["c"])).video
    text = generate(model, request_params("ltx-2.3")).video
    assert not np.array_equal(one.video, two) and not np.array_equal(one.video, text)


def test_condition_video_and_end_image_equal_a_direct_condition_call(wgp_tiny_model, wgp_test_images, videos):
    folder = wgp_tiny_model("ltx-2")
    model = load("ltx-2", folder)
    params = request_params("ltx-2", image_start=wgp_test_images["a"], image_end=wgp_test_images["b"],
                            condition_video=videos["a"], condition_index=1)
    result = generate(model, params)
    assert result.metadata["pipeline"] == "LTX2ConditionPipeline"
    frames, audio = direct(folder, "ltx-2", image=wgp_test_images["a"], image_end=wgp_test_images["b"],
                           video=videos["a"], video_index=1)
    assert np.array_equal(result.video, frames) and np.array_equal(result.audio[0].samples, audio)
    # Each input is used: another video, or another end image, changes the output.
    assert not np.array_equal(generate(model, {**params, "condition_video": videos["b"]}).video, result.video)
    assert not np.array_equal(generate(model, {**params, "image_end": wgp_test_images["c"]}).video, result.video)


def test_cancel_mid_run_stops_before_decoding(wgp_tiny_model):
    model = load("ltx-2", wgp_tiny_model("ltx-2"))
    decoded = []
    for name in ("vae", "vocoder"):
        component = getattr(model.pipe, name)
        original = component.forward if name == "vocoder" else component.decode
        setattr(component, "forward" if name == "vocoder" else "decode",
                lambda *a, _o=original, _n=name, **k: decoded.append(_n) or _o(*a, **k))
    recorder = Recorder(cancel_after=1)
    with pytest.raises(JobCancelled):
        generate(model, request_params("ltx-2", steps=3), recorder)
    assert recorder.steps() == [(1, 3)] and decoded == []


def test_cancel_mid_run_through_the_queue_writes_nothing(wgp_tiny_model, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model="ltx-2", model_path=wgp_tiny_model("ltx-2"), output_dir=str(out), writers=("video", "audio"),
        params={"prompt": "a fox", "steps": 3, "width": 64, "height": 64, "frames": 9})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())  # neither the video nor its sound


@pytest.mark.parametrize("plan", [{"cache": "taylorseer"}, {"storage_dtype": "fp8"}])
def test_a_step_cache_and_fp8_storage_run(plan, wgp_tiny_model):
    model = load("ltx-2.3", wgp_tiny_model("ltx-2.3"), **plan)
    assert {k: model.load_report[k] for k in plan} == plan
    result = generate(model, request_params("ltx-2.3", steps=3))
    assert result.video.shape == (9, 64, 64, 3) and result.audio[0].sample_rate == 48000


def test_first_block_cache_is_refused_in_one_line(wgp_tiny_model):
    # diffusers 0.42 has no First Block Cache metadata for LTX2VideoTransformerBlock.
    with pytest.raises(UserError, match="fbcache does not apply to LTX2VideoTransformer3DModel"):
        load("ltx-2", wgp_tiny_model("ltx-2"), cache="fbcache")
    # The family declares it (and PAB, which fails mid-job), so the door refuses them first.
    (_, ltx2, ltx25) = registered_families("ltx")
    for spec in ltx2.models:
        for cache in ("fbcache", "pab"):
            with pytest.raises(UserError, match=f"--cache {cache} does not run on {spec.id}: .*; caches that run on it: taylorseer, textkv$"):
                check_plan(spec, LoadPlan(options={"cache": cache}))
    with pytest.raises(UserError, match="--cache fbcache does not run on ltx-2.5: .*; caches that run on it: taylorseer, pab, textkv$"):
        check_plan(ltx25.models[0], LoadPlan(options={"cache": "fbcache"}))


def test_weights_of_the_other_version_are_refused(wgp_tiny_model):
    assert match_weights(LTX2_SPECS["ltx-2.3-distilled"], wgp_tiny_model("ltx-2.3")) is LTX2_SPECS["ltx-2.3-distilled"]
    with pytest.raises(UserError, match=r"are LTX-2\.3 \(22B\), not ltx-2 .*use -m ltx-2\.3, -m ltx-2\.3-distilled"):
        match_weights(LTX2_SPECS["ltx-2"], wgp_tiny_model("ltx-2.3"))
