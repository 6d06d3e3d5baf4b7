"""Wan 2.2 Animate on a tiny random-weight copy: loads through from_pretrained, frames equal a direct
WanAnimatePipeline call (animation and replacement), every media input counts, bad media stopped at
the door, cancel, a lever."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanAnimatePipeline
from diffusers.utils import load_image
from wan_media import pil_frames, write_mask, write_video
from wan_testing import Recorder
from wgp_diffusers.testing import load_tiny
from wgp_diffusers.levers import check_plan
from wgp_hookspecs import GenerationRequest, JobCancelled, LoadPlan, UserError
from wgp_wan.plugin import WAN_FAMILY
from wgp_wan.specs import ANIMATE_PROMPT, get_spec

from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, assert_one_line_error

ANIMATE = "wan2.2-animate-14b"
#: 9 pose frames in segments of 5 overlapping by 1: two segments, the second conditioned on the first.
SMALL = {"width": 32, "height": 32, "steps": 2, "seed": 7, "segment_frames": 5}


@pytest.fixture(scope="module")
def media(tmp_path_factory, wgp_test_images):
    root = tmp_path_factory.mktemp("animate-media")
    return {
        "character": wgp_test_images["a"],
        "character_b": wgp_test_images["b"],
        "pose": write_video(root / "pose.mkv", 9, seed=1),
        "pose_b": write_video(root / "pose_b.mp4", 9, seed=2),
        "face": write_video(root / "face.mkv", 9, size=(16, 16), seed=3),
        "face_b": write_video(root / "face_b.mkv", 9, size=(16, 16), seed=4),
        "short_face": write_video(root / "short_face.mkv", 4, size=(16, 16), seed=5),
        "background": write_video(root / "bg.mkv", 9, seed=6),
        "background_b": write_video(root / "bg_b.mkv", 9, seed=7),
        "mask": write_video(root / "mask.mkv", 9, seed=8, grey=True),
        "mask_b": write_mask(root / "mask_b.png", "left"),
    }


@pytest.fixture(scope="module")
def animate(wgp_tiny_model):
    folder = wgp_tiny_model(ANIMATE)
    return load_tiny(WAN_FAMILY, get_spec(ANIMATE), folder), folder


def params(media: dict, **changes) -> dict:
    inputs = {"image_start": media["character"], "pose_video": media["pose"], "face_video": media["face"]}
    return {**get_spec(ANIMATE).defaults(), **SMALL, **inputs, **changes}


def frames_of(model, request: dict, recorder: Recorder | None = None) -> np.ndarray:
    return model.generate(GenerationRequest(ANIMATE, request), (recorder or Recorder()).context).video


def test_id_repo_and_official_defaults():
    spec = get_spec(ANIMATE)
    assert spec.weights == "Wan-AI/Wan2.2-Animate-14B-Diffusers"
    d = spec.defaults()
    # Wan2.2 wan/configs/wan_animate_14B.py: shift 5, 20 steps, guide 1, clips of 77, 30 fps; --refert_num 1.
    assert (d["flow_shift"], d["steps"], d["guidance"], d["segment_frames"], d["fps"], d["segment_overlap"]) == (5.0, 20, 1.0, 77, 30, 1)
    assert (d["width"], d["height"], d["prompt"], d["frames"]) == (1280, 720, ANIMATE_PROMPT, None)
    flags = {p.name: (p.type, p.required, p.flag) for p in spec.params if p.flag}
    assert flags == {"pose_video": ("video", True, "--pose-video"), "face_video": ("video", True, "--face-video"),
                     "background_video": ("video", False, "--background-video"), "mask_video": ("mask", False, "--mask-video")}
    assert spec.param("image_start").required


def test_tiny_animate_is_the_real_classes_loaded_through_from_pretrained(animate):
    from pathlib import Path

    model, folder = animate
    assert type(model.pipe) is WanAnimatePipeline
    assert type(model.pipe.transformer).__name__ == "WanAnimateTransformer3DModel"
    assert type(model.pipe.image_encoder).__name__ == "CLIPVisionModel"
    assert list(Path(folder).glob("transformer/*.safetensors")) and not list(Path(folder).rglob("*.bin"))


def direct(folder: str, request: dict, media: dict, replace: bool = False, count: int = 9) -> np.ndarray:
    """What a diffusers user writes: the videos decoded frame by frame, the character as loaded."""
    pipe = WanAnimatePipeline.from_pretrained(folder)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=request["flow_shift"])
    extra = {}
    if replace:
        extra = {"background_video": pil_frames(media["background"], count), "mask_video": pil_frames(media["mask"], count, "L"),
                 "mode": "replace"}
    frames = pipe(
        image=load_image(media["character"]), pose_video=pil_frames(media["pose"], count), face_video=pil_frames(media["face"], count),
        prompt=request["prompt"], negative_prompt=request["negative_prompt"], height=32, width=32, segment_frame_length=request["segment_frames"],
        prev_segment_conditioning_frames=request["segment_overlap"], num_inference_steps=2, guidance_scale=request["guidance"],
        generator=torch.Generator("cpu").manual_seed(7), output_type="pil", **extra,
    ).frames[0]
    return np.stack([np.asarray(f) for f in frames])


def test_animation_equals_a_direct_diffusers_call(animate, media):
    model, folder = animate
    request = params(media, flow_shift=7.0)
    recorder = Recorder()
    ours = frames_of(model, request, recorder)
    assert ours.shape == (9, 32, 32, 3)  # as many frames as the pose video
    assert recorder.steps() == [(1, 2), (2, 2)] * 2  # two segments, each a full denoising pass
    assert np.array_equal(ours, direct(folder, request, media))


def test_replacement_with_guidance_equals_a_direct_diffusers_call(animate, media):
    model, folder = animate
    request = params(media, background_video=media["background"], mask_video=media["mask"], guidance=3.0,
                     negative_prompt="blurry", segment_overlap=5, segment_frames=13, frames=7)
    ours = frames_of(model, request)
    assert ours.shape == (7, 32, 32, 3)
    assert np.array_equal(ours, direct(folder, request, media, replace=True, count=7))


def test_every_media_input_changes_the_frames(animate, media):
    model, _ = animate
    full = dict(background_video=media["background"], mask_video=media["mask"])
    base = frames_of(model, params(media, **full))
    variants = {
        "image_start": params(media, **full, image_start=media["character_b"]),
        "pose_video": params(media, **full, pose_video=media["pose_b"]),
        "face_video": params(media, **full, face_video=media["face_b"]),
        "background_video": params(media, **{**full, "background_video": media["background_b"]}),
        "mask_video": params(media, **{**full, "mask_video": media["mask_b"]}),
        "animation mode": params(media),
    }
    for name, request in variants.items():
        assert not np.array_equal(frames_of(model, request), base), name


def test_the_door_checks_frame_counts_and_the_replacement_pair(media):
    spec = get_spec(ANIMATE)
    check = WAN_FAMILY.check
    assert check(spec, params(media)) == []
    with pytest.raises(UserError, match=r"--pose-video: .* has 9 frames but --frames is 12"):
        check(spec, params(media, frames=12))
    with pytest.raises(UserError, match=r"--face-video: .* has 4 frames, fewer than needed: the pose video has 9; give the face video"):
        check(spec, params(media, face_video=media["short_face"]))
    assert check(spec, params(media, face_video=media["short_face"], frames=4)) == []
    with pytest.raises(UserError, match="more frames than segment_overlap"):
        check(spec, params(media, frames=5, segment_overlap=5, segment_frames=13))
    with pytest.raises(UserError, match=r"segment_frames \(9\) must be more than twice segment_overlap \(5\); "
                                        r"use --set segment_frames=13 or more"):
        check(spec, params(media, segment_overlap=5, segment_frames=9))
    with pytest.raises(UserError, match="needs both --background-video and --mask-video .got only --mask-video"):
        check(spec, params(media, mask_video=media["mask"]))


BAD_CASES = (
    [("--pose-video", kind, BAD_VIDEO_MESSAGES[kind]) for kind in ("zero", "png", "missing")]
    + [("--face-video", kind, BAD_VIDEO_MESSAGES[kind]) for kind in ("zero", "text")]
    + [("--background-video", "wav", BAD_VIDEO_MESSAGES["wav"])]
    + [("--image-start", kind, BAD_IMAGE_MESSAGES[kind]) for kind in ("zero", "mp4")]
)


@pytest.mark.parametrize(("flag", "kind", "said"), BAD_CASES, ids=[f"{f[2:]}-{k}" for f, k, _ in BAD_CASES])
def test_bad_media_is_one_line_at_the_door(flag, kind, said, wgp_cli, wgp_bad_media, media, tmp_path):
    inputs = {"--image-start": media["character"], "--pose-video": media["pose"], "--face-video": media["face"],
              flag: wgp_bad_media[kind]}
    if flag == "--background-video":
        inputs["--mask-video"] = media["mask"]
    args = [item for pair in inputs.items() for item in pair]
    out = tmp_path / "out"
    result = wgp_cli("queue", "add", "-m", ANIMATE, *args, "--output-dir", str(out))
    assert_one_line_error(result, flag, said)
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []
    assert not out.exists()


def test_a_missing_pose_video_is_one_line(wgp_cli, media, tmp_path):
    result = wgp_cli("run", "-m", ANIMATE, "--image-start", media["character"], "--face-video", media["face"],
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "pose")
    assert not (tmp_path / "out").exists()


def test_cancel_mid_run_writes_nothing(animate, media, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model=ANIMATE, model_path=animate[1], output_dir=str(out), writers=("video",),
        params={**SMALL, "steps": 3, "image_start": media["character"], "pose_video": media["pose"],
                "face_video": media["face"]})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())
    recorder = Recorder(cancel_after=2)  # cancelled at the end of the first segment: stops in the second
    with pytest.raises(JobCancelled):
        frames_of(animate[0], params(media), recorder)
    assert recorder.steps() == [(1, 2), (2, 2)]


def test_fp8_storage_runs_and_equals_diffusers_layerwise_casting(animate, media):
    model, folder = animate
    request = params(media)
    stored = load_tiny(WAN_FAMILY, get_spec(ANIMATE), folder, storage_dtype="fp8")
    assert stored.pipe.transformer.blocks[0].ffn.net[0].proj.weight.dtype == torch.float8_e4m3fn
    ours = frames_of(stored, request)
    pipe = WanAnimatePipeline.from_pretrained(folder)
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    # The scheduler as wgp sets it (flow shift 5, the saved one's) and the same inputs as direct().
    frames = pipe(
        image=load_image(media["character"]), pose_video=pil_frames(media["pose"]), face_video=pil_frames(media["face"]),
        prompt=request["prompt"], negative_prompt=request["negative_prompt"], height=32, width=32, segment_frame_length=5,
        num_inference_steps=2, guidance_scale=1.0, generator=torch.Generator("cpu").manual_seed(7), output_type="pil",
    ).frames[0]
    assert np.array_equal(ours, np.stack([np.asarray(f) for f in frames]))
    assert not np.array_equal(ours, frames_of(model, request))


def test_first_block_cache_is_refused_in_one_line(animate):
    # diffusers 0.42 registers no FirstBlockCache block type for WanAnimateTransformer3DModel's blocks;
    # its spec declares it, so the door (and a load the door did not see) refuses it in one line.
    message = f"--cache fbcache does not run on {ANIMATE}: .*; caches that run on it: taylorseer, pab, textkv$"
    with pytest.raises(UserError, match=message):
        check_plan(get_spec(ANIMATE), LoadPlan(options={"cache": "fbcache"}))
    with pytest.raises(UserError, match=message):
        load_tiny(WAN_FAMILY, get_spec(ANIMATE), animate[1], cache="fbcache")
    # No `fast` profile: TaylorSeer, the fallback, hooks nothing at its defaults here (see specs.py).
    assert not [p for p in WAN_FAMILY.profiles if p.name == "fast" and p.applies_to(ANIMATE)]
