"""Wan 2.2 Animate 2 (Modular pipeline) on a tiny random-weight copy: loads through from_pretrained,
frames equal a direct WanAnimate2ModularPipeline call, both inputs count, the door, cancel, a lever.

The transformer's block mask is made with torch.compile once per process (several seconds on a
CPU): the module generates as few times as it can and shares one loaded model.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch
from diffusers import ClassifierFreeGuidance, UniPCMultistepScheduler, WanAnimate2ModularPipeline
from diffusers.utils import load_image
from wan_media import pil_frames, write_video
from wgp_diffusers import to_uint8_video
from wgp_diffusers.levers import check_plan
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest, LoadPlan, UserError
from wgp_wan import animate2
from wgp_wan.plugin import WAN_FAMILY
from wgp_wan.specs import get_spec

from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, Recorder, assert_one_line_error

ANIMATE2 = "wan2.2-animate-2-14b"
SPEC = get_spec(ANIMATE2)
#: 9 driving frames at 16 fps kept at 16 fps, in segments of 5 overlapping by 1: two segments.
SMALL = {"prompt": "a dancer", "width": 32, "height": 32, "steps": 2, "seed": 7, "segment_frames": 5, "fps": 16}


@pytest.fixture(scope="module")
def media(tmp_path_factory, wgp_test_images):
    root = tmp_path_factory.mktemp("animate2-media")
    return {
        "character": wgp_test_images["a"],
        "character_b": wgp_test_images["b"],
        "driving": write_video(root / "driving.mkv", 9, seed=1),
        "driving_b": write_video(root / "driving_b.mp4", 9, seed=2),
        "short": write_video(root / "short.mkv", 2, seed=3),
    }


@pytest.fixture(scope="module")
def animate(wgp_tiny_model):
    folder = wgp_tiny_model(ANIMATE2)
    return load_tiny(WAN_FAMILY, SPEC, folder), folder


@pytest.fixture(scope="module")
def ours(animate, media):
    """The default request's frames and step events, generated once."""
    recorder = Recorder()
    return frames_of(animate[0], params(media), recorder), recorder.steps()


def params(media: dict, **changes) -> dict:
    return {**SPEC.defaults(), **SMALL, "image_start": media["character"], "driving_video": media["driving"], **changes}


def frames_of(model, request: dict, recorder: Recorder | None = None) -> np.ndarray:
    return model.generate(GenerationRequest(ANIMATE2, request), (recorder or Recorder()).context).video


def direct(folder: str, media: dict) -> np.ndarray:
    """Plain diffusers: the modular pipeline from the folder, the base guider at guidance 3, the
    character from load_image, the driving frames decoded independently, a seeded generator."""
    pipe = WanAnimate2ModularPipeline.from_pretrained(folder)
    pipe.load_components(dtype=torch.float32)
    pipe.update_components(guider=ClassifierFreeGuidance(guidance_scale=3.0))
    out = pipe(prompt="a dancer", image=load_image(media["character"]), driving_video=pil_frames(media["driving"]),
               driving_video_fps=16.0, fps=16, height=32, width=32, segment_frame_length=5,
               prev_segment_conditioning_frames=1, num_inference_steps=2, output_type="np",
               generator=torch.Generator("cpu").manual_seed(7), output="videos")
    return to_uint8_video(out)


def test_id_repo_and_blocks_defaults():
    assert SPEC.weights == "Wan-AI/Wan2.2-Animate-2-14B-Diffusers" and SPEC in WAN_FAMILY.models
    defaults = SPEC.defaults()
    assert {k: defaults[k] for k in ("width", "height", "segment_frames", "segment_overlap", "steps", "guidance", "fps")} == {
        "width": 640, "height": 800, "segment_frames": 81, "segment_overlap": 1, "steps": 40, "guidance": 3.0, "fps": 24}
    assert SPEC.param("driving_video").flag == "--driving-video" and SPEC.param("driving_video").required
    assert SPEC.param("pose_video") is None and SPEC.param("face_video") is None  # no preprocessing inputs


def test_tiny_is_the_real_classes_loaded_through_from_pretrained(animate):
    model, folder = animate
    assert type(model).__name__ == "Animate2Model"
    assert type(model.pipe).__name__ == "WanAnimate2ModularPipeline"
    assert type(model.pipe.transformer).__name__ == "WanAnimate2Transformer3DModel"
    assert type(model.pipe.image_encoder).__name__ == "CLIPVisionModel"
    assert model.pipe.transformer.dtype == torch.float32


def test_frames_equal_a_direct_modular_call_and_both_inputs_count(animate, media, ours):
    model, folder = animate
    ours, steps = ours
    assert ours.shape == (9, 32, 32, 3)
    assert steps == [(1, 2), (2, 2), (1, 2), (2, 2)]  # two segments of two steps each
    assert np.array_equal(ours, direct(folder, media))
    assert not np.array_equal(ours, frames_of(model, params(media, image_start=media["character_b"])))
    assert not np.array_equal(ours, frames_of(model, params(media, driving_video=media["driving_b"])))
    # Guidance 1 runs the conditional branch only (no negative prompt is encoded).
    assert not np.array_equal(ours, frames_of(model, params(media, guidance=1.0)))


def test_cli_run_writes_the_video(wgp_cli, animate, media, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", ANIMATE2, "--model-path", animate[1], "-p", "a dancer",
                     "--image-start", media["character"], "--driving-video", media["driving"], "--resolution", "32x32",
                     "--steps", "1", "--fps", "16", "--set", "segment_frames=5", "--writer", "video",
                     "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (video,) = out.glob("*.mp4")
    with av.open(str(video)) as container:
        assert container.streams.video[0].frames == 9


def test_the_door_checks_the_driving_video_length(media):
    check = WAN_FAMILY.check
    assert check(SPEC, params(media)) == []
    with pytest.raises(UserError, match=r"--driving-video: .* gives 2 frames at 16 fps; segments of 5 need at least 3"):
        check(SPEC, params(media, driving_video=media["short"]))
    # At 24 fps the 16 fps video gives 13 frames: enough.
    assert check(SPEC, params(media, fps=24)) == []
    with pytest.raises(UserError, match=r"segment_frames \(5\) must be more than segment_overlap \(5\)"):
        check(SPEC, params(media, segment_overlap=5))


BAD_CASES = (
    [("--driving-video", kind, BAD_VIDEO_MESSAGES[kind]) for kind in ("zero", "png", "missing")]
    + [("--image-start", kind, BAD_IMAGE_MESSAGES[kind]) for kind in ("zero", "mp4")]
)


@pytest.mark.parametrize(("flag", "kind", "said"), BAD_CASES, ids=[f"{f[2:]}-{k}" for f, k, _ in BAD_CASES])
def test_bad_media_is_one_line_at_the_door(flag, kind, said, wgp_cli, wgp_bad_media, media, tmp_path):
    inputs = {"--image-start": media["character"], "--driving-video": media["driving"], flag: wgp_bad_media[kind]}
    args = [item for pair in inputs.items() for item in pair]
    out = tmp_path / "out"
    result = wgp_cli("queue", "add", "-m", ANIMATE2, "-p", "a dancer", *args, "--output-dir", str(out))
    assert_one_line_error(result, flag, said)
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []
    assert not out.exists()


def test_a_missing_driving_video_is_one_line(wgp_cli, media, tmp_path):
    result = wgp_cli("run", "-m", ANIMATE2, "-p", "a dancer", "--image-start", media["character"],
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "driving")
    assert not (tmp_path / "out").exists()


def test_a_scheduler_the_blocks_cannot_step_is_refused_in_one_line(animate):
    # diffusers 0.42.1's WanAnimate2 blocks call scheduler.step(..., generator=); UniPC's step has no
    # such argument, so those weights would fail inside diffusers: refused when they load.
    pipe = SimpleNamespace(transformer=animate[0].pipe.transformer, scheduler=UniPCMultistepScheduler())
    with pytest.raises(UserError, match=r"scheduler UniPCMultistepScheduler cannot run .*generator="):
        animate2.check_layout(SPEC, pipe, "/weights")
    animate2.check_layout(SPEC, animate[0].pipe, "/weights")


def test_step_caches_and_attention_backends_are_refused_in_one_line(animate):
    with pytest.raises(UserError, match=f"--cache fbcache does not run on {ANIMATE2}: .*no step cache runs on it$"):
        check_plan(SPEC, LoadPlan(options={"cache": "fbcache"}))
    with pytest.raises(UserError, match=f"--attention native does not run on {ANIMATE2}: .*flex attention"):
        load_tiny(WAN_FAMILY, SPEC, animate[1], attention="native")


def test_cancel_mid_run_writes_nothing(animate, media, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model=ANIMATE2, model_path=animate[1], output_dir=str(out), writers=("video",),
        params={**SMALL, "steps": 3, "image_start": media["character"], "driving_video": media["driving"]})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())


def test_fp8_storage_runs(animate, media, ours):
    stored = load_tiny(WAN_FAMILY, SPEC, animate[1], storage_dtype="fp8")
    assert stored.pipe.transformer.blocks[0].ffn[0].weight.dtype == torch.float8_e4m3fn
    frames = frames_of(stored, params(media))
    assert frames.shape == (9, 32, 32, 3) and not np.array_equal(frames, ours[0])
