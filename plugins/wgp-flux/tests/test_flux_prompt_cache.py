"""Prompt-embedding reuse on FLUX: a sweep encodes each prompt once, and the images equal a direct call."""

from __future__ import annotations

import numpy as np
from diffusers import FluxPipeline
from flux_testing import SMALL, load, request_params
from wgp_diffusers.testing import generate, generator

from wgp_host.testing import Recorder


def test_a_seed_sweep_encodes_each_prompt_once_and_matches_diffusers(wgp_tiny_model):
    folder = wgp_tiny_model("flux.1-dev")
    model = load("flux.1-dev", folder)
    calls = {"clip": 0, "t5": 0}
    model.pipe.text_encoder.register_forward_pre_hook(lambda *_: calls.__setitem__("clip", calls["clip"] + 1))
    model.pipe.text_encoder_2.register_forward_pre_hook(lambda *_: calls.__setitem__("t5", calls["t5"] + 1))
    recorder = Recorder()
    images = {seed: generate(model, request_params("flux.1-dev", seed=seed), recorder).images[0] for seed in (1, 2, 3)}
    generate(model, request_params("flux.1-dev", seed=1, prompt="a blue heron"), recorder)
    cached = [fields["cached"] for event, fields in recorder.events if event == "prompt.embeddings"]
    assert cached == [False, True, True, False]
    assert calls == {"clip": 2, "t5": 2}  # two prompts; guidance is distilled, so no negative prompt
    direct = FluxPipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], height=32, width=48, num_inference_steps=2, guidance_scale=3.5,
        max_sequence_length=int(request_params("flux.1-dev")["max_sequence_length"]),
        generator=generator(3), output_type="pil",
    ).images[0]
    assert request_params("flux.1-dev")["guidance"] == 3.5
    assert np.array_equal(images[3], np.asarray(direct))
