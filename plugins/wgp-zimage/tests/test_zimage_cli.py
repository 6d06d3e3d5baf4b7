"""Z-Image through the CLI (in process, the real command line and plugin loading): `wgp models tiny` and
`wgp run` writing PNGs equal to a direct diffusers call, text- and image-to-image; bad start images and
strengths refused at the door."""

from __future__ import annotations

import json

import numpy as np
import pytest
from diffusers import ZImageImg2ImgPipeline, ZImagePipeline
from diffusers.utils import load_image
from PIL import Image
from wgp_diffusers.testing import generator
from zimage_testing import TURBO

from wgp_host.testing import BAD_IMAGE_MESSAGES, assert_refused_at_the_door


def png(folder):
    (path,) = sorted(folder.glob("*.png"))
    return np.asarray(Image.open(path).convert("RGB")), path


def test_wgp_models_tiny_then_wgp_run_writes_a_png_equal_to_diffusers(wgp_cli, tmp_path):
    folder, out = tmp_path / "tiny", tmp_path / "out"
    result = wgp_cli("models", "tiny", TURBO, str(folder))
    assert result.exit_code == 0, result.output
    result = wgp_cli("run", "-m", TURBO, "--model-path", str(folder), "-p", "a lighthouse at dusk", "--resolution", "48x32",
                     "--steps", "2", "--seed", "11", "--writer", "image", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    ours, path = png(out)
    direct = ZImagePipeline.from_pretrained(str(folder))(
        prompt="a lighthouse at dusk", height=32, width=48, num_inference_steps=2, guidance_scale=0.0,
        generator=generator(11), output_type="pil",
    ).images[0]
    assert np.array_equal(ours, np.asarray(direct))
    record = json.loads(Image.open(path).text["wgp"])
    assert record["model"] == TURBO and record["request"]["params"]["steps"] == 2


def test_image_to_image_through_the_cli(wgp_tiny_model, wgp_cli, wgp_test_images, tmp_path):
    folder, out = wgp_tiny_model(TURBO), tmp_path / "out"
    result = wgp_cli("run", "-m", TURBO, "--model-path", folder, "-p", "make it snow", "--image-start", wgp_test_images["wide"],
                     "--resolution", "48x32", "--steps", "3", "--seed", "5", "--set", "strength=0.7",
                     "--writer", "image", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    ours, _ = png(out)
    direct = ZImageImg2ImgPipeline.from_pretrained(folder)(
        prompt="make it snow", image=load_image(wgp_test_images["wide"]), strength=0.7, height=32, width=48,
        num_inference_steps=3, guidance_scale=0.0, generator=generator(5), output_type="pil",
    ).images[0]
    assert np.array_equal(ours, np.asarray(direct))


@pytest.mark.parametrize("kind", ["zero", "text", "mp4", "missing"])
def test_a_bad_start_image_is_one_line_exit_2_and_nothing_runs(kind, wgp_cli, wgp_bad_media, tmp_path):
    bad = wgp_bad_media[kind]
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", TURBO, "-p", "x", "--image-start", bad,
                               needles=("--image-start", bad, BAD_IMAGE_MESSAGES[kind]))


def test_a_strength_that_leaves_no_step_is_one_line_exit_2(wgp_cli, wgp_test_images, tmp_path):
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", TURBO, "-p", "x", "--image-start", wgp_test_images["a"],
                               "--set", "strength=0", needles=("strength 0 with 8 steps leaves no denoising step",))
