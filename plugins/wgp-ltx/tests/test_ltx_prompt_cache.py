"""Prompt-embedding reuse on LTX-Video: a sweep encodes each prompt (and its negative) once,
text and image pipelines alike, and the frames equal a direct diffusers call."""

from __future__ import annotations

import numpy as np
from ltx_testing import direct_frames, load, request_params
from wgp_diffusers.testing import generate

from wgp_host.testing import Recorder


def test_a_seed_sweep_encodes_each_prompt_once_and_matches_diffusers(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model("ltx-video")
    model = load(folder)
    calls = []
    model.pipe.text_encoder.register_forward_pre_hook(lambda *_: calls.append(1))
    recorder = Recorder()
    frames = {seed: generate(model, request_params(seed=seed), recorder).video for seed in (1, 2)}
    with_image = generate(model, request_params(seed=2, image_start=wgp_test_images["a"]), recorder).video
    generate(model, request_params(seed=2, image_start=wgp_test_images["a"]), recorder)
    cached = [fields["cached"] for event, fields in recorder.events if event == "prompt.embeddings"]
    assert cached == [False, True, False, True]  # one entry per pipeline (text, image)
    assert len(calls) == 2 * 2  # each entry: the prompt and its negative (guidance 3 > 1)
    assert np.array_equal(frames[2], direct_frames(folder, seed=2))
    assert np.array_equal(with_image, direct_frames(folder, image=wgp_test_images["a"], seed=2))
