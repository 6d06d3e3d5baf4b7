"""The Wan family end to end on tiny random-weight models: build, load, generate, compare with diffusers."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
    WanPipeline,
)
from wan_testing import SMALL, Recorder, request_params
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import (
    GenerationRequest,
    JobCancelled,
    LoadPlan,
    ParameterError,
    UserError,
)
from wgp_wan.pipeline import (
    configure_scheduler,
    load_images,
    pipeline_class,
    pipeline_kwargs,
)
from wgp_wan.plugin import WAN_FAMILY
from wgp_wan.specs import WAN_MODEL_IDS, get_spec

from wgp_diffusers.diffusion import to_uint8_video
from wgp_host.testing import heavy_imports, registered_families

#: The text/image/first-last-frame models; VACE and Animate have their own tests (test_wan_vace.py,
#: test_wan_animate.py), since their media inputs shape every request.
BASE_IDS = tuple(m for m in WAN_MODEL_IDS if get_spec(m).options["pipeline"] in ("t2v", "i2v", "ti2v"))
IMAGE_IDS = ("wan2.1-i2v-14b-480p", "wan2.1-i2v-14b-720p", "wan2.1-flf2v-14b", "wan2.2-i2v-a14b")
A14B_IDS = ("wan2.2-t2v-a14b", "wan2.2-i2v-a14b")


def load(model_id: str, folder: str, **plan):
    return load_tiny(WAN_FAMILY, get_spec(model_id), folder, **plan)


def generate(model, params: dict, recorder: Recorder | None = None):
    recorder = recorder or Recorder()
    return model.generate(GenerationRequest(model.spec.id, params), recorder.context)


# --------------------------------------------------------------------------- registration


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_wan.plugin") == []


def test_entry_point_registers_every_model():
    families = registered_families("wan")
    assert [f.name for f in families] == ["wan"]
    assert [m.id for m in families[0].models] == list(WAN_MODEL_IDS)
    assert {m.id: m.weights for m in families[0].models} == {
        "wan2.1-t2v-1.3b": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        "wan2.1-t2v-14b": "Wan-AI/Wan2.1-T2V-14B-Diffusers",
        "wan2.1-i2v-14b-480p": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        "wan2.1-i2v-14b-720p": "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
        "wan2.1-flf2v-14b": "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
        "wan2.2-t2v-a14b": "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
        "wan2.2-i2v-a14b": "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        "wan2.2-ti2v-5b": "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        "wan2.1-vace-1.3b": "Wan-AI/Wan2.1-VACE-1.3B-diffusers",
        "wan2.1-vace-14b": "Wan-AI/Wan2.1-VACE-14B-diffusers",
        "wan2.2-animate-14b": "Wan-AI/Wan2.2-Animate-14B-Diffusers",
        "wan2.2-animate-2-14b": "Wan-AI/Wan2.2-Animate-2-14B-Diffusers",
    }


def test_published_defaults():
    d = get_spec("wan2.1-t2v-1.3b").defaults()
    assert (d["width"], d["height"], d["frames"], d["steps"], d["guidance"], d["flow_shift"], d["fps"]) == (832, 480, 81, 50, 5.0, 3.0, 16)
    assert get_spec("wan2.1-i2v-14b-720p").defaults()["width"] == 1280
    assert get_spec("wan2.1-i2v-14b-720p").defaults()["flow_shift"] == 5.0
    a14b = get_spec("wan2.2-t2v-a14b").defaults()
    assert (a14b["steps"], a14b["guidance"], a14b["guidance_2"]) == (40, 4.0, 3.0)
    ti2v = get_spec("wan2.2-ti2v-5b").defaults()
    assert (ti2v["width"], ti2v["height"], ti2v["frames"], ti2v["fps"]) == (1280, 704, 121, 24)
    assert "guidance_2" not in get_spec("wan2.1-t2v-14b").defaults()
    assert get_spec("wan2.1-i2v-14b-480p").param("image_start").required
    assert not get_spec("wan2.2-ti2v-5b").param("image_start").required
    assert get_spec("wan2.2-ti2v-5b").capabilities == {"text-to-video", "image-to-video"}
    assert get_spec("wan2.1-flf2v-14b").capabilities == {"first-last-frame-to-video"}


def test_schema_rules():
    frames = get_spec("wan2.1-t2v-1.3b").param("frames")
    assert frames.validate(81) == 81
    with pytest.raises(ParameterError, match="4n\\+1.*77 or 81"):
        frames.validate(80)
    with pytest.raises(ParameterError, match="multiple of 16"):
        get_spec("wan2.1-t2v-1.3b").param("width").validate(840)
    with pytest.raises(ParameterError, match="multiple of 32"):
        get_spec("wan2.2-ti2v-5b").param("height").validate(720)


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("model_id", BASE_IDS)
def test_tiny_model_generates(model_id, tiny_dir, images, recorder):
    model = load(model_id, tiny_dir(model_id))
    result = generate(model, request_params(model_id, images), recorder)
    assert result.video.shape == (5, 32, 32, 3)
    assert result.video.dtype == np.uint8
    assert result.video.std() > 0
    assert result.fps == get_spec(model_id).defaults()["fps"]
    assert result.metadata["seed"] == SMALL["seed"]
    assert recorder.steps() == [(1, 2), (2, 2)]


def test_frame_count_follows_request(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    result = generate(model, request_params("wan2.1-t2v-1.3b", frames=9, width=48))
    assert result.video.shape == (9, 32, 48, 3)


def direct_frames(model_id: str, folder: str, params: dict) -> np.ndarray:
    """What a diffusers user gets: from_pretrained, the documented flow-shift recipe, a seeded generator."""
    spec = get_spec(model_id)
    images = load_images(params)
    pipe = pipeline_class(spec, bool(images)).from_pretrained(folder, dtype=torch.float32)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=params["flow_shift"])
    output = pipe(**pipeline_kwargs(params, images), generator=torch.Generator("cpu").manual_seed(params["seed"]))
    return to_uint8_video(output.frames)


SAME_CASES = [(m, False) for m in BASE_IDS] + [("wan2.2-ti2v-5b", True)]


@pytest.mark.parametrize(("model_id", "with_image"), SAME_CASES)
def test_same_frames_as_diffusers(model_id, with_image, tiny_dir, images):
    folder = tiny_dir(model_id)
    # A flow shift other than the saved scheduler's, so the scheduler recipe is exercised too.
    params = request_params(model_id, images, flow_shift=7.0, guidance=6.0)
    if with_image:
        params["image_start"] = images["c"]
    ours = generate(load(model_id, folder), params).video
    assert np.array_equal(ours, direct_frames(model_id, folder, params))


def test_direct_call_written_out(tiny_dir):
    """The kwargs builder checked against a hand-written diffusers call (not only against itself)."""
    folder = tiny_dir("wan2.1-t2v-1.3b")
    params = request_params("wan2.1-t2v-1.3b", negative_prompt="blurry", flow_shift=4.0, guidance=7.5, frames=9)
    ours = generate(load("wan2.1-t2v-1.3b", folder), params).video
    pipe = WanPipeline.from_pretrained(folder)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=4.0)
    frames = pipe(
        prompt=SMALL["prompt"],
        negative_prompt="blurry",
        height=32,
        width=32,
        num_frames=9,
        num_inference_steps=2,
        guidance_scale=7.5,
        generator=torch.Generator("cpu").manual_seed(SMALL["seed"]),
        output_type="pil",
    ).frames[0]
    assert np.array_equal(ours, np.stack([np.array(f) for f in frames]))


def test_flow_shift_changes_frames(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    low = generate(model, request_params("wan2.1-t2v-1.3b", flow_shift=1.0)).video
    high = generate(model, request_params("wan2.1-t2v-1.3b", flow_shift=12.0)).video
    again = generate(model, request_params("wan2.1-t2v-1.3b", flow_shift=1.0)).video
    assert not np.array_equal(low, high)
    assert np.array_equal(low, again)


def test_configure_scheduler_flow_match():
    class Holder:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)

    holder = Holder()
    configure_scheduler(holder, 5.0)
    assert holder.scheduler.config.shift == 5.0


def test_seed_changes_frames(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    a = generate(model, request_params("wan2.1-t2v-1.3b", seed=1)).video
    b = generate(model, request_params("wan2.1-t2v-1.3b", seed=2)).video
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("model_id", IMAGE_IDS + ("wan2.2-ti2v-5b",))
def test_first_frame_changes_output(model_id, tiny_dir, images):
    model = load(model_id, tiny_dir(model_id))
    one = generate(model, request_params(model_id, images, image_start=images["a"])).video
    two = generate(model, request_params(model_id, images, image_start=images["c"])).video
    assert not np.array_equal(one, two)


def test_last_frame_changes_output(tiny_dir, images):
    model = load("wan2.1-flf2v-14b", tiny_dir("wan2.1-flf2v-14b"))
    one = generate(model, request_params("wan2.1-flf2v-14b", images, image_end=images["b"])).video
    two = generate(model, request_params("wan2.1-flf2v-14b", images, image_end=images["c"])).video
    assert not np.array_equal(one, two)


def test_ti2v_text_and_image_differ(tiny_dir, images):
    model = load("wan2.2-ti2v-5b", tiny_dir("wan2.2-ti2v-5b"))
    text = generate(model, request_params("wan2.2-ti2v-5b"))
    image = generate(model, request_params("wan2.2-ti2v-5b", image_start=images["a"]))
    assert text.metadata["pipeline"] == "WanPipeline"
    assert image.metadata["pipeline"] == "WanImageToVideoPipeline"
    assert not np.array_equal(text.video, image.video)


@pytest.mark.parametrize("model_id", A14B_IDS)
def test_a14b_runs_both_experts(model_id, tiny_dir, images):
    model = load(model_id, tiny_dir(model_id))
    pipe = model.pipe
    assert pipe.config.boundary_ratio == get_spec(model_id).options["boundary_ratio"]
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = [
        getattr(pipe, name).register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
        for name in calls
    ]
    try:
        # Shift 3 puts the second of two steps below the boundary: one step per expert.
        params = request_params(model_id, images, flow_shift=3.0)
        before = generate(model, params).video
    finally:
        for hook in hooks:
            hook.remove()
    # Classifier-free guidance: two forwards (cond, uncond) per step.
    assert calls == {"transformer": 2, "transformer_2": 2}
    with torch.no_grad():
        for p in pipe.transformer_2.parameters():
            p.add_(0.5)
    after = generate(model, params).video
    assert not np.array_equal(before, after)


def test_cancel_stops_at_once(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    recorder = Recorder(cancel_after=1)
    with pytest.raises(JobCancelled):
        generate(model, request_params("wan2.1-t2v-1.3b", steps=3), recorder)
    assert recorder.steps() == [(1, 3)]


# --------------------------------------------------------------------------- device plan


@pytest.mark.parametrize("offload", ["model", "group"])
@pytest.mark.parametrize("model_id", ["wan2.1-i2v-14b-480p", "wan2.2-t2v-a14b"])
def test_offload_gives_same_frames(model_id, offload, tiny_dir, images):
    params = request_params(model_id, images, flow_shift=3.0)
    plain = generate(load(model_id, tiny_dir(model_id)), params).video
    offloaded = load(model_id, tiny_dir(model_id), offload=offload)
    assert any("saves no memory" in w for w in offloaded.warnings)
    transformer = offloaded.pipe.transformer
    if offload == "model":  # accelerate's per-component hooks are in place
        assert offloaded.pipe._all_hooks and hasattr(transformer, "_hf_hook")
    else:  # diffusers' group-offloading hook is in place
        assert transformer._diffusers_hook.get_hook("group_offloading") is not None
    ours = generate(offloaded, params).video
    if offload == "model" and "image_start" in params:
        # diffusers' image-to-video pipeline under enable_model_cpu_offload(device="cpu") ends a few 1e-7
        # away from the plain call (the image latents take another path through the hooks), which can
        # flip a rare pixel by one level: equal to that level.
        difference = np.abs(ours.astype(int) - plain.astype(int))
        assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    else:
        assert np.array_equal(ours, plain)


@pytest.mark.parametrize("offload", ["model", "group"])
def test_ti2v_switches_pipelines_under_offload(offload, tiny_dir, images):
    folder = tiny_dir("wan2.2-ti2v-5b")
    text, image = request_params("wan2.2-ti2v-5b"), request_params("wan2.2-ti2v-5b", image_start=images["a"])
    plain = load("wan2.2-ti2v-5b", folder)
    expected = [generate(plain, p).video for p in (text, image)]
    model = load("wan2.2-ti2v-5b", folder, offload=offload)
    got = [generate(model, p).video for p in (text, image, text)]
    assert np.array_equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert np.array_equal(got[2], expected[0])


def test_vae_tiling_follows_plan(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"), vae_tiling=True)
    assert generate(model, request_params("wan2.1-t2v-1.3b")).metadata["vae_tiling"] is True
    assert model.pipe.vae.use_tiling
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    assert generate(model, request_params("wan2.1-t2v-1.3b")).metadata["vae_tiling"] is False
    assert not model.pipe.vae.use_tiling


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_plan_refused_before_loading(tmp_path):
    # The weights folder does not exist: a device error proves the plan was checked first.
    with pytest.raises(UserError, match="CUDA is not available"):
        load("wan2.1-t2v-1.3b", str(tmp_path / "missing"), device="cuda")


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="needs a CPU-only machine")
def test_sequential_offload_without_accelerator_refused(tmp_path):
    with pytest.raises(UserError, match="sequential.*needs CUDA or MPS"):
        WAN_FAMILY.load(get_spec("wan2.1-t2v-1.3b"), LoadPlan(weights=str(tmp_path / "missing"), options={"offload": "sequential"}))


def test_unknown_offload_and_dtype_refused(tmp_path):
    with pytest.raises(UserError, match="offload"):
        load("wan2.1-t2v-1.3b", str(tmp_path / "missing"), offload="disk")
    with pytest.raises(UserError, match="dtype"):
        load("wan2.1-t2v-1.3b", str(tmp_path / "missing"), dtype="int8")


# --------------------------------------------------------------------------- weights


def test_pickled_component_refused(tiny_dir, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_dir("wan2.1-t2v-1.3b"), folder)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(UserError, match="pickled weights.*transformer: diffusion_pytorch_model.bin"):
        load("wan2.1-t2v-1.3b", str(folder))


def test_pickles_only_folder_refused(tmp_path):
    (tmp_path / "model.ckpt").write_bytes(b"not loaded")
    with pytest.raises(UserError, match="pickled"):
        load("wan2.1-t2v-1.3b", str(tmp_path))


def test_missing_repo_offline_says_how_to_fetch():
    spec = get_spec("wan2.1-t2v-14b")
    with pytest.raises(UserError, match="Wan-AI/Wan2.1-T2V-14B-Diffusers.*huggingface-cli download Wan-AI/Wan2.1-T2V-14B-Diffusers"):
        WAN_FAMILY.load(spec, LoadPlan(device="cpu"))


def test_wrong_layout_refused(tiny_dir):
    with pytest.raises(UserError, match="transformer_2"):
        load("wan2.2-t2v-a14b", tiny_dir("wan2.1-t2v-1.3b"))
    with pytest.raises(UserError, match="image_encoder"):
        load("wan2.1-i2v-14b-480p", tiny_dir("wan2.2-i2v-a14b"))


def test_tiny_build_is_deterministic(tmp_path):
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for f in sorted(folder.rglob("*.safetensors")):
            h.update(f.read_bytes())
        return h.hexdigest()

    torch.manual_seed(123)
    WAN_FAMILY.build_tiny(get_spec("wan2.2-ti2v-5b"), tmp_path / "one")
    after_build = torch.rand(1)
    WAN_FAMILY.build_tiny(get_spec("wan2.2-ti2v-5b"), tmp_path / "two")
    assert digest(tmp_path / "one") == digest(tmp_path / "two")
    # Building leaves the caller's random state alone.
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after_build)


def test_unload_releases_the_pipeline(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    model.unload()
    assert model.pipe is None
    with pytest.raises(RuntimeError, match="unloaded"):
        generate(model, request_params("wan2.1-t2v-1.3b"))


# --------------------------------------------------------------------------- check


def test_the_schema_says_which_images_each_model_takes(images):
    # One owner: the schema (the host refuses a missing or extra image before the check runs).
    assert get_spec("wan2.1-i2v-14b-480p").param("image_start").required
    flf = get_spec("wan2.1-flf2v-14b")
    assert flf.param("image_start").required and flf.param("image_end").required
    assert get_spec("wan2.1-t2v-1.3b").param("image_start") is None
    assert get_spec("wan2.1-i2v-14b-480p").param("image_end") is None
    assert not get_spec("wan2.2-ti2v-5b").param("image_start").required
    check = WAN_FAMILY.check
    assert check(get_spec("wan2.2-ti2v-5b"), {"prompt": "x"}) == []
    assert check(get_spec("wan2.1-i2v-14b-480p"), {"prompt": "x", "image_start": images["a"], "width": 32, "height": 32}) == []


def test_check_refuses_unreadable_images(tmp_path):
    spec = get_spec("wan2.1-i2v-14b-480p")
    with pytest.raises(UserError, match="does not exist"):
        WAN_FAMILY.check(spec, {"image_start": str(tmp_path / "nope.png")})
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(UserError, match="not a readable image"):
        WAN_FAMILY.check(spec, {"image_start": str(bad)})


# --------------------------------------------------------------------------- sizes follow the image


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """A 600x900 and a 40x60 portrait image (random pixels), as paths."""
    from PIL import Image

    root = tmp_path_factory.mktemp("portrait")
    out = {}
    for name, size in (("big", (600, 900)), ("small", (40, 60))):
        pixels = (np.random.RandomState(5).rand(size[1], size[0], 3) * 255).astype("uint8")
        Image.fromarray(pixels).save(root / f"{name}.png")
        out[name] = str(root / f"{name}.png")
    return out


def door(model_id: str, flags: dict, **layers):
    from wgp_host.assembly import assemble_request

    return assemble_request(WAN_FAMILY, get_spec(model_id), flags={"prompt": "x", **flags}, **layers)


def test_portrait_start_image_without_size_gives_a_portrait_video(portrait):
    # 832x480's area at 2:3, sides floored to 16 (the diffusers Wan I2V example): 512x768, nothing cropped.
    request, warnings = door("wan2.1-i2v-14b-480p", {"image_start": portrait["big"]})
    assert (request.params["width"], request.params["height"]) == (512, 768)
    assert warnings == [] and "width" not in request.given and "image_start" in request.given
    # 720p: 1280x720's area at 2:3 is 783.8x1175.8, rounded then floored to 16.
    request, _ = door("wan2.1-i2v-14b-720p", {"image_start": portrait["big"]})
    assert (request.params["width"], request.params["height"]) == (784, 1168)
    # TI2V 5B: Wan 2.2's own rule at multiples of 32 within 1280x704's area.
    request, _ = door("wan2.2-ti2v-5b", {"image_start": portrait["big"]})
    assert (request.params["width"], request.params["height"]) == (768, 1152)
    # Without an image the 5B is text-to-video at its default size.
    request, _ = door("wan2.2-ti2v-5b", {})
    assert (request.params["width"], request.params["height"]) == (1280, 704)


def test_an_explicit_size_is_kept_and_the_crop_reported(portrait):
    request, warnings = door("wan2.1-i2v-14b-480p", {"image_start": portrait["big"], "width": 832, "height": 480})
    assert (request.params["width"], request.params["height"]) == (832, 480)
    assert warnings == ["--image-start 600x900 cropped to 600x346 (centre) for 832x480"]
    assert {"width", "height"} <= request.given
    # One side given: the other follows the image's aspect ratio.
    request, warnings = door("wan2.1-i2v-14b-480p", {"image_start": portrait["big"], "width": 320})
    assert (request.params["width"], request.params["height"]) == (320, 480) and warnings == []
    # A config default is a default, not the user's size: the image still decides.
    request, _ = door("wan2.1-i2v-14b-480p", {"image_start": portrait["big"]}, model_defaults={"width": 480, "height": 480})
    assert request.params["height"] > request.params["width"]
    assert GenerationRequest.from_dict(request.to_dict()) == request
    assert GenerationRequest.from_dict({"model": "m", "params": {}}).given == frozenset()  # queued before `given`


def test_tiny_i2v_follows_the_portrait_image(tiny_dir, portrait):
    model_id = "wan2.1-i2v-14b-480p"
    folder = tiny_dir(model_id)
    # A config default of 64x32 sets the target area (2048): a 40x60 image gives 32x48.
    request, warnings = door(model_id, {"image_start": portrait["small"], "frames": 5, "steps": 2, "seed": 7},
                             model_defaults={"width": 64, "height": 32})
    assert (request.params["width"], request.params["height"]) == (32, 48)
    assert warnings == []  # 32x48 is the image's own 2:3: nothing to crop
    params = dict(request.params)
    ours = generate(load(model_id, folder), params).video
    assert ours.shape == (5, 48, 32, 3)
    assert np.array_equal(ours, direct_frames(model_id, folder, params))


def test_tiny_i2v_crops_to_an_explicit_size(tiny_dir, portrait):
    model_id = "wan2.1-i2v-14b-480p"
    folder = tiny_dir(model_id)
    request, warnings = door(model_id, {"image_start": portrait["small"], "width": 32, "height": 32,
                                        "frames": 5, "steps": 2, "seed": 7})
    assert warnings == ["--image-start 40x60 cropped to 40x40 (centre) for 32x32"]
    params = dict(request.params)
    from PIL import Image

    prepared = load_images(params)["image"]
    with Image.open(portrait["small"]) as source:  # the centre square, not the stretched whole
        assert np.array_equal(np.asarray(prepared), np.asarray(source.convert("RGB").crop((0, 10, 40, 50)).resize((32, 32))))
    result = generate(load(model_id, folder), params)
    assert result.metadata["image_crops"] == {"image_start": {"size": [40, 60], "box": [0, 10, 40, 50], "output": [32, 32]}}
    assert np.array_equal(result.video, direct_frames(model_id, folder, params))


def test_flf2v_crops_the_last_frame_to_the_first(tiny_dir, images):
    model_id = "wan2.1-flf2v-14b"
    folder = tiny_dir(model_id)
    request, warnings = door(model_id, {"image_start": images["a"], "image_end": images["wide"],
                                        "frames": 5, "steps": 2, "seed": 7}, model_defaults={"width": 32, "height": 32})
    assert (request.params["width"], request.params["height"]) == (32, 32)  # the first frame's size
    assert warnings == ["--image-end 48x32 cropped to 32x32 (centre) for 32x32"]
    params = dict(request.params)
    from PIL import Image

    with Image.open(images["wide"]) as wide:
        assert np.array_equal(np.asarray(load_images(params)["last_image"]), np.asarray(wide.convert("RGB"))[:, 8:40])
    assert np.array_equal(generate(load(model_id, folder), params).video, direct_frames(model_id, folder, params))


def test_a_sweep_encodes_each_prompt_once(tiny_dir):
    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    encoder_calls = []
    model.pipe.text_encoder.register_forward_pre_hook(lambda module, args: encoder_calls.append(1))
    recorder = Recorder()
    first = generate(model, request_params("wan2.1-t2v-1.3b", seed=1), recorder).video
    generate(model, request_params("wan2.1-t2v-1.3b", seed=2), recorder)
    again = generate(model, request_params("wan2.1-t2v-1.3b", seed=1), recorder).video
    generate(model, request_params("wan2.1-t2v-1.3b", seed=1, prompt="another prompt"), recorder)
    cached = [fields["cached"] for event, fields in recorder.events if event == "prompt.embeddings"]
    assert cached == [False, True, True, False]
    assert len(encoder_calls) == 2 * 2  # two prompts, each with its negative prompt (guidance > 1)
    assert np.array_equal(first, again)


def test_no_reuse_while_a_lora_is_in_the_text_encoder(tiny_dir):
    from peft import LoraConfig, inject_adapter_in_model

    model = load("wan2.1-t2v-1.3b", tiny_dir("wan2.1-t2v-1.3b"))
    inject_adapter_in_model(LoraConfig(r=2, target_modules=["q"]), model.pipe.text_encoder)
    recorder = Recorder()
    for seed in (1, 2):
        generate(model, request_params("wan2.1-t2v-1.3b", seed=seed), recorder)
    assert [e for e, _ in recorder.events if e == "prompt.embeddings"] == []
