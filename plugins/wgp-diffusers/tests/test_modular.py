"""The Modular-pipeline base on a family defined here, over diffusers' ``WanModularPipeline``.

The tiny Wan 2.1 weights (a classic ``model_index.json`` folder, which ``ModularPipeline.from_pretrained``
maps to ``WanModularPipeline`` and ``WanBlocks``) run through :class:`ModularDiffusersModel`: frames equal
a direct modular call, each denoising step is reported, a cancel stops at the next step with nothing
decoded, and a step cache applies to the transformer as in classic families.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from wgp_hookspecs import SEED_PARAM, GenerationRequest, JobCancelled, LoadPlan, ModelSpec, Param, UserError

from wgp_diffusers import levers, to_uint8_video
from wgp_diffusers.modular import ModularDiffusersModel, define_modular_family, loop_blocks, running_blocks
from wgp_host.testing import Recorder

WEIGHTS_OF = "wan2.1-t2v-1.3b"  # the tiny weights this family runs on
PARAMS = {"prompt": "a red fox runs through snow", "negative_prompt": "", "seed": 5, "width": 32, "height": 32,
          "frames": 5, "steps": 4, "guidance": 5.0, "fps": 16}


class WanModularModel(ModularDiffusersModel):
    """All a modular family writes: its call arguments (the pipeline class comes from the index), and
    the guidance scale, which a modular Wan pipeline takes from its guider component."""

    # Modular Wan's loop sets no cache context.  Its guider runs a cond and an uncond pass per step,
    # so one context shares the cache between them: enough to show the lever applies through the
    # base (and equals diffusers in the same context); a real Wan family would name two.  (Guidance
    # 1, one pass per step, fails inside diffusers 0.42.1's modular Wan text encoder.)
    cache_context = "wgp"

    def prepare(self, pipe, params):
        set_guidance(pipe, params["guidance"])

    @staticmethod
    def pipeline_kwargs(params, images=None):
        return {"prompt": params["prompt"], "negative_prompt": params["negative_prompt"], "height": int(params["height"]),
                "width": int(params["width"]), "num_frames": int(params["frames"]),
                "num_inference_steps": int(params["steps"]), "output_type": "np"}


def set_guidance(pipe, scale):
    from diffusers import ClassifierFreeGuidance

    pipe.update_components(guider=ClassifierFreeGuidance(guidance_scale=float(scale)))


SPEC = ModelSpec(
    "third-modular", frozenset({"text-to-video"}),
    (Param("prompt", "str", required=True), Param("negative_prompt", "str", ""), SEED_PARAM,
     *(Param(k, type(v).__name__, v) for k, v in PARAMS.items() if k not in ("prompt", "negative_prompt", "seed"))),
)


class TransformerCalls:
    """Counts the transformer's last block doing its feed-forward work (a cache skips it)."""

    def __init__(self, transformer):
        self.calls = 0
        transformer.blocks[-1].ffn.register_forward_pre_hook(lambda module, args: self._count())

    def _count(self):
        self.calls += 1


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model(WEIGHTS_OF)


@pytest.fixture(scope="module")
def model(folder):
    return WanModularModel.load(SPEC, LoadPlan(weights=folder, device="cpu"))


def direct(folder, params, cache=None):
    """Plain diffusers: ModularPipeline.from_pretrained, load_components, the guider, a seeded
    generator; ``cache`` (a diffusers config) enabled by hand, the call inside one cache context."""
    import contextlib

    import diffusers

    pipe = diffusers.ModularPipeline.from_pretrained(folder)
    pipe.load_components(dtype=torch.float32)
    set_guidance(pipe, params["guidance"])
    calls = TransformerCalls(pipe.transformer)
    scope = contextlib.nullcontext()
    if cache is not None:
        pipe.transformer.enable_cache(cache)
        scope = pipe.transformer.cache_context("wgp")
    with scope:
        videos = pipe(**WanModularModel.pipeline_kwargs(params), generator=torch.Generator("cpu").manual_seed(params["seed"]),
                      output="videos")
    return to_uint8_video(videos), calls.calls


def test_frames_equal_a_direct_modular_call_and_every_step_is_reported(model, folder):
    recorder = Recorder()
    result = model.generate(GenerationRequest(SPEC.id, PARAMS), recorder.context)
    assert type(model.pipe).__name__ == "WanModularPipeline"
    assert np.array_equal(result.video, direct(folder, PARAMS)[0])
    assert recorder.steps() == [(i, PARAMS["steps"]) for i in range(1, PARAMS["steps"] + 1)]
    assert result.metadata["pipeline"] == "WanModularPipeline" and result.metadata["seed"] == PARAMS["seed"]
    # The step hooks are taken off again: a direct call on the same pipeline reports nothing.
    assert all("loop_step" not in loop.__dict__ for loop in loop_blocks(running_blocks(model.pipe)))


def test_cancel_stops_at_the_next_step_and_decodes_nothing(model):
    decoded = []
    original = model.pipe.vae.decode

    def decode(*args, **kwargs):
        decoded.append(1)
        return original(*args, **kwargs)

    model.pipe.vae.decode = decode
    try:
        recorder = Recorder(cancel_after=2)
        with pytest.raises(JobCancelled):
            model.generate(GenerationRequest(SPEC.id, PARAMS), recorder.context)
    finally:
        del model.pipe.vae.decode
    assert recorder.steps() == [(1, 4), (2, 4)]
    assert decoded == []
    # The model stays usable after a cancel.
    assert model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video.shape == (5, 32, 32, 3)


def test_a_step_cache_applies_to_the_transformer(folder):
    params = PARAMS
    options = {"cache": "fbcache", "cache_options": ["threshold=0.5"]}
    cached = WanModularModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options=options))
    calls = TransformerCalls(cached.pipe.transformer)
    frames = cached.generate(GenerationRequest(SPEC.id, params), Recorder().context).video
    plan = LoadPlan(options=options)
    reference, reference_calls = direct(folder, params, levers.cache_config("fbcache", levers.cache_options(plan)))
    assert np.array_equal(frames, reference)
    assert calls.calls == reference_calls
    assert calls.calls < direct(folder, params)[1], "fbcache skipped no transformer work"
    assert cached.load_report["cache"] == "fbcache" and cached.load_report["bit_reproducible"] is False


def test_levers_the_base_does_not_apply_are_refused_at_the_door():
    family = define_modular_family("third", "third_pkg", (SPEC,))
    (spec,) = family.models
    with pytest.raises(UserError, match="--quantize is not supported yet"):
        family.check_plan(spec, LoadPlan(options={"quantize": "int8"}))
    with pytest.raises(UserError, match="--offload auto"):
        levers.check_plan(spec, LoadPlan(options={"offload": "auto"}))
    assert levers.check_plan(spec, LoadPlan(options={"cache": "fbcache"})) == []
    # A modular model inside a classic family (Wan Animate 2) is held to the same rule at the door.
    classic = dataclasses.replace(SPEC, options={**SPEC.options, "modular": True})
    with pytest.raises(UserError, match="--transformer-file is not supported yet|--quantize is not supported yet"):
        levers.check_plan(classic, LoadPlan(options={"quantize": "int8"}))
    assert levers.check_plan(SPEC, LoadPlan(options={"quantize": "int8"})) == []  # a classic model takes it
    assert levers.CACHES["fbcache"] == "FirstBlockCacheConfig"


def test_a_folder_without_weights_is_one_error(tmp_path):
    (tmp_path / "modular_model_index.json").write_text("{}")
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "diffusion_pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(UserError, match="pickled"):
        WanModularModel.load(SPEC, LoadPlan(weights=str(tmp_path), device="cpu"))


def test_group_offload_gives_the_same_frames(folder):
    offloaded = WanModularModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"offload": "group"}))
    frames = offloaded.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    assert np.array_equal(frames, direct(folder, PARAMS)[0])


def test_audio_track_is_float32_samples_by_channels():
    from wgp_diffusers import audio_track

    track = audio_track(torch.tensor([[[0.5, 2.0, -3.0], [0.0, 0.1, 0.2]]]), 32000)
    assert track.samples.shape == (3, 2) and track.samples.dtype == np.float32 and track.channels == 2
    assert track.samples[:, 0].tolist() == [0.5, 1.0, -1.0] and track.sample_rate == 32000
    assert audio_track(np.zeros(8), 16000).samples.shape == (8, 1)
