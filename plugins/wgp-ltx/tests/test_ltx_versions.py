"""LTX-Video versions: an id per diffusers-format version, a --model-path folder's version read from its
configs at the door (its defaults applied, a mismatch refused), the 0.9.5+ pipeline and decode settings
reaching diffusers, and long prompts reported."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import LTXConditionPipeline
from diffusers.utils import load_image
from ltx_testing import SMALL, direct_frames
from wgp_diffusers.testing import load_tiny
from wgp_hookspecs import GenerationRequest, UserError
from wgp_ltx.plugin import LTX_FAMILY
from wgp_ltx.specs import LTX_SPECS

from wgp_host.testing import Recorder

#: (width, height, frames, fps, steps, guidance, decode_timestep, decode_noise_scale, max_sequence_length)
PUBLISHED = {
    "ltx-video": (704, 480, 161, 25, 50, 3.0, 0.0, None, 128),
    "ltx-video-0.9.1": (704, 480, 161, 25, 40, 3.0, 0.05, 0.025, 128),
    "ltx-video-0.9.5": (768, 512, 161, 25, 40, 3.0, 0.05, 0.025, 256),
    "ltx-video-0.9.7-dev": (1216, 704, 121, 30, 30, 5.0, 0.05, 0.025, 256),
    "ltx-video-0.9.7-distilled": (1216, 704, 121, 30, 8, 1.0, 0.05, 0.025, 256),
    "ltx-video-0.9.8-distilled": (1216, 704, 121, 30, 8, 1.0, 0.05, 0.025, 256),
}
KEYS = ("width", "height", "frames", "fps", "steps", "guidance", "decode_timestep", "decode_noise_scale", "max_sequence_length")
THIRTEEN_B = ("ltx-video-0.9.7-dev", "ltx-video-0.9.7-distilled", "ltx-video-0.9.8-distilled")


def defaults(model_id: str) -> tuple:
    d = LTX_SPECS[model_id].defaults()
    return tuple(d[k] for k in KEYS)


def test_every_diffusers_format_version_has_an_id_with_its_published_defaults():
    assert {m.id: m.weights for m in LTX_FAMILY.models} == {
        "ltx-video": "Lightricks/LTX-Video",
        "ltx-video-0.9.1": "Lightricks/LTX-Video-0.9.1",
        "ltx-video-0.9.5": "Lightricks/LTX-Video-0.9.5",
        "ltx-video-0.9.7-dev": "Lightricks/LTX-Video-0.9.7-dev",
        "ltx-video-0.9.7-distilled": "Lightricks/LTX-Video-0.9.7-distilled",
        "ltx-video-0.9.8-distilled": "Lightricks/LTX-Video-0.9.8-13B-distilled",
    }
    assert {model_id: defaults(model_id) for model_id in LTX_SPECS} == PUBLISHED


@pytest.mark.parametrize("version", ["ltx-video", "ltx-video-0.9.1", "ltx-video-0.9.5"])
def test_a_version_folder_given_to_ltx_video_gets_that_versions_defaults(wgp_queue, wgp_tiny_model, version):
    folder = wgp_tiny_model(version)
    job, warnings = wgp_queue.build(model="ltx-video", model_path=folder, params={"prompt": "a fox"})
    assert job.request.model == version and job.plan.weights == folder
    assert tuple(job.request.params[k] for k in KEYS) == PUBLISHED[version]
    if version == "ltx-video":
        assert not [w for w in warnings if "running as" in w]
    else:
        assert f"the weights at {folder} are {version}: running as {version}, with its defaults" in warnings
    # An explicit flag still wins over the version's default.
    job, _ = wgp_queue.build(model="ltx-video", model_path=folder, params={"prompt": "a fox", "steps": 3})
    assert job.request.params["steps"] == 3


def test_a_13b_folder_needs_an_explicit_id_and_gets_its_defaults(wgp_queue, wgp_tiny_model):
    folder = wgp_tiny_model("ltx-video-0.9.7-distilled")
    with pytest.raises(UserError, match="do not tell dev from distilled.*-m ltx-video-0.9.7-dev, -m ltx-video-0.9.7-distilled, "
                                         "-m ltx-video-0.9.8-distilled"):
        wgp_queue.build(model="ltx-video", model_path=folder, params={"prompt": "a fox"})
    for model in THIRTEEN_B:
        job, _ = wgp_queue.build(model=model, model_path=folder, params={"prompt": "a fox"})
        assert job.request.model == model and tuple(job.request.params[k] for k in KEYS) == PUBLISHED[model]


def test_weights_of_another_version_are_refused_at_the_door(wgp_queue, wgp_tiny_model):
    with pytest.raises(UserError, match=r"are LTX-Video 2B, timestep-aware VAE, not ltx-video-0\.9\.5 .*use -m ltx-video-0\.9\.1"):
        wgp_queue.build(model="ltx-video-0.9.5", model_path=wgp_tiny_model("ltx-video-0.9.1"), params={"prompt": "a fox"})
    with pytest.raises(UserError, match="13B transformer.*not ltx-video-0.9.1"):
        wgp_queue.build(model="ltx-video-0.9.1", model_path=wgp_tiny_model("ltx-video-0.9.8-distilled"), params={"prompt": "x"})


def test_a_config_model_path_that_changes_the_id_is_kept_in_the_plan(wgp_env, wgp_tiny_model):
    import json

    from wgp_host.testing import InProcessQueue

    folder = wgp_tiny_model("ltx-video-0.9.5")
    wgp_env.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"model_paths": {"ltx-video": folder}}))
    job, _ = InProcessQueue().build(model="ltx-video", params={"prompt": "a fox"})
    # The runner looks model_paths up by the job's id, which is now ltx-video-0.9.5: the plan carries the folder.
    assert job.request.model == "ltx-video-0.9.5" and job.plan.weights == folder


def test_loading_weights_of_another_version_is_refused(wgp_tiny_model):
    # Weights the door never read (a worker's own model_paths): the loaded configs decide, by the same rule.
    with pytest.raises(UserError, match="are LTX-Video 2B, the 0.9.5 VAE .*not ltx-video "):
        load_tiny(LTX_FAMILY, LTX_SPECS["ltx-video"], wgp_tiny_model("ltx-video-0.9.5"))


def _request(model_id: str, **changes) -> dict:
    return {**LTX_SPECS[model_id].defaults(), **SMALL, **changes}


def _direct_condition(folder: str, image: str | None = None, **call) -> np.ndarray:
    """A diffusers user's 0.9.5 call: LTXConditionPipeline with the repo's settings, PIL frames."""
    pipe = LTXConditionPipeline.from_pretrained(folder)
    kwargs = dict(prompt=SMALL["prompt"], negative_prompt="worst quality, inconsistent motion, blurry, jittery, distorted",
                  height=32, width=32, num_frames=9, frame_rate=25, num_inference_steps=2, guidance_scale=3.0,
                  decode_timestep=0.05, decode_noise_scale=0.025, max_sequence_length=256, **call)
    if image is not None:
        kwargs["image"] = load_image(image)
    frames = pipe(**kwargs, generator=torch.Generator("cpu").manual_seed(SMALL["seed"]), output_type="pil").frames[0]
    return np.stack([np.asarray(f) for f in frames])


def test_095_runs_the_condition_pipeline_with_its_decode_settings_equal_to_diffusers(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model("ltx-video-0.9.5")
    model = load_tiny(LTX_FAMILY, LTX_SPECS["ltx-video-0.9.5"], folder)
    text = model.generate(GenerationRequest("ltx-video-0.9.5", _request("ltx-video-0.9.5")), Recorder().context)
    assert text.metadata["pipeline"] == "LTXConditionPipeline" and text.fps == 25.0
    assert np.array_equal(text.video, _direct_condition(folder))
    image = model.generate(GenerationRequest("ltx-video-0.9.5", _request("ltx-video-0.9.5", image_start=wgp_test_images["a"])),
                           Recorder().context)
    assert np.array_equal(image.video, _direct_condition(folder, image=wgp_test_images["a"]))
    assert not np.array_equal(image.video, text.video)
    # The decode settings are the version's, not diffusers' 0.0: they change the frames.
    plain = model.generate(GenerationRequest("ltx-video-0.9.5", _request("ltx-video-0.9.5", decode_timestep=0.0,
                                                                          decode_noise_scale=None)), Recorder().context)
    assert not np.array_equal(plain.video, text.video)


def test_091_defaults_reach_its_timestep_aware_vae_equal_to_diffusers(wgp_tiny_model):
    folder = wgp_tiny_model("ltx-video-0.9.1")
    model = load_tiny(LTX_FAMILY, LTX_SPECS["ltx-video-0.9.1"], folder)
    ours = model.generate(GenerationRequest("ltx-video-0.9.1", _request("ltx-video-0.9.1")), Recorder().context).video
    assert np.array_equal(ours, direct_frames(folder, decode_timestep=0.05, decode_noise_scale=0.025))
    plain = model.generate(GenerationRequest("ltx-video-0.9.1", _request("ltx-video-0.9.1", decode_timestep=0.0,
                                                                          decode_noise_scale=None)), Recorder().context).video
    assert not np.array_equal(plain, ours)


def test_a_prompt_longer_than_the_text_encoder_takes_is_reported(wgp_tiny_model):
    model = load_tiny(LTX_FAMILY, LTX_SPECS["ltx-video"], wgp_tiny_model("ltx-video"))
    prompt = "a red fox runs through deep snow under a pale winter sun"
    tokens = len(model.pipe.tokenizer(prompt).input_ids)  # the tiny tokenizer: one token a character, plus </s>
    recorder = Recorder()
    model.generate(GenerationRequest("ltx-video", _request("ltx-video", prompt=prompt, max_sequence_length=16)), recorder.context)
    warnings = [f["message"] for e, f in recorder.events if e == "job.warning"]
    assert f"prompt is {tokens} tokens but the text encoder takes 16 (max_sequence_length): its last {tokens - 16} tokens are cut" in warnings
    # The default negative prompt is longer than 16 tokens too: reported as well.
    assert any(w.startswith("negative_prompt is ") for w in warnings)
    recorder = Recorder()
    model.generate(GenerationRequest("ltx-video", _request("ltx-video", prompt=prompt)), recorder.context)
    assert not [f for e, f in recorder.events if e == "job.warning" and "tokens are cut" in f["message"]]
