"""{{ cookiecutter.project_name }} on a tiny random-weight model: wgp gives exactly the frames of a direct diffusers call.

The fixtures (``wgp_tiny_model``, ``make_wgp_host``, ``wgp_cli``) come from the host's pytest
plugin, ``wgp_host.testing``, loaded automatically; ``load_tiny`` and ``generate`` from
``wgp_diffusers.testing`` run the family as the host does.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import pytest
import torch
from diffusers import LTXPipeline
from wgp_diffusers import options as diffusers_options
from wgp_diffusers.testing import generate, load_tiny
from wgp_hookspecs import ParameterError

from wgp_host.testing import Recorder, decode_video, heavy_imports, registered_families
from {{ cookiecutter.package }} import plugin
from {{ cookiecutter.package }}.tiny import build_tiny

MODEL = plugin.MODEL.id
#: The smallest request the real rules allow: 9 frames (8n+1) at 32x32 (multiples of 32).
SMALL = {"prompt": "a red fox runs through snow", "seed": 7, "width": 32, "height": 32, "frames": 9, "steps": 2}


@functools.lru_cache
def direct_frames(folder: str) -> np.ndarray:
    """What a diffusers user writes by hand for SMALL: from_pretrained, a seeded generator, PIL frames."""
    pipe = LTXPipeline.from_pretrained(folder)
    frames = pipe(
        prompt=SMALL["prompt"], negative_prompt=plugin.MODEL.param("negative_prompt").default, width=32, height=32,
        num_frames=9, frame_rate=25, num_inference_steps=2, guidance_scale=3.0,
        generator=torch.Generator("cpu").manual_seed(7), output_type="pil",
    ).frames[0]
    return np.stack([np.asarray(frame) for frame in frames])


def test_registration_imports_no_torch():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_registers_the_family():
    assert registered_families("{{ cookiecutter.plugin_name }}") == [plugin.FAMILY]


def test_the_schema_holds_the_rules():
    with pytest.raises(ParameterError, match="8n\\+1"):
        plugin.MODEL.param("frames").validate(16)
    with pytest.raises(ParameterError, match="multiple of 32"):
        plugin.MODEL.param("width").validate(48)


def test_frames_equal_a_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model(MODEL)
    recorder = Recorder()
    result = generate(load_tiny(plugin.FAMILY, plugin.MODEL, folder), {**plugin.MODEL.defaults(), **SMALL}, recorder.context)
    assert result.video.shape == (9, 32, 32, 3) and result.fps == 25.0
    assert recorder.steps() == [(1, 2), (2, 2)]
    assert np.array_equal(result.video, direct_frames(folder))


def test_wgp_run_writes_those_frames(make_wgp_host, wgp_cli, wgp_tiny_model, tmp_path):
    folder = wgp_tiny_model(MODEL)
    make_wgp_host(plugin, diffusers_options)  # wgp-diffusers registers --dtype, --offload, ...
    result = wgp_cli("run", "-m", MODEL, "--model-path", folder, "-p", SMALL["prompt"], "--seed", "7",
                     "--resolution", "32x32", "--frames", "9", "--steps", "2", "--video-codec", "ffv1",
                     "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    [video] = tmp_path.glob("*.mkv")
    assert np.array_equal(decode_video(video), direct_frames(folder))  # ffv1 is lossless


def test_the_tiny_builder_is_deterministic(tmp_path):
    def digests(folder):
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    for name in ("a", "b"):
        (tmp_path / name).mkdir()  # as the host does: an empty folder that exists
        build_tiny(plugin.MODEL, tmp_path / name)
    assert any(name.endswith(".safetensors") for name in digests(tmp_path / "a"))
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
