"""LTX-2.5 on the Modular-pipeline base: frames and sound equal a direct modular call, image, cancel, CLI."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from diffusers import ModularPipeline
from diffusers.guiders.ltx2_guidance import LTX2Guidance
from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT
from diffusers.utils import load_image
from wgp_diffusers import to_uint8_video
from wgp_diffusers.sizing import prepare_image
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest, JobCancelled
from wgp_ltx.ltx25.specs import LTX25_MODELS
from wgp_ltx.plugin import LTX25_FAMILY

from wgp_host.testing import Recorder, assert_refused_at_the_door

SPEC = LTX25_MODELS[0]
PARAMS = {**SPEC.defaults(), "prompt": "a red fox barks in the snow", "width": 64, "height": 64, "frames": 9,
          "steps": 2, "seed": 3, "max_sequence_length": 64}


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model("ltx-2.5")


@pytest.fixture(scope="module")
def model(folder):
    return load_tiny(LTX25_FAMILY, SPEC, folder)


def direct(folder: str, image: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Plain diffusers: ModularPipeline.from_pretrained, load_components, the blocks' guiders at the
    LTX-2.5 defaults, a seeded generator; returns (frames uint8, audio [samples, channels])."""
    pipe = ModularPipeline.from_pretrained(folder)
    pipe.load_components(dtype=torch.float32)
    pipe.update_components(
        guider=LTX2Guidance(guidance_scale=3.0, stg_scale=1.0, modality_scale=3.0, guidance_rescale=0.7,
                            spatio_temporal_guidance_blocks=[28]),
        audio_guider=LTX2Guidance(guidance_scale=7.0, stg_scale=1.0, modality_scale=3.0, guidance_rescale=0.7,
                                  spatio_temporal_guidance_blocks=[28]))
    kwargs = dict(prompt=PARAMS["prompt"], negative_prompt=DEFAULT_NEGATIVE_PROMPT, height=64, width=64, num_frames=9,
                  frame_rate=24.0, num_inference_steps=2, max_sequence_length=64, output_type="np")
    if image:
        kwargs["image"] = prepare_image(load_image(image), 64, 64)
    out = pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(PARAMS["seed"]), output=["videos", "audio"])
    return to_uint8_video(out["videos"]), out["audio"][0].float().numpy().T


def test_frames_and_sound_equal_a_direct_modular_call(model, folder):
    recorder = Recorder()
    result = model.generate(GenerationRequest(SPEC.id, PARAMS), recorder.context)
    frames, audio = direct(folder)
    assert result.metadata["pipeline"] == "LTX25ModularPipeline" and recorder.steps() == [(1, 2), (2, 2)]
    assert result.video.shape == (9, 64, 64, 3) and np.array_equal(result.video, frames)
    (track,) = result.audio
    assert track.sample_rate == 24000 and np.array_equal(track.samples, audio)


def test_start_image_equals_a_direct_call_and_changes_the_output(model, folder, wgp_test_images):
    one = model.generate(GenerationRequest(SPEC.id, {**PARAMS, "image_start": wgp_test_images["a"]}), Recorder().context)
    frames, audio = direct(folder, wgp_test_images["a"])
    assert np.array_equal(one.video, frames) and np.array_equal(one.audio[0].samples, audio)
    two = model.generate(GenerationRequest(SPEC.id, {**PARAMS, "image_start": wgp_test_images["c"]}), Recorder().context)
    assert not np.array_equal(one.video, two.video)


def test_cancel_stops_before_decoding(model):
    decoded = []
    original = model.pipe.diffusion_decoder.forward
    model.pipe.diffusion_decoder.forward = lambda *a, **k: decoded.append(1) or original(*a, **k)
    try:
        recorder = Recorder(cancel_after=1)
        with pytest.raises(JobCancelled):
            model.generate(GenerationRequest(SPEC.id, {**PARAMS, "steps": 3}), recorder.context)
    finally:
        del model.pipe.diffusion_decoder.forward
    assert recorder.steps() == [(1, 3)] and decoded == []


def test_cli_writes_an_mp4_with_its_sound(wgp_cli, folder, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", "ltx-2.5", "--model-path", folder, "-p", "a fox", "--resolution", "64x64",
                     "--frames", "9", "--steps", "2", "--set", "max_sequence_length=64", "--writer", "video",
                     "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (video,) = out.glob("*.mp4")
    with av.open(str(video)) as container:
        (audio,) = container.streams.audio
        assert audio.rate == 24000 and container.streams.video[0].frames == 9


@pytest.mark.parametrize("bad, needle", [("zero", "is empty (0 bytes)"), ("text", "is not an image"),
                                         ("mp4", "is a video, not an image"), ("missing", "file not found")])
def test_a_broken_start_image_is_refused_at_the_door(wgp_cli, folder, wgp_bad_media, tmp_path, bad, needle):
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", "ltx-2.5", "--model-path", folder, "-p", "a fox",
                               "--image-start", wgp_bad_media[bad], needles=("--image-start", needle))


def test_cancel_mid_run_through_the_queue_writes_nothing(folder, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model="ltx-2.5", model_path=folder, output_dir=str(out), writers=("video",),
        params={"prompt": "a fox", "steps": 3, "width": 64, "height": 64, "frames": 9, "max_sequence_length": 64})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())


def test_the_fast_profile_lever_runs(folder):
    (fast,) = [p for p in LTX25_FAMILY.profiles if p.name == "fast"]
    model = load_tiny(LTX25_FAMILY, SPEC, folder, **fast.plan)
    recorder = Recorder()
    result = model.generate(GenerationRequest(SPEC.id, {**PARAMS, "steps": 3}), recorder.context)
    assert model.load_report["cache"] == fast.plan["cache"] == "taylorseer"
    assert result.video.shape == (9, 64, 64, 3) and recorder.steps()[-1] == (3, 3)
