"""The Z-Image family on tiny random-weight models: registration, schema, images equal to diffusers,
image-to-image, cancel, fp8 storage, the prompt cache."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import ZImageImg2ImgPipeline, ZImagePipeline
from diffusers.utils import load_image
from wgp_diffusers.sizing import prepare_image
from wgp_diffusers.levers import check_plan
from wgp_hookspecs import JobCancelled, LoadPlan, ParameterError, UserError
from wgp_zimage.plugin import ZIMAGE_FAMILY, strength_steps
from wgp_zimage.specs import get_spec
from wgp_diffusers.testing import as_arrays, generate, generator
from zimage_testing import BASE, SMALL, TURBO, load, request_params

from wgp_host.testing import Recorder, heavy_imports, registered_families


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_zimage.plugin") == []


def test_entry_point_registers_every_model():
    (family,) = registered_families("zimage")
    assert family is ZIMAGE_FAMILY
    assert {m.id: m.weights for m in family.models} == {TURBO: "Tongyi-MAI/Z-Image-Turbo", BASE: "Tongyi-MAI/Z-Image"}


def test_published_defaults():
    def key(model_id):
        d = get_spec(model_id).defaults()
        return d["width"], d["height"], d["steps"], d["guidance"], d["max_sequence_length"], d["strength"]

    assert key(TURBO) == (1024, 1024, 8, 0.0, 512, 0.6)
    assert key(BASE) == (1024, 1024, 50, 4.0, 512, 0.6)
    assert get_spec(BASE).defaults()["cfg_normalization"] is False
    assert get_spec(TURBO).param("negative_prompt") is None and get_spec(TURBO).param("cfg_normalization") is None
    assert not get_spec(TURBO).param("image_start").required
    assert get_spec(TURBO).capabilities == {"text-to-image", "image-to-image"}
    with pytest.raises(ParameterError, match="multiple of 16"):
        get_spec(TURBO).param("width").validate(1000)
    with pytest.raises(ParameterError, match="at most 1"):
        get_spec(TURBO).param("strength").validate(1.5)


def test_tiny_model_is_safetensors_and_loads_through_from_pretrained(wgp_tiny_model):
    from pathlib import Path

    folder = Path(wgp_tiny_model(TURBO))
    assert list(folder.glob("transformer/*.safetensors")) and not list(folder.rglob("*.bin"))
    model = load(TURBO, str(folder))
    assert type(model.pipe) is ZImagePipeline
    assert type(model.pipe.text_encoder).__name__ == "Qwen3Model" and type(model.pipe.tokenizer).__name__ == "Qwen2Tokenizer"


def test_turbo_batch_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model(TURBO)
    recorder = Recorder()
    ours = generate(load(TURBO, folder), request_params(TURBO, batch_size=2), recorder).images
    direct = ZImagePipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], height=32, width=48, num_inference_steps=2, guidance_scale=0.0,
        num_images_per_prompt=2, generator=generator(SMALL["seed"]), output_type="pil",
    ).images
    assert len(ours) == 2 and ours[0].shape == (32, 48, 3) and ours[0].dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(ours, as_arrays(direct), strict=True))
    assert not np.array_equal(ours[0], ours[1])
    assert recorder.steps() == [(1, 2), (2, 2)]


def test_base_with_guidance_and_negative_prompt_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model(BASE)
    params = request_params(BASE, negative_prompt="blurry", cfg_normalization=True, max_sequence_length=64)
    model = load(BASE, folder)
    ours = generate(model, params).images[0]
    again = generate(model, params).images[0]  # the second run takes the prompt embeddings from the cache
    direct = ZImagePipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], negative_prompt="blurry", height=32, width=48, num_inference_steps=2, guidance_scale=4.0,
        cfg_normalization=True, max_sequence_length=64, generator=generator(SMALL["seed"]), output_type="pil",
    ).images[0]
    assert np.array_equal(ours, np.asarray(direct)) and np.array_equal(again, ours)
    assert not np.array_equal(ours, generate(model, {**params, "negative_prompt": "sharp"}).images[0])


def test_image_to_image_equals_direct_diffusers_call_and_follows_the_image(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model(TURBO)
    model = load(TURBO, folder)
    recorder = Recorder()
    params = request_params(TURBO, wgp_test_images["wide"], steps=4, strength=0.6)
    ours = generate(model, params, recorder)
    direct = ZImageImg2ImgPipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], image=prepare_image(load_image(wgp_test_images["wide"]), 48, 32), strength=0.6,
        height=32, width=48, num_inference_steps=4, guidance_scale=0.0, generator=generator(SMALL["seed"]), output_type="pil",
    ).images[0]
    assert ours.metadata["pipeline"] == "ZImageImg2ImgPipeline"
    assert np.array_equal(ours.images[0], np.asarray(direct))
    # strength 0.6 of 4 steps skips the first int(4 - 2.4) = 1: progress counts to the 3 that run.
    assert recorder.steps() == [(1, 3), (2, 3), (3, 3)] and strength_steps(4, 0.6) == 3
    other = generate(model, request_params(TURBO, wgp_test_images["b"], steps=4, width=32, height=32)).images[0]
    same_size = generate(model, request_params(TURBO, wgp_test_images["a"], steps=4, width=32, height=32)).images[0]
    text_only = generate(model, request_params(TURBO, steps=4, width=32, height=32)).images[0]
    assert not np.array_equal(other, same_size) and not np.array_equal(same_size, text_only)


def test_image_sets_the_output_size_and_strength_zero_is_refused_at_the_door(wgp_test_images):
    from wgp_host.assembly import assemble_request

    flags = {"prompt": "x", "image_start": wgp_test_images["wide"], "steps": 2}
    request, _ = assemble_request(ZIMAGE_FAMILY, get_spec(TURBO), flags=flags)
    # 3:2 at 1024x1024's area, multiples of 16 (the image is then only resized, not cropped).
    assert (request.params["width"], request.params["height"]) == (1248, 832)
    with pytest.raises(UserError, match="strength 0 with 2 steps leaves no denoising step"):
        ZIMAGE_FAMILY.check(get_spec(TURBO), {**request.params, "strength": 0.0})
    assert ZIMAGE_FAMILY.check(get_spec(TURBO), {**request.params, "image_start": None, "strength": 0.0}) == []


def test_cancel_mid_run_writes_nothing(wgp_tiny_model, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model=TURBO, model_path=wgp_tiny_model(TURBO), output_dir=str(out), writers=("image",),
        params={"prompt": "a fox", "steps": 3, "width": 32, "height": 32})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())


def test_cancel_raises_from_the_step(wgp_tiny_model):
    recorder = Recorder(cancel_after=1)
    with pytest.raises(JobCancelled):
        generate(load(TURBO, wgp_tiny_model(TURBO)), request_params(TURBO, steps=3), recorder)
    assert recorder.steps() == [(1, 3)]


def test_fp8_storage_equals_diffusers_layerwise_casting(wgp_tiny_model):
    import torch

    folder = wgp_tiny_model(TURBO)
    model = load(TURBO, folder, storage_dtype="fp8")
    assert model.pipe.transformer.layers[0].feed_forward.w1.weight.dtype == torch.float8_e4m3fn
    ours = generate(model, request_params(TURBO)).images[0]
    pipe = ZImagePipeline.from_pretrained(folder)
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    direct = pipe(prompt=SMALL["prompt"], height=32, width=48, num_inference_steps=2, guidance_scale=0.0,
                  generator=generator(SMALL["seed"]), output_type="pil").images[0]
    assert np.array_equal(ours, np.asarray(direct))


def test_step_caches_are_refused_in_one_line(wgp_tiny_model):
    # diffusers 0.42's ZImageTransformer2DModel has no CacheMixin (no enable_cache), and its blocks
    # take ``x``, not ``hidden_states``, so FirstBlockCache cannot hook them either.
    with pytest.raises(UserError, match="--cache fbcache: ZImageTransformer2DModel .* supports no step cache"):
        load(TURBO, wgp_tiny_model(TURBO), cache="fbcache")
    assert [p.name for p in ZIMAGE_FAMILY.profiles] == ["quality"]  # no `fast` (a step cache) profile
    # The family declares it, so the door refuses every cache before a weight is read.
    spec = next(m for m in ZIMAGE_FAMILY.models if m.id == TURBO)
    with pytest.raises(UserError, match=f"--cache taylorseer does not run on {TURBO}: .*; no step cache runs on it$"):
        check_plan(spec, LoadPlan(options={"cache": "taylorseer"}))


def test_a_cut_prompt_is_reported_counted_inside_the_chat_template(wgp_tiny_model):
    recorder = Recorder()
    generate(load(TURBO, wgp_tiny_model(TURBO)), request_params(TURBO, steps=1, max_sequence_length=20), recorder)
    # The tiny tokenizer has a token per byte: the prompt's 21 plus 19 of the template around it.
    warnings = [f["message"] for e, f in recorder.events if e == "job.warning"]
    assert warnings == ["prompt is 40 tokens but the text encoder takes 20 (max_sequence_length): its last 20 tokens are cut"]
