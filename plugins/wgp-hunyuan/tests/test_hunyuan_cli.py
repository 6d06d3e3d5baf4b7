"""HunyuanVideo 1.5 through the CLI in process: image-to-video with --image-start, written losslessly
and equal to a direct diffusers call; a bad start image refused at the door in one line."""

from __future__ import annotations

import pytest
from diffusers import HunyuanVideo15ImageToVideoPipeline
from diffusers.utils import load_image
from hunyuan_testing import I2V, T2V
from wgp_diffusers.testing import generator, stack_frames

from wgp_host.testing import BAD_IMAGE_MESSAGES, assert_one_line_error, assert_refused_at_the_door, decode_video


def test_i2v_through_cli_with_image_start_equals_diffusers(wgp_tiny_model, wgp_cli, wgp_test_images, tmp_path):
    folder, out, image = wgp_tiny_model(I2V), tmp_path / "out", wgp_test_images["a"]
    result = wgp_cli("run", "-m", I2V, "--model-path", folder, "-p", "a fox", "--image-start", image,
                     "--frames", "5", "--steps", "2", "--seed", "3", "--video-codec", "ffv1", "--writer", "video",
                     "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    ours = decode_video(next(out.glob("*.mkv")))
    direct = HunyuanVideo15ImageToVideoPipeline.from_pretrained(folder)(
        image=load_image(image), prompt="a fox", negative_prompt="", num_frames=5, num_inference_steps=2,
        generator=generator(3), output_type="pil",
    ).frames[0]
    assert (ours == stack_frames(direct)).all() and ours.shape == (5, 32, 32, 3)


@pytest.mark.parametrize("kind", ["zero", "text", "mp4", "missing"])
def test_a_bad_start_image_is_one_line_exit_2_and_nothing_runs(kind, wgp_cli, wgp_bad_media, tmp_path):
    bad = wgp_bad_media[kind]
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", I2V, "-p", "x", "--image-start", bad,
                               needles=("--image-start", bad, BAD_IMAGE_MESSAGES[kind]))


def test_i2v_without_image_and_t2v_with_one_are_refused(wgp_cli, wgp_test_images, tmp_path):
    assert_one_line_error(wgp_cli("run", "-m", I2V, "-p", "x", "--output-dir", str(tmp_path / "a")), "--image-start")
    # Image-to-video takes no size: the pipeline picks the bucket nearest the image's aspect ratio.
    assert_one_line_error(wgp_cli("run", "-m", I2V, "-p", "x", "--image-start", wgp_test_images["a"],
                                  "--width", "64", "--output-dir", str(tmp_path / "b")), "width")
    assert_one_line_error(wgp_cli("run", "-m", T2V, "-p", "x", "--image-start", wgp_test_images["a"],
                                  "--output-dir", str(tmp_path / "c")), "image")
