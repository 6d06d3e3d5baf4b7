"""FLUX.2 through the CLI (in process): `--reference-image` (repeatable) writes PNGs equal to a direct diffusers
call; bad references, a lever that cannot run and weights of another Flux model are one-line errors at the door
(exit 2, nothing loaded, nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import Flux2KleinPipeline
from flux2_testing import direct_call, references, request_params  # noqa: F401 - references is a fixture
from PIL import Image

from wgp_host.testing import BAD_IMAGE_MESSAGES, assert_one_line_error, assert_refused_at_the_door

KLEIN = "flux.2-klein-4b"


def test_reference_images_through_the_cli_equal_diffusers(wgp_cli, wgp_tiny_model, references, tmp_path):
    folder, out = wgp_tiny_model(KLEIN), tmp_path / "out"
    result = wgp_cli("run", "-m", KLEIN, "--model-path", folder, "-p", "put the fox in the garden",
                     "--reference-image", references["b"], "--reference-image", references["a"], "--resolution", "48x32",
                     "--steps", "2", "--seed", "5", "--set", "max_sequence_length=64", "--writer", "image",
                     "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (png,) = sorted(out.glob("*.png"))
    params = request_params(KLEIN, prompt="put the fox in the garden", seed=5)
    direct = direct_call(Flux2KleinPipeline.from_pretrained(folder), params, [references["b"], references["a"]])[0]
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), direct)


@pytest.mark.parametrize("kind", ["zero", "text", "missing"])
def test_a_broken_reference_is_one_line_exit_2_and_nothing_runs(kind, wgp_cli, wgp_bad_media, references, tmp_path):
    bad = wgp_bad_media[kind]
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", KLEIN, "-p", "x", "--reference-image", references["a"],
                               "--reference-image", bad, needles=("--reference-image", bad, BAD_IMAGE_MESSAGES[kind]))


def test_flux2_reference_rules_at_the_door(wgp_cli, wgp_test_images, references, tmp_path):
    out = tmp_path / "out"
    five = ["--reference-image", references["a"]] * 5
    result = wgp_cli("run", "-m", KLEIN, "-p", "x", *five, "--output-dir", str(out))
    assert_one_line_error(result, "--reference-image", "flux.2-klein-4b takes at most 4 reference images (given 5)")
    small = wgp_test_images["a"]  # 32x32: diffusers' Flux2ImageProcessor refuses it mid-job
    result = wgp_cli("run", "-m", "flux.2-dev", "-p", "x", "--reference-image", small, "--output-dir", str(out))
    assert_one_line_error(result, "--reference-image", f"{small} is 32x32; FLUX.2 needs at least 64 px a side")
    assert not out.exists()


def test_fbcache_is_refused_for_flux2_at_the_door(wgp_cli, tmp_path):
    result = wgp_cli("run", "-m", KLEIN, "-p", "x", "--cache", "fbcache", "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--cache fbcache does not run on flux.2-klein-4b", "taylorseer")


@pytest.mark.parametrize(("model", "weights", "needles"), [
    ("flux.1-dev", KLEIN, ["the transformer is a Flux2Transformer2DModel", "use -m flux.2-klein-4b or -m flux.2-klein-9b"]),
    ("flux.2-dev", "flux.1-dev", ["the transformer is a FluxTransformer2DModel", "model_index.json names FluxPipeline",
                                  "use -m flux.1-dev"]),
    ("flux.2-dev", KLEIN, ["model_index.json names Flux2KleinPipeline", "use -m flux.2-klein-4b"]),
    ("flux.2-klein-base-4b", KLEIN, ["is_distilled=True", "use -m flux.2-klein-4b or -m flux.2-klein-9b"]),
    (KLEIN, "flux.2-klein-base-4b", ["is_distilled=False", "use -m flux.2-klein-base-4b or -m flux.2-klein-base-9b"]),
])
def test_weights_of_another_flux_model_are_refused_at_the_door(model, weights, needles, wgp_cli, wgp_tiny_model, tmp_path):
    result = wgp_cli("run", "-m", model, "--model-path", wgp_tiny_model(weights), "-p", "x", "--dry-run")
    assert_one_line_error(result, f"do not match {model}", *needles)
