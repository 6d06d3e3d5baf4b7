"""Flux through the CLI: `wgp models tiny` and `wgp run` in a subprocess (schnell), in-process (Kontext),
writing PNGs equal to a direct diffusers call."""

from __future__ import annotations

import json

import numpy as np
import pytest
from diffusers import FluxKontextPipeline, FluxPipeline
from diffusers.utils import load_image
from wgp_diffusers.testing import generator
from PIL import Image

from wgp_host.testing import run_wgp


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    return {"WGP_HOME": str(tmp_path_factory.mktemp("home")), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def tiny_schnell(tmp_path_factory, cli_env):
    folder = tmp_path_factory.mktemp("models") / "flux.1-schnell"
    proc = run_wgp("models", "tiny", "flux.1-schnell", str(folder), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert list(folder.glob("transformer/*.safetensors")) and not list(folder.rglob("*.bin"))
    return folder


def png_images(folder):
    paths = sorted(folder.glob("*.png"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths], paths


def test_schnell_batch_through_cli_equals_diffusers(tiny_schnell, cli_env, tmp_path):
    folder, out = tiny_schnell, tmp_path / "out"
    proc = run_wgp("run", "-m", "flux.1-schnell", "--model-path", str(folder), "-p", "a lighthouse at dusk",
                   "--resolution", "48x32", "--steps", "2", "--seed", "11", "--set", "batch_size=2",
                   "--writer", "image", "--output-dir", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    ours, paths = png_images(out)
    direct = FluxPipeline.from_pretrained(str(folder))(
        prompt="a lighthouse at dusk", height=32, width=48, num_inference_steps=2, guidance_scale=0.0,
        num_images_per_prompt=2, max_sequence_length=256, generator=generator(11), output_type="pil",
    ).images
    assert len(ours) == 2
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(ours, direct, strict=True))
    record = json.loads(Image.open(paths[0]).text["wgp"])
    assert record["model"] == "flux.1-schnell" and record["request"]["params"]["batch_size"] == 2


def test_kontext_through_cli_with_image_start(wgp_tiny_model, wgp_cli, tmp_path, wgp_test_images):
    folder, out = wgp_tiny_model("flux.1-kontext-dev"), tmp_path / "out"
    reference = wgp_test_images["wide"]
    result = wgp_cli("run", "-m", "flux.1-kontext-dev", "--model-path", folder, "-p", "make it snow",
                     "--image-start", reference, "--resolution", "32x32", "--steps", "2", "--seed", "5",
                     "--set", "auto_resize=false", "--writer", "image", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (ours,), _ = png_images(out)
    direct = FluxKontextPipeline.from_pretrained(str(folder))(
        image=load_image(reference), prompt="make it snow", height=32, width=32, max_area=32 * 32,
        _auto_resize=False, num_inference_steps=2, guidance_scale=2.5, generator=generator(5), output_type="pil",
    ).images[0]
    assert np.array_equal(ours, np.asarray(direct))


def test_kontext_without_image_is_one_line_exit_2(cli_env, tmp_path):
    proc = run_wgp("run", "-m", "flux.1-kontext-dev", "-p", "x", "--output-dir", str(tmp_path / "o"), env=cli_env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "image" in proc.stderr
