"""The Qwen-Image family on tiny random-weight models: registration, schema, images equal to a
direct diffusers call, the Edit models' images (each one used), the prompt cache, fbcache."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import QwenImagePipeline
from diffusers.hooks import FirstBlockCacheConfig
from diffusers.utils import load_image
from qwen_testing import SMALL, direct_pipe, generate, generator, load, request_params
from wgp_hookspecs import ParameterError, UserError
from wgp_qwen.plugin import QWEN_FAMILY, edit_size, fit_size
from wgp_qwen.specs import NEGATIVE_2512, QWEN_MODEL_IDS, get_spec

from wgp_host.testing import Recorder, heavy_imports, registered_families

EDIT, PLUS = "qwen-image-edit", "qwen-image-edit-2509"


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_qwen.plugin") == []


def test_entry_point_registers_every_model():
    (family,) = registered_families("qwen")
    assert family is QWEN_FAMILY
    assert {m.id: m.weights for m in family.models} == {
        "qwen-image": "Qwen/Qwen-Image",
        "qwen-image-2512": "Qwen/Qwen-Image-2512",
        "qwen-image-edit": "Qwen/Qwen-Image-Edit",
        "qwen-image-edit-2509": "Qwen/Qwen-Image-Edit-2509",
        "qwen-image-edit-2511": "Qwen/Qwen-Image-Edit-2511",
    }


def test_published_defaults():
    def key(model_id):
        d = get_spec(model_id).defaults()
        return d["width"], d["height"], d["steps"], d["guidance"], d["negative_prompt"], d["batch_size"]

    assert key("qwen-image") == (1328, 1328, 50, 4.0, " ", 1)
    assert key("qwen-image-2512") == (1328, 1328, 50, 4.0, NEGATIVE_2512, 1)
    assert key(EDIT) == (1024, 1024, 50, 4.0, " ", 1)
    assert key(PLUS) == key("qwen-image-edit-2511") == (1024, 1024, 40, 4.0, " ", 1)
    assert get_spec("qwen-image").defaults()["max_sequence_length"] == 512
    assert get_spec(EDIT).param("image_start").required and get_spec(EDIT).param("reference_images") is None
    references = get_spec(PLUS).param("reference_images")
    assert references.multiple and references.required and references.flag == "--reference-image"
    assert (references.minimum, references.maximum) == (1, 3)
    assert get_spec("qwen-image").param("image_start") is None
    with pytest.raises(ParameterError, match="at most 3 files"):
        references.validate(["a.png"] * 4)


@pytest.mark.parametrize("model_id", QWEN_MODEL_IDS)
def test_tiny_model_builds_and_loads_through_from_pretrained(model_id, tmp_path):
    folder = tmp_path / model_id
    QWEN_FAMILY.build_tiny(get_spec(model_id), folder)
    assert list(folder.glob("transformer/*.safetensors")) and not list(folder.rglob("*.bin"))
    model = load(model_id, str(folder))
    assert type(model.pipe).__name__ == {"text": "QwenImagePipeline", "edit": "QwenImageEditPipeline",
                                         "edit_plus": "QwenImageEditPlusPipeline"}[model.spec.options["pipeline"]]
    assert bool(model.pipe.transformer.config.zero_cond_t) == (model_id == "qwen-image-edit-2511")
    if model.spec.options["pipeline"] != "text":  # with or without torchvision
        assert type(model.pipe.processor).__name__ == "Qwen2VLProcessor"


@pytest.fixture(scope="module")
def t2i(wgp_tiny_model):
    return wgp_tiny_model("qwen-image")


def direct_t2i(folder: str, seed: int = SMALL["seed"], **changes):
    kwargs = dict(prompt=SMALL["prompt"], negative_prompt=" ", true_cfg_scale=4.0, height=32, width=48,
                  num_inference_steps=2, max_sequence_length=512, generator=generator(seed), output_type="pil")
    kwargs.update(changes)
    return [np.asarray(image) for image in QwenImagePipeline.from_pretrained(folder)(**kwargs).images]


def test_text_to_image_batch_equals_direct_diffusers_call(t2i):
    recorder = Recorder()
    result = generate(load("qwen-image", t2i), request_params("qwen-image", batch_size=2), recorder)
    assert len(result.images) == 2 and all(image.shape == (32, 48, 3) for image in result.images)
    assert recorder.steps() == [(1, 2), (2, 2)] and result.metadata["seed"] == SMALL["seed"]
    direct = direct_t2i(t2i, num_images_per_prompt=2)
    assert all(np.array_equal(a, b) for a, b in zip(result.images, direct, strict=True))
    assert not np.array_equal(result.images[0], result.images[1])


def test_without_true_cfg_equals_diffusers_too(t2i):
    # guidance 1: no negative pass, as diffusers decides (true_cfg_scale > 1 and a negative prompt).
    ours = generate(load("qwen-image", t2i), request_params("qwen-image", guidance=1.0, max_sequence_length=64)).images
    direct = direct_t2i(t2i, true_cfg_scale=1.0, negative_prompt=None, max_sequence_length=64)
    assert np.array_equal(ours[0], direct[0])


def test_a_seed_sweep_encodes_each_prompt_once_and_matches_diffusers(t2i):
    model = load("qwen-image", t2i)
    calls = []
    model.pipe.text_encoder.register_forward_pre_hook(lambda *_: calls.append(1))
    recorder = Recorder()
    images = {seed: generate(model, request_params("qwen-image", seed=seed), recorder).images[0] for seed in (1, 2)}
    cached = [fields["cached"] for event, fields in recorder.events if event == "prompt.embeddings"]
    assert cached == [False, True] and len(calls) == 2  # the prompt and the negative prompt, once
    assert np.array_equal(images[2], direct_t2i(t2i, seed=2)[0])


def test_fbcache_equals_diffusers_with_the_same_config(t2i):
    params = request_params("qwen-image", steps=3)
    ours = generate(load("qwen-image", t2i, cache="fbcache", cache_options=["threshold=0.5"]), params).images[0]
    pipe = QwenImagePipeline.from_pretrained(t2i)
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.5))
    direct = pipe(prompt=SMALL["prompt"], negative_prompt=" ", true_cfg_scale=4.0, height=32, width=48,
                  num_inference_steps=3, generator=generator(SMALL["seed"]), output_type="pil").images[0]
    assert np.array_equal(ours, np.asarray(direct))
    assert not np.array_equal(ours, direct_t2i(t2i, num_inference_steps=3)[0])  # the cache did skip work


def test_edit_size_is_the_pipelines_own():
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import calculate_dimensions

    for image in ((48, 32), (600, 900), (1920, 1080), (33, 1000)):
        width, height = calculate_dimensions(1024 * 1024, image[0] / image[1])
        assert edit_size(image) == (width // 16 * 16, height // 16 * 16)


def test_edit_output_follows_the_last_reference_image(wgp_test_images):
    spec = get_spec(PLUS)
    params = {**spec.defaults(), "reference_images": [wgp_test_images["a"], wgp_test_images["wide"]]}
    assert fit_size(spec, params) == ({"width": 1248, "height": 832}, [])  # 3:2 at 1024x1024's area
    assert fit_size(spec, {**params, "width": 480}, frozenset({"width"})) == ({"height": 320}, [])
    assert fit_size(spec, {**params, "width": 64, "height": 64}, frozenset({"width", "height"})) == ({}, [])
    assert fit_size(get_spec("qwen-image"), get_spec("qwen-image").defaults()) == ({}, [])


# --------------------------------------------------------------------------- Edit models


@pytest.fixture(scope="module")
def solid_images(tmp_path_factory) -> dict[str, str]:
    """Plain-coloured PNGs: random-noise images all have the same statistics, and 4096 latent
    tokens of one average out like those of another in a random-weight transformer."""
    from PIL import Image

    root = tmp_path_factory.mktemp("qwen-images")
    out = {}
    for name, size, colour in (("red", (32, 32), (230, 20, 20)), ("blue", (48, 32), (20, 20, 230)),
                               ("white", (32, 48), (250, 250, 250)), ("black", (32, 32), (0, 0, 0))):
        out[name] = str(root / f"{name}.png")
        Image.new("RGB", size, colour).save(out[name])
    return out


def test_edit_equals_direct_diffusers_call_and_uses_its_image(wgp_tiny_model, solid_images, small_vae_area):
    folder = wgp_tiny_model(EDIT)
    model = load(EDIT, folder)
    ours = generate(model, request_params(EDIT, image_start=solid_images["blue"])).images[0]
    direct = direct_pipe(EDIT, folder)(
        image=load_image(solid_images["blue"]), prompt=SMALL["prompt"], negative_prompt=" ", true_cfg_scale=4.0,
        height=32, width=48, num_inference_steps=2, generator=generator(SMALL["seed"]), output_type="pil",
    ).images[0]
    assert ours.shape == (32, 48, 3) and np.array_equal(ours, np.asarray(direct))
    assert not np.array_equal(ours, generate(model, request_params(EDIT, image_start=solid_images["white"])).images[0])


def test_edit_plus_equals_direct_diffusers_call_and_uses_each_image(wgp_tiny_model, solid_images, small_vae_area):
    # Edit-2511 runs the same call (its transformer's zero_cond_t is diffusers' business; the
    # build test checks it is set).
    folder = wgp_tiny_model(PLUS)
    model = load(PLUS, folder)
    images = [solid_images["red"], solid_images["blue"]]
    ours = generate(model, request_params(PLUS, reference_images=images)).images[0]
    direct = direct_pipe(PLUS, folder)(
        image=[load_image(path) for path in images], prompt=SMALL["prompt"], negative_prompt=" ", true_cfg_scale=4.0,
        height=32, width=48, num_inference_steps=2, generator=generator(SMALL["seed"]), output_type="pil",
    ).images[0]
    assert np.array_equal(ours, np.asarray(direct))
    for index, other in ((0, solid_images["white"]), (1, solid_images["black"])):
        changed = list(images)
        changed[index] = other
        assert not np.array_equal(ours, generate(model, request_params(PLUS, reference_images=changed)).images[0])


@pytest.mark.parametrize(("model", "configs", "fits"), [
    ("qwen-image-edit-2511", {"model_index": {"_class_name": "QwenImageEditPlusPipeline"}, "transformer": {}},
     "qwen-image-edit-2509"),
    ("qwen-image-edit-2509", {"model_index": {"_class_name": "QwenImageEditPlusPipeline"}, "transformer": {"zero_cond_t": True}},
     "qwen-image-edit-2511"),
    ("qwen-image", {"model_index": {"_class_name": "QwenImageEditPipeline"}}, "qwen-image-edit"),
])
def test_weights_of_another_id_are_told_apart_by_their_configs(model, configs, fits):
    from wgp_qwen.layout import check_configs

    with pytest.raises(UserError, match=f"do not match {model}: .*; use -m {fits}$"):
        check_configs(get_spec(model), configs, "DIR")
    check_configs(get_spec(fits), configs, "DIR")
