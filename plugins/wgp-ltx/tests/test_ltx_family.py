"""The LTX-Video family on a tiny random-weight model: registration, schema, text and image to video equal to diffusers."""

from __future__ import annotations

import numpy as np
import pytest
from ltx_testing import SMALL, SPEC, direct_frames, generate, load, request_params
from wgp_hookspecs import ParameterError, UserError
from wgp_ltx.plugin import LTX_FAMILY
from wgp_ltx.tiny import build_tiny_pipeline

from wgp_diffusers.tiny import save_tiny_pipeline
from wgp_host.testing import Recorder, heavy_imports, registered_families

MODEL = "ltx-video"


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_ltx.plugin") == []


def test_entry_point_and_published_defaults():
    (family,) = registered_families("ltx")
    assert family is LTX_FAMILY
    assert [(m.id, m.weights) for m in family.models] == [(MODEL, "Lightricks/LTX-Video")]
    d = SPEC.defaults()
    assert (d["width"], d["height"], d["frames"], d["fps"], d["steps"], d["guidance"]) == (704, 480, 161, 24, 50, 3.0)
    assert (d["decode_timestep"], d["decode_noise_scale"], d["max_sequence_length"]) == (0.0, None, 128)
    assert SPEC.capabilities == {"text-to-video", "image-to-video"}
    assert not SPEC.param("image_start").required


def test_schema_rules():
    with pytest.raises(ParameterError, match="8n\\+1.*153 or 161"):
        SPEC.param("frames").validate(160)
    with pytest.raises(ParameterError, match="multiple of 32"):
        SPEC.param("width").validate(720)
    with pytest.raises(ParameterError, match="at most 1"):
        SPEC.param("decode_timestep").validate(2.0)


def test_text_to_video_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model(MODEL)
    recorder = Recorder()
    result = generate(load(folder), request_params(guidance=4.5), recorder)
    assert result.video.shape == (9, 32, 32, 3) and result.video.dtype == np.uint8
    assert result.fps == 24.0 and result.metadata["pipeline"] == "LTXPipeline"
    assert recorder.steps() == [(1, 2), (2, 2)]
    assert np.array_equal(result.video, direct_frames(folder, guidance_scale=4.5))


def test_image_to_video_equals_direct_diffusers_call(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model(MODEL)
    result = generate(load(folder), request_params(image_start=wgp_test_images["a"], fps=30))
    assert result.metadata["pipeline"] == "LTXImageToVideoPipeline" and result.fps == 30.0
    assert np.array_equal(result.video, direct_frames(folder, wgp_test_images["a"], frame_rate=30))


def test_start_image_changes_output(wgp_tiny_model, wgp_test_images):
    model = load(wgp_tiny_model(MODEL))
    text = generate(model, request_params()).video
    one = generate(model, request_params(image_start=wgp_test_images["a"])).video
    two = generate(model, request_params(image_start=wgp_test_images["c"])).video
    assert not np.array_equal(one, two)
    assert not np.array_equal(text, one)
    # The text pipeline is unchanged by the image pipeline built beside it.
    assert np.array_equal(generate(model, request_params()).video, text)


def test_model_offload_switches_between_pipelines(wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model(MODEL)
    text, image = request_params(), request_params(image_start=wgp_test_images["b"])
    plain = load(folder)
    expected = [generate(plain, p).video for p in (text, image)]
    model = load(folder, offload="model")
    got = [generate(model, p).video for p in (text, image)]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_decode_timestep_reaches_a_timestep_aware_vae(tmp_path):
    folder = str(tmp_path / "ltx-091")
    save_tiny_pipeline(build_tiny_pipeline(SPEC, timestep_conditioning=True), folder)
    model = load(folder)
    params = request_params(decode_timestep=0.05, decode_noise_scale=0.025)
    ours = generate(model, params).video
    assert not np.array_equal(ours, generate(model, request_params()).video)
    assert np.array_equal(ours, direct_frames(folder, decode_timestep=0.05, decode_noise_scale=0.025))


def test_check_warns_when_start_image_is_stretched(wgp_test_images, tmp_path):
    assert LTX_FAMILY.check(SPEC, {"image_start": wgp_test_images["a"], "width": 32, "height": 32}) == []
    (warning,) = LTX_FAMILY.check(SPEC, {"image_start": wgp_test_images["wide"], "width": 704, "height": 704})
    assert "stretched" in warning
    with pytest.raises(UserError, match="does not exist"):
        LTX_FAMILY.check(SPEC, {"image_start": str(tmp_path / "none.png")})
    assert SMALL["frames"] % 8 == 1
