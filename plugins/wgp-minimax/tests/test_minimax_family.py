"""MiniMax-H3 on the tiny weights: built with the real classes and loaded through ``from_pretrained``;
frames and soundtrack equal a direct ``MiniMaxH3ModularPipeline`` call with the same seed for each
workflow (text, first/last frame, reference images); each input changes the output; a cancel stops
at the next step with nothing decoded; a step cache runs on the transformer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from minimax_testing import REF, T2VA, direct_call, request_params
from wgp_hookspecs import GenerationRequest, JobCancelled

from wgp_diffusers import levers
from wgp_diffusers.testing import load_tiny
from wgp_host.testing import Recorder, heavy_imports
from wgp_minimax.plugin import MINIMAX_FAMILY
from wgp_minimax.specs import MINIMAX_SPECS


@pytest.fixture(scope="module")
def model(folder):
    return load_tiny(MINIMAX_FAMILY, MINIMAX_SPECS[T2VA], folder)


@pytest.fixture(scope="module")
def ref_model(folder):
    return load_tiny(MINIMAX_FAMILY, MINIMAX_SPECS[REF], folder)


def run(model, params, recorder=None):
    return model.generate(GenerationRequest(model.spec.id, params), (recorder or Recorder()).context)


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_minimax.plugin") == []


def test_tiny_model_is_the_real_layout_loaded_through_from_pretrained(folder, model, ref_model):
    index = json.loads((Path(folder) / "modular_model_index.json").read_text())
    assert index["_class_name"] == "MiniMaxH3ModularPipeline" and index["_blocks_class_name"] == "MiniMaxH3Blocks"
    assert list(Path(folder).glob("transformer_ref/*.safetensors")) and not list(Path(folder).rglob("*.bin"))
    # Each id loads its own partition only.
    assert model.pipe.transformer is not None and model.pipe.transformer_ref is None
    assert ref_model.pipe.transformer_ref is not None and getattr(ref_model.pipe, "transformer", None) is None
    assert type(model.pipe.text_encoder).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(model.pipe.processor).__name__ == "Qwen3VLProcessor"


def test_text_to_video_and_audio_equal_a_direct_call(model, direct_pipe):
    params = request_params(T2VA)
    recorder = Recorder()
    result = run(model, params, recorder)
    frames, audio, rate = direct_call(direct_pipe, params)
    assert result.video.shape == (124, 32, 32, 3) and result.fps == 24.0
    assert np.array_equal(result.video, frames)
    (track,) = result.audio
    assert track.sample_rate == rate == 32000 and track.channels == 2
    assert track.samples.dtype == np.float32 and np.array_equal(track.samples, np.clip(audio, -1, 1))
    assert abs(track.duration_s - 124 / 24) < 0.05
    # 3 sigma grid points: 2 transformer passes, each reported.
    assert recorder.steps() == [(1, 2), (2, 2)]


def test_first_and_last_frames_are_used_and_equal_a_direct_call(model, direct_pipe, wgp_test_images):
    images = {"image_start": "image", "image_end": "last_image"}
    plain = run(model, request_params(T2VA)).video
    first = run(model, request_params(T2VA, image_start=wgp_test_images["a"]))
    both_params = request_params(T2VA, image_start=wgp_test_images["a"], image_end=wgp_test_images["c"])
    both = run(model, both_params)
    assert not np.array_equal(first.video, plain)
    assert not np.array_equal(both.video, first.video)
    frames, audio, _ = direct_call(direct_pipe, both_params, images)
    assert np.array_equal(both.video, frames) and np.array_equal(both.audio[0].samples, np.clip(audio, -1, 1))


def test_reference_images_are_used_and_equal_a_direct_call(ref_model, direct_pipe, wgp_test_images):
    params = request_params(REF, prompt="<Picture 1> plays with <Picture 2>",
                            reference_images=[wgp_test_images["a"], wgp_test_images["b"]])
    result = run(ref_model, params)
    frames, audio, _ = direct_call(direct_pipe, params, {"reference_images": "references"})
    assert np.array_equal(result.video, frames) and np.array_equal(result.audio[0].samples, np.clip(audio, -1, 1))
    swapped = run(ref_model, {**params, "reference_images": [wgp_test_images["b"], wgp_test_images["a"]]})
    assert not np.array_equal(swapped.video, result.video)


def test_cancel_stops_at_the_next_step_and_decodes_nothing(model):
    decoded = []
    original = model.pipe.vae.decode
    model.pipe.vae.decode = lambda *a, **k: decoded.append(1) or original(*a, **k)
    try:
        recorder = Recorder(cancel_after=1)
        with pytest.raises(JobCancelled):
            run(model, request_params(T2VA), recorder)
    finally:
        del model.pipe.vae.decode
    assert recorder.steps() == [(1, 2)] and decoded == []


def test_cancel_mid_run_through_the_queue_writes_nothing(folder, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(1, model=T2VA, model_path=folder, output_dir=str(out), writers=("video", "audio"),
                                         params=request_params(T2VA))
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())  # neither the video nor its sound


def test_a_step_cache_runs_on_the_transformer(folder, model, direct_pipe):
    # TaylorSeer: of diffusers' caches, the ones keyed to registered block classes (fbcache,
    # seacache, magcache) do not know MiniMax-H3's blocks (refused at the door, see test_minimax_cli).
    options = {"cache": "taylorseer", "cache_options": ["cache_interval=2", "disable_cache_before_step=1"]}
    cached = load_tiny(MINIMAX_FAMILY, MINIMAX_SPECS[T2VA], folder, **options)
    params = request_params(T2VA, steps=6)
    result = run(cached, params)
    assert cached.pipe.transformer.is_cache_enabled and cached.load_report["cache"] == "taylorseer"
    assert not np.array_equal(result.video, run(model, params).video), "taylorseer changed nothing"
    # Equal to diffusers with the same config, each step in the same cache context.
    config = levers.cache_config("taylorseer", levers.cache_options(cached.plan))
    direct_pipe.transformer.enable_cache(config)
    try:
        with direct_pipe.transformer.cache_context("cond"):
            frames, _, _ = direct_call(direct_pipe, params)
    finally:
        direct_pipe.transformer.disable_cache()
    assert np.array_equal(result.video, frames)
    assert np.array_equal(run(cached, params).video, result.video), "the cache was not reset between jobs"
