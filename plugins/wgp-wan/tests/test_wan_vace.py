"""Wan 2.1 VACE on a tiny random-weight copy: loads through from_pretrained, frames equal a direct
WanVACEPipeline call, every media input counts, bad media stopped at the door, cancel, a lever."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanVACEPipeline
from diffusers.utils import load_image
from PIL import Image
from wan_media import pil_frames, write_mask, write_video
from wan_testing import SMALL, Recorder
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest, JobCancelled, UserError
from wgp_wan.plugin import WAN_FAMILY
from wgp_wan.specs import NEGATIVE_PROMPT, get_spec

from wgp_diffusers.sizing import prepare_image
from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, assert_one_line_error

VACE = "wan2.1-vace-1.3b"


@pytest.fixture(scope="module")
def media(tmp_path_factory, wgp_test_images):
    """Control videos (9 frames: more than the 5 used), a short one, a wide one, masks, references."""
    root = tmp_path_factory.mktemp("vace-media")
    return {
        "control": write_video(root / "control.mkv", 9, seed=1),
        "control_b": write_video(root / "control_b.mp4", 9, seed=2),
        "short": write_video(root / "short.mkv", 3, seed=3),
        "wide": write_video(root / "wide.mkv", 5, size=(48, 32), seed=4),
        "mask": write_mask(root / "mask.png", "left"),
        "mask_b": write_mask(root / "mask_b.png", "top"),
        "mask_video": write_video(root / "mask.mkv", 5, seed=5, grey=True),
        "ref": wgp_test_images["a"],
        "ref_b": wgp_test_images["wide"],
    }


@pytest.fixture(scope="module")
def vace(wgp_tiny_model):
    """The loaded tiny VACE model (one load for the module) and its folder."""
    folder = wgp_tiny_model(VACE)
    return load_tiny(WAN_FAMILY, get_spec(VACE), folder), folder


def params(**changes) -> dict:
    return {**get_spec(VACE).defaults(), **SMALL, **changes}


def frames_of(model, request: dict, recorder: Recorder | None = None) -> np.ndarray:
    return model.generate(GenerationRequest(VACE, request), (recorder or Recorder()).context).video


def test_ids_repos_and_official_defaults():
    small, large = get_spec("wan2.1-vace-1.3b"), get_spec("wan2.1-vace-14b")
    assert (small.weights, large.weights) == ("Wan-AI/Wan2.1-VACE-1.3B-diffusers", "Wan-AI/Wan2.1-VACE-14B-diffusers")
    # Wan2.1 generate.py: 50 steps, guide 5, shift 16 for vace, 81 frames; vace-1.3B is 480p only.
    d = small.defaults()
    assert (d["width"], d["height"], d["steps"], d["guidance"], d["flow_shift"], d["frames"], d["fps"]) == (832, 480, 50, 5.0, 16.0, 81, 16)
    assert (large.defaults()["width"], large.defaults()["height"]) == (1280, 720)
    assert d["conditioning_scale"] == 1.0 and d["negative_prompt"] == NEGATIVE_PROMPT
    flags = {p.name: (p.type, p.multiple, p.flag) for p in small.params if p.flag}
    assert flags == {"control_video": ("video", False, "--control-video"), "mask_video": ("mask", False, "--mask-video"),
                     "reference_images": ("image", True, "--reference-image")}


def test_tiny_vace_is_the_real_classes_loaded_through_from_pretrained(vace):
    from pathlib import Path

    model, folder = vace
    assert type(model.pipe) is WanVACEPipeline
    assert type(model.pipe.transformer).__name__ == "WanVACETransformer3DModel"
    assert list(Path(folder).glob("transformer/*.safetensors")) and not list(Path(folder).rglob("*.bin"))


def test_a_plain_wan_folder_is_refused_with_the_reason(wgp_tiny_model):
    with pytest.raises(UserError, match="its transformer is WanTransformer3DModel, not WanVACETransformer3DModel"):
        load_tiny(WAN_FAMILY, get_spec(VACE), wgp_tiny_model("wan2.1-t2v-1.3b"))


def test_frames_equal_a_direct_diffusers_call(vace, media):
    model, folder = vace
    request = params(control_video=media["control"], mask_video=media["mask"], reference_images=[media["ref"], media["ref_b"]],
                     conditioning_scale=0.8, flow_shift=7.0, negative_prompt="blurry")
    recorder = Recorder()
    ours = frames_of(model, request, recorder)
    assert ours.shape == (5, 32, 32, 3) and recorder.steps() == [(1, 2), (2, 2)]
    # What a diffusers user writes: the first 5 frames of the video, the still mask for each, the images as loaded.
    pipe = WanVACEPipeline.from_pretrained(folder)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=7.0)
    direct = pipe(
        prompt=SMALL["prompt"], negative_prompt="blurry", video=pil_frames(media["control"], 5),
        mask=[Image.open(media["mask"]).convert("L")] * 5, reference_images=[load_image(media["ref"]), load_image(media["ref_b"])],
        conditioning_scale=0.8, height=32, width=32, num_frames=5, num_inference_steps=2, guidance_scale=5.0,
        generator=torch.Generator("cpu").manual_seed(SMALL["seed"]), output_type="pil",
    ).frames[0]
    assert np.array_equal(ours, np.stack([np.asarray(f) for f in direct]))


def test_every_media_input_changes_the_frames(vace, media):
    model, _ = vace
    full = dict(control_video=media["control"], mask_video=media["mask"], reference_images=[media["ref"]])
    base = frames_of(model, params(**full))
    variants = {
        "control_video": frames_of(model, params(**{**full, "control_video": media["control_b"]})),
        "mask_video": frames_of(model, params(**{**full, "mask_video": media["mask_b"]})),
        "mask video": frames_of(model, params(**{**full, "mask_video": media["mask_video"]})),
        "reference_images": frames_of(model, params(**{**full, "reference_images": [media["ref_b"]]})),
        "conditioning_scale": frames_of(model, params(**full, conditioning_scale=0.3)),
        "text only": frames_of(model, params()),
    }
    for name, frames in variants.items():
        assert not np.array_equal(frames, base), name
    assert np.array_equal(frames_of(model, params(**full)), base)


def test_a_control_video_of_another_shape_is_centre_cropped_and_said(vace, media):
    from wgp_wan.vace import load_media

    model, _ = vace
    request = params(control_video=media["wide"])
    assert WAN_FAMILY.check(get_spec(VACE), request) == ["--control-video 48x32 cropped to 32x32 (centre) for 32x32"]
    video = load_media(request)["video"]
    assert [f.size for f in video] == [(32, 32)] * 5
    assert np.array_equal(np.asarray(video[0]), np.asarray(prepare_image(pil_frames(media["wide"], 1)[0], 32, 32)))
    assert frames_of(model, request).shape == (5, 32, 32, 3)


def test_the_door_refuses_a_short_control_video_and_a_lone_mask(media):
    spec = get_spec(VACE)
    with pytest.raises(UserError, match=r"--control-video: .*short.mkv has 3 frames, fewer than needed: --frames is 5; "
                                        r"give a longer video or --frames 1"):
        WAN_FAMILY.check(spec, params(control_video=media["short"]))
    with pytest.raises(UserError, match="--mask-video needs --control-video"):
        WAN_FAMILY.check(spec, params(mask_video=media["mask"]))
    with pytest.raises(UserError, match=r"--mask-video: .* has 5 frames, fewer than needed: --frames is 9"):
        WAN_FAMILY.check(spec, params(frames=9, control_video=media["control"], mask_video=media["mask_video"]))
    assert WAN_FAMILY.check(spec, params(frames=9, control_video=media["control"], mask_video=media["mask"])) == []


BAD_CASES = (
    [("--control-video", kind, BAD_VIDEO_MESSAGES[kind]) for kind in ("zero", "text", "png", "missing")]
    + [("--mask-video", kind, said) for kind, said in (("zero", "is empty (0 bytes)"), ("text", "is neither an image nor a video"),
                                                        ("missing", "file not found"))]
    + [("--reference-image", kind, BAD_IMAGE_MESSAGES[kind]) for kind in ("zero", "mp4", "missing")]
)


@pytest.mark.parametrize(("flag", "kind", "said"), BAD_CASES, ids=[f"{f[2:]}-{k}" for f, k, _ in BAD_CASES])
def test_bad_media_is_one_line_at_the_door(flag, kind, said, wgp_cli, wgp_bad_media, media, tmp_path):
    out = tmp_path / "out"
    extra = ["--control-video", media["control"]] if flag == "--mask-video" else []
    result = wgp_cli("queue", "add", "-m", VACE, "-p", "x", "--frames", "5", *extra, flag, wgp_bad_media[kind],
                     "--output-dir", str(out))
    assert_one_line_error(result, flag, said)
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []
    assert not out.exists()


@pytest.mark.parametrize("case", ["short", "lone-mask"])
def test_content_errors_are_one_line_at_the_door(case, wgp_cli, media, tmp_path):
    args = ["--control-video", media["short"]] if case == "short" else ["--mask-video", media["mask"]]
    result = wgp_cli("run", "-m", VACE, "-p", "x", "--frames", "5", *args, "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--control-video" if case == "short" else "--mask-video needs --control-video")
    assert not (tmp_path / "out").exists()


def test_cancel_mid_run_writes_nothing(vace, media, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model=VACE, model_path=vace[1], output_dir=str(out), writers=("video",),
        params={"prompt": "a fox", "steps": 3, "width": 32, "height": 32, "frames": 5,
                "control_video": media["control"], "reference_images": [media["ref"]]})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())
    recorder = Recorder(cancel_after=1)
    with pytest.raises(JobCancelled):
        frames_of(vace[0], params(steps=3, control_video=media["control"]), recorder)


def test_first_block_cache_runs_on_vace(vace, media):
    request = params(steps=4, control_video=media["control"], mask_video=media["mask"])
    plain = frames_of(vace[0], request)
    # A threshold no change reaches: every step after the first reuses the tail blocks' residual.
    model = load_tiny(WAN_FAMILY, get_spec(VACE), vace[1], cache="fbcache", cache_options=["threshold=100"])
    cached = frames_of(model, request)
    assert model.load_report["cache"] == "fbcache" and model.load_report["cache_options"] == {"threshold": 100.0}
    assert cached.shape == (5, 32, 32, 3) and not np.array_equal(cached, plain)
    assert np.array_equal(frames_of(model, request), cached)
