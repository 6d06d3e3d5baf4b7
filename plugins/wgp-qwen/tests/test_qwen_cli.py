"""Qwen-Image through the CLI, in process: PNGs equal to a direct diffusers call, every bad
reference image (and one too many) refused at the door in one line, an Edit-Plus run with two
reference images, weights of another id refused, and a cancel mid-run that writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import QwenImagePipeline
from PIL import Image
from qwen_testing import generator

from wgp_host.testing import BAD_IMAGE_MESSAGES, assert_one_line_error

PLUS = "qwen-image-edit-2509"


@pytest.fixture(scope="module")
def t2i(wgp_tiny_model):
    return wgp_tiny_model("qwen-image")


def nothing_written(folder) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_text_to_image_through_cli_equals_diffusers(t2i, wgp_cli, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", "qwen-image", "--model-path", t2i, "-p", "a lighthouse at dusk",
                     "--resolution", "48x32", "--steps", "2", "--seed", "11", "--writer", "image", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.png")
    direct = QwenImagePipeline.from_pretrained(t2i)(
        prompt="a lighthouse at dusk", negative_prompt=" ", true_cfg_scale=4.0, height=32, width=48,
        num_inference_steps=2, generator=generator(11), output_type="pil",
    ).images[0]
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(direct))


@pytest.mark.parametrize("kind", ["zero", "text", "truncated_png", "mp4", "missing"])
def test_a_bad_reference_image_is_one_line_naming_the_flag(kind, wgp_cli, wgp_bad_media, wgp_test_images, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", PLUS, "-p", "x", "--reference-image", wgp_test_images["a"],
                     "--reference-image", wgp_bad_media[kind], "--output-dir", str(out))
    assert_one_line_error(result, "--reference-image", BAD_IMAGE_MESSAGES[kind])
    assert nothing_written(out)


def test_a_bad_image_to_edit_is_one_line(wgp_cli, wgp_bad_media, tmp_path):
    result = wgp_cli("run", "-m", "qwen-image-edit", "-p", "x", "--image-start", wgp_bad_media["text"],
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--image-start", BAD_IMAGE_MESSAGES["text"])


def test_more_reference_images_than_the_model_takes_is_one_line(wgp_cli, wgp_test_images, tmp_path):
    images = [wgp_test_images[k] for k in ("a", "b", "c", "wide")]
    result = wgp_cli("run", "-m", PLUS, "-p", "x", *[a for path in images for a in ("--reference-image", path)],
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--reference-image", "at most 3 files (got 4)")


def test_an_edit_model_without_its_reference_image_is_one_line(wgp_cli, tmp_path):
    result = wgp_cli("run", "-m", PLUS, "-p", "x", "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--reference-image", "is required")


def test_edit_plus_with_two_reference_images_through_cli_writes_a_png(wgp_tiny_model, wgp_cli, wgp_test_images, tmp_path,
                                                                    small_vae_area):
    # With or without torchvision (without it, wgp builds the Qwen2VLProcessor by hand).
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", PLUS, "--model-path", wgp_tiny_model(PLUS), "-p", "Picture 1 beside Picture 2",
                     "--reference-image", wgp_test_images["a"], "--reference-image", wgp_test_images["wide"],
                     "--resolution", "48x32", "--steps", "2", "--seed", "3", "--writer", "image", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.png")
    assert Image.open(path).size == (48, 32)


def test_text_to_image_weights_are_refused_for_an_edit_model(t2i, wgp_queue, wgp_test_images):
    from wgp_hookspecs import UserError

    with pytest.raises(UserError, match=f"do not match {PLUS}: model_index.json names QwenImagePipeline.*use -m qwen-image"):
        wgp_queue.build(model=PLUS, model_path=t2i, params={"prompt": "x", "reference_images": [wgp_test_images["a"]]})


def test_cancel_after_the_first_step_writes_nothing(t2i, wgp_queue, tmp_path):
    controller, events = wgp_queue.controller, wgp_queue.events

    def cancel_after_first_step(event):
        if event.event == "step" and event.fields["step"] == 1:
            controller.cancel_current("test")

    controller.channel.listeners.append(cancel_after_first_step)
    out = tmp_path / "out"
    wgp_queue.submit(model="qwen-image", model_path=t2i, output_dir=str(out), writers=("image",),
                     params={"prompt": "a fox", "steps": 3, "width": 32, "height": 32})
    outcome = controller.run_next()
    assert outcome.state == "cancelled"
    assert [e.fields["step"] for e in events if e.event == "step"] == [1]
    assert nothing_written(out)
