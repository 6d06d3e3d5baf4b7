"""The HunyuanVideo 1.5 family on tiny random-weight models: registration, schema, frames equal to
a direct diffusers call, the start image, cancel, First Block Cache."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline
from diffusers.utils import load_image
from hunyuan_testing import I2V, SMALL, T2V, load, request_params
from wgp_diffusers.testing import generate, generator, stack_frames
from wgp_hookspecs import JobCancelled, UserError
from wgp_hunyuan.plugin import HUNYUAN_FAMILY
from wgp_hunyuan.specs import HUNYUAN_MODEL_IDS, get_spec

from wgp_host.testing import Recorder, heavy_imports, registered_families


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_hunyuan.plugin") == []


def test_entry_point_registers_every_model():
    (family,) = registered_families("hunyuan")
    assert family is HUNYUAN_FAMILY
    assert {m.id: m.weights for m in family.models} == {
        "hunyuanvideo-1.5-480p-t2v": "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
        "hunyuanvideo-1.5-480p-i2v": "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
        "hunyuanvideo-1.5-720p-t2v": "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_t2v",
        "hunyuanvideo-1.5-720p-i2v": "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_i2v",
    }


def test_published_defaults():
    def key(model_id):
        d = get_spec(model_id).defaults()
        return d.get("width"), d.get("height"), d["frames"], d["fps"], d["steps"], d["guidance"], d["flow_shift"]

    assert key("hunyuanvideo-1.5-480p-t2v") == (848, 480, 121, 24, 50, 6.0, 5.0)
    assert key("hunyuanvideo-1.5-480p-i2v") == (None, None, 121, 24, 50, 6.0, 5.0)
    assert key("hunyuanvideo-1.5-720p-t2v") == (1280, 720, 121, 24, 50, 6.0, 9.0)
    assert key("hunyuanvideo-1.5-720p-i2v") == (None, None, 121, 24, 50, 6.0, 7.0)
    assert get_spec(I2V).param("image_start").required and get_spec(T2V).param("image_start") is None
    assert get_spec(T2V).capabilities == {"text-to-video"} and get_spec(I2V).capabilities == {"image-to-video"}


def test_default_size_is_the_pipelines_own_16_9_bucket():
    from diffusers.pipelines.hunyuan_video1_5.image_processor import HunyuanVideo15ImageProcessor

    processor = HunyuanVideo15ImageProcessor(vae_scale_factor=16)
    for model_id in ("hunyuanvideo-1.5-480p-t2v", "hunyuanvideo-1.5-720p-t2v"):
        spec = get_spec(model_id)
        height, width = processor.calculate_default_height_width(9, 16, spec.options["target_size"])
        assert (spec.defaults()["width"], spec.defaults()["height"]) == (width, height)


@pytest.mark.parametrize("model_id", HUNYUAN_MODEL_IDS)
def test_tiny_model_builds_with_the_real_classes_and_loads(model_id, wgp_tiny_model):
    model = load(model_id, wgp_tiny_model(model_id))
    pipe, spec = model.pipe, get_spec(model_id)
    assert type(pipe) is (HunyuanVideo15ImageToVideoPipeline if spec.options["pipeline"] == "i2v" else HunyuanVideo15Pipeline)
    assert type(pipe.text_encoder).__name__ == "Qwen2_5_VLTextModel" and type(pipe.text_encoder_2).__name__ == "T5EncoderModel"
    assert type(pipe.tokenizer).__name__ == "Qwen2Tokenizer" and type(pipe.tokenizer_2).__name__ == "ByT5Tokenizer"
    assert (getattr(pipe, "image_encoder", None) is not None) == (spec.options["pipeline"] == "i2v")
    assert pipe.scheduler.config.shift == spec.defaults()["flow_shift"] and pipe.guider.guidance_scale == 6.0


def test_t2v_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model(T2V)
    params = request_params(T2V, guidance=4.5, flow_shift=3.0, negative_prompt="blurry")
    ours = generate(load(T2V, folder), params)
    pipe = HunyuanVideo15Pipeline.from_pretrained(folder)
    pipe.guider = pipe.guider.new(guidance_scale=4.5)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, shift=3.0)
    direct = pipe(prompt=SMALL["prompt"], negative_prompt="blurry", height=32, width=48, num_frames=5,
                  num_inference_steps=2, generator=generator(SMALL["seed"]), output_type="pil").frames[0]
    assert ours.video.shape == (5, 32, 48, 3) and ours.fps == 24.0
    assert np.array_equal(ours.video, stack_frames(direct))


def test_i2v_equals_direct_diffusers_call(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model(I2V)
    image = wgp_test_images["wide"]
    ours = generate(load(I2V, folder), request_params(I2V, image))
    direct = HunyuanVideo15ImageToVideoPipeline.from_pretrained(folder)(
        image=load_image(image), prompt=SMALL["prompt"], negative_prompt="", num_frames=5, num_inference_steps=2,
        generator=generator(SMALL["seed"]), output_type="pil",
    ).frames[0]
    # The tiny transformer's 32-pixel buckets: a 3:2 image gets the square one, as in the pipeline.
    assert ours.video.shape == (5, 32, 32, 3)
    assert np.array_equal(ours.video, stack_frames(direct))


def test_i2v_output_depends_on_the_start_image(wgp_tiny_model, wgp_test_images):
    model = load(I2V, wgp_tiny_model(I2V))
    # Guidance 1 (one transformer pass per step) is enough to see the image's effect.
    one = generate(model, request_params(I2V, wgp_test_images["a"], guidance=1.0)).video
    two = generate(model, request_params(I2V, wgp_test_images["c"], guidance=1.0)).video
    again = generate(model, request_params(I2V, wgp_test_images["a"], guidance=1.0)).video
    assert not np.array_equal(one, two)
    assert np.array_equal(one, again)


def test_steps_are_reported_and_cancel_stops_before_the_decode(wgp_tiny_model):
    model = load(T2V, wgp_tiny_model(T2V))
    recorder = Recorder()
    generate(model, request_params(T2V, steps=3, guidance=1.0), recorder)
    assert recorder.steps() == [(1, 3), (2, 3), (3, 3)]
    recorder = Recorder(cancel_after=1)
    with pytest.raises(JobCancelled):
        generate(model, request_params(T2V, steps=3, guidance=1.0), recorder)
    assert recorder.steps() == [(1, 3)]
    assert "step" not in vars(model.pipe.scheduler)  # the step reporter is gone after the run


def test_cancel_mid_run_writes_nothing(wgp_tiny_model, wgp_queue, tmp_path):
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model=T2V, model_path=wgp_tiny_model(T2V), output_dir=str(out), writers=("video",),
        params={"prompt": "a fox", "steps": 3, "width": 32, "height": 32, "frames": 5})
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())


def test_first_block_cache_runs(wgp_tiny_model):
    model = load(T2V, wgp_tiny_model(T2V), cache="fbcache")
    recorder = Recorder()
    result = generate(model, request_params(T2V, steps=3, guidance=1.0), recorder)
    assert model.load_report["cache"] == "fbcache"
    assert result.video.shape == (5, 32, 48, 3) and recorder.steps()[-1] == (3, 3)


def test_weights_of_the_other_task_are_refused(wgp_tiny_model):
    with pytest.raises(UserError, match="do not match hunyuanvideo-1.5-480p-i2v.*HunyuanVideo15Pipeline.*-m hunyuanvideo-1.5-480p-t2v"):
        HUNYUAN_FAMILY.match_weights(get_spec(I2V), wgp_tiny_model(T2V))
    with pytest.raises(UserError, match="do not match hunyuanvideo-1.5-480p-t2v.*-m hunyuanvideo-1.5-480p-i2v"):
        load(T2V, wgp_tiny_model(I2V))


def test_a_seed_sweep_encodes_the_prompt_once_with_the_same_frames(wgp_tiny_model):
    folder = wgp_tiny_model(T2V)
    model, recorder = load(T2V, folder), Recorder()
    first = generate(model, request_params(T2V, seed=1), recorder).video
    second = generate(model, request_params(T2V, seed=2), recorder).video
    assert [f["cached"] for e, f in recorder.events if e == "prompt.embeddings"] == [False, True]
    # The cached embeddings give exactly what the pipeline computes itself (a model without the cache).
    fresh = load(T2V, folder)
    fresh.prompt_cache_size = 0
    assert np.array_equal(generate(fresh, request_params(T2V, seed=2)).video, second)
    assert not np.array_equal(first, second)
