"""FLUX.2 [dev] and [klein] on tiny random-weight models: ids and official defaults, images equal to a direct
diffusers call (text only and with reference images), references that change the output, prompt reuse, cancel, levers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import Flux2KleinPipeline, Flux2Pipeline
from diffusers.hooks import TaylorSeerCacheConfig
from flux2_testing import direct_call, references, request_params  # noqa: F401 - references is a fixture
from flux_testing import load
from wgp_diffusers.testing import generate
from wgp_flux.pipeline_flux2 import Flux2Model
from wgp_flux.plugin import FLUX_FAMILY
from wgp_flux.specs import get_spec
from wgp_flux.specs_flux2 import FLUX2_MODEL_IDS

from wgp_host.testing import Recorder

PIPELINES = {"flux2": Flux2Pipeline, "klein": Flux2KleinPipeline}


def test_ids_repos_and_official_defaults():
    def key(model_id):
        d = get_spec(model_id).defaults()
        return get_spec(model_id).weights, d["steps"], d["guidance"], d["width"], d["height"], d["max_sequence_length"]

    assert key("flux.2-dev") == ("black-forest-labs/FLUX.2-dev", 50, 4.0, 1024, 1024, 512)
    assert key("flux.2-klein-4b") == ("black-forest-labs/FLUX.2-klein-4B", 4, 1.0, 1024, 1024, 512)
    assert key("flux.2-klein-9b") == ("black-forest-labs/FLUX.2-klein-9B", 4, 1.0, 1024, 1024, 512)
    assert key("flux.2-klein-base-4b") == ("black-forest-labs/FLUX.2-klein-base-4B", 50, 4.0, 1024, 1024, 512)
    assert key("flux.2-klein-base-9b") == ("black-forest-labs/FLUX.2-klein-base-9B", 50, 4.0, 1024, 1024, 512)
    for model_id in FLUX2_MODEL_IDS:
        spec = get_spec(model_id)
        assert spec.capabilities == {"text-to-image", "image-editing"}
        param = spec.param("reference_images")
        assert (param.type, param.multiple, param.flag, param.required) == ("image", True, "--reference-image", False)
    assert {s.id: s.options["max_references"] for s in FLUX_FAMILY.models if s.id.startswith("flux.2")} == {
        "flux.2-dev": 6, "flux.2-klein-4b": 4, "flux.2-klein-9b": 4, "flux.2-klein-base-4b": 4, "flux.2-klein-base-9b": 4}


@pytest.mark.parametrize("model_id", FLUX2_MODEL_IDS)
def test_tiny_model_equals_direct_diffusers_call(model_id, wgp_tiny_model, references):
    folder = wgp_tiny_model(model_id)
    model = load(model_id, folder)
    assert isinstance(model, Flux2Model) and type(model.pipe) is PIPELINES[get_spec(model_id).options["pipeline"]]
    pipe = type(model.pipe).from_pretrained(folder)
    recorder = Recorder()
    plain = request_params(model_id, batch_size=2)
    ours = generate(model, plain, recorder).images
    assert [image.shape for image in ours] == [(32, 48, 3)] * 2 and recorder.steps() == [(1, 2), (2, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(ours, direct_call(pipe, plain), strict=True))
    refs = [references["b"], references["c"]]
    edited = generate(model, request_params(model_id, refs)).images[0]
    assert edited.shape == (32, 48, 3)  # the requested size, whatever the references' sizes
    assert np.array_equal(edited, direct_call(pipe, request_params(model_id), refs)[0])
    assert not np.array_equal(edited, ours[0])


def test_each_reference_changes_the_output(wgp_tiny_model, references):
    model = load("flux.2-klein-4b", wgp_tiny_model("flux.2-klein-4b"))
    one = generate(model, request_params("flux.2-klein-4b", [references["a"]])).images[0]
    other = generate(model, request_params("flux.2-klein-4b", [references["b"]])).images[0]
    both = generate(model, request_params("flux.2-klein-4b", [references["a"], references["b"]])).images[0]
    again = generate(model, request_params("flux.2-klein-4b", [references["a"]])).images[0]
    assert not np.array_equal(one, other) and not np.array_equal(one, both) and not np.array_equal(other, both)
    assert np.array_equal(one, again)


def test_klein_base_guidance_runs_cfg_and_a_sweep_encodes_each_prompt_once(wgp_tiny_model):
    model_id = "flux.2-klein-base-4b"
    model = load(model_id, wgp_tiny_model(model_id))
    calls = []
    model.pipe.text_encoder.register_forward_pre_hook(lambda *_: calls.append(1))
    recorder = Recorder()
    for seed in (1, 2):
        generate(model, request_params(model_id, seed=seed), recorder)
    cached = [fields["cached"] for event, fields in recorder.events if event == "prompt.embeddings"]
    assert cached == [False, True] and len(calls) == 2  # the prompt and CFG's empty negative prompt, once


def test_cancel_mid_run_writes_nothing(wgp_queue, wgp_tiny_model, tmp_path):
    # The real door, queue controller and runner; the job is cancelled when its first step is reported.
    controller = wgp_queue.controller
    controller.channel.listeners.append(lambda event: event.event == "step" and controller.cancel_current())
    out = tmp_path / "out"
    outcome = wgp_queue.run(model="flux.2-klein-4b", model_path=wgp_tiny_model("flux.2-klein-4b"),
                            params={"prompt": "a fox", "width": 32, "height": 32, "steps": 3}, output_dir=str(out))
    names = wgp_queue.names()
    assert outcome.state == "cancelled", outcome
    assert names[-1] == "job.cancelled" and "artifact" not in names and names.count("step") == 1
    assert not out.exists() or not any(out.iterdir())


def test_fp8_storage_lever_equals_diffusers_with_layerwise_casting(wgp_tiny_model):
    folder = wgp_tiny_model("flux.2-klein-4b")
    params = request_params("flux.2-klein-4b")
    model = load("flux.2-klein-4b", folder, storage_dtype="fp8")
    assert model.pipe.transformer.transformer_blocks[0].ff.linear_in.weight.dtype == torch.float8_e4m3fn
    pipe = Flux2KleinPipeline.from_pretrained(folder)
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    assert np.array_equal(generate(model, params).images[0], direct_call(pipe, params)[0])


def test_a_step_cache_runs_on_dev_inside_the_context_flux2pipeline_does_not_open(wgp_tiny_model):
    # diffusers' TaylorSeer needs a cache context, which Flux2KleinPipeline opens per pass and
    # Flux2Pipeline does not ("No cache context is set"): wgp opens one around the [dev] call.
    folder = wgp_tiny_model("flux.2-dev")
    params = request_params("flux.2-dev", steps=4)
    model = load("flux.2-dev", folder, cache="taylorseer", cache_options=["cache_interval=2"])
    ours = generate(model, params).images[0]
    pipe = Flux2Pipeline.from_pretrained(folder)
    pipe.transformer.enable_cache(TaylorSeerCacheConfig(cache_interval=2))
    with pytest.raises(ValueError, match="No cache context"):
        direct_call(pipe, params)
    pipe.transformer._reset_stateful_cache()
    with pipe.transformer.cache_context("cond"):
        direct = direct_call(pipe, params)[0]
    assert np.array_equal(ours, direct)
    assert np.array_equal(generate(model, params).images[0], ours)  # the cache is reset between jobs


def test_dev_weights_without_torchvision_are_one_line_before_loading(tmp_path, monkeypatch):
    # The published [dev] tokenizer is a PixtralProcessor, whose transformers module imports torchvision.
    import json

    from wgp_flux import pipeline_flux2
    from wgp_hookspecs import UserError

    (tmp_path / "model_index.json").write_text(json.dumps(
        {"_class_name": "Flux2Pipeline", "tokenizer": ["transformers", "PixtralProcessor"]}))
    monkeypatch.setattr(pipeline_flux2, "has_torchvision", lambda: False)
    with pytest.raises(UserError, match="PixtralProcessor\\) needs torchvision"):
        load("flux.2-dev", str(tmp_path))
