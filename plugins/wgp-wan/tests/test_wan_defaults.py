"""Wan defaults against the official code: the built-in negative prompt reaches the pipeline (an explicit
empty one stays empty), and the steps/shift/guidance/fps table of generate.py and the Wan 2.2 configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler, WanPipeline
from test_wan_family import generate, load
from wgp_wan.specs import get_spec

#: ``sample_neg_prompt`` of wan/configs/shared_config.py (Wan2.1 and Wan2.2), written out here on purpose.
OFFICIAL_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，"
    "残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，"
    "三条腿，背景人很多，倒着走"
)
MODEL = "wan2.1-t2v-1.3b"
SMALL = {"prompt": "a red fox runs, snow", "width": 32, "height": 32, "frames": 5, "steps": 2, "seed": 7}


def direct(folder: str, negative_prompt: str) -> np.ndarray:
    """A diffusers user's call with the given negative prompt (flow shift as wgp's default)."""
    pipe = WanPipeline.from_pretrained(folder)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=3.0)
    frames = pipe(prompt=SMALL["prompt"], negative_prompt=negative_prompt, height=32, width=32, num_frames=5,
                  num_inference_steps=2, guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(7),
                  output_type="pil").frames[0]
    return np.stack([np.asarray(f) for f in frames])


def test_the_official_negative_prompt_reaches_the_pipeline_and_an_empty_one_stays_empty(wgp_queue, tiny_dir):
    folder = tiny_dir(MODEL)
    job, _ = wgp_queue.build(model=MODEL, model_path=folder, params=dict(SMALL))
    assert job.request.to_dict()["params"]["negative_prompt"] == OFFICIAL_NEGATIVE  # what the record keeps
    model = load(MODEL, folder)
    ours = generate(model, dict(job.request.params)).video
    assert np.array_equal(ours, direct(folder, OFFICIAL_NEGATIVE))
    empty_job, _ = wgp_queue.build(model=MODEL, model_path=folder, params={**SMALL, "negative_prompt": ""})
    assert empty_job.request.params["negative_prompt"] == ""
    empty = generate(model, dict(empty_job.request.params)).video
    assert np.array_equal(empty, direct(folder, ""))
    assert not np.array_equal(empty, ours)


@pytest.mark.parametrize("model_id", ["wan2.1-t2v-1.3b", "wan2.1-i2v-14b-720p", "wan2.2-t2v-a14b", "wan2.2-ti2v-5b"])
def test_every_wan_model_defaults_to_the_official_negative_prompt(model_id):
    assert get_spec(model_id).defaults()["negative_prompt"] == OFFICIAL_NEGATIVE


#: (steps, guidance, guidance_2, flow_shift, frames, fps): Wan2.1 generate.py (50 steps, 40 for "i2v" tasks;
#: shift 5, 3 for i2v at 832*480, 16 for flf2v; guide 5.0; 81 frames; fps 16), Wan2.2 wan_*.py configs.
OFFICIAL = {
    "wan2.1-t2v-14b": (50, 5.0, None, 5.0, 81, 16),
    "wan2.1-i2v-14b-480p": (40, 5.0, None, 3.0, 81, 16),
    "wan2.1-i2v-14b-720p": (40, 5.0, None, 5.0, 81, 16),
    "wan2.1-flf2v-14b": (50, 5.0, None, 16.0, 81, 16),
    "wan2.2-t2v-a14b": (40, 4.0, 3.0, 12.0, 81, 16),
    "wan2.2-i2v-a14b": (40, 3.5, 3.5, 5.0, 81, 16),
    "wan2.2-ti2v-5b": (50, 5.0, None, 5.0, 121, 24),
}


@pytest.mark.parametrize("model_id", sorted(OFFICIAL))
def test_defaults_follow_the_official_code(model_id):
    d = get_spec(model_id).defaults()
    assert (d["steps"], d["guidance"], d.get("guidance_2"), d["flow_shift"], d["frames"], d["fps"]) == OFFICIAL[model_id]
