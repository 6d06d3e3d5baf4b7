"""LTX-Video through the real CLI: `wgp models tiny`, then `wgp run` to a lossless ffv1 MKV equal to diffusers."""

from __future__ import annotations

import numpy as np
import pytest
from ltx_testing import direct_frames

from wgp_host.testing import decode_video, run_wgp


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    return {"WGP_HOME": str(tmp_path_factory.mktemp("home")), "HF_HUB_OFFLINE": "1"}


def test_models_tiny_then_run_image_to_video_losslessly(tmp_path, cli_env, wgp_test_images):
    folder, out = tmp_path / "ltx-video", tmp_path / "out"
    proc = run_wgp("models", "tiny", "ltx-video", str(folder), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert list(folder.glob("vae/*.safetensors")) and not list(folder.rglob("*.bin"))
    proc = run_wgp("run", "-m", "ltx-video", "--model-path", str(folder), "-p", "a red fox runs through snow",
                   "-n", "blurry", "--image-start", wgp_test_images["b"], "--resolution", "32x32", "--frames", "9",
                   "--steps", "2", "--guidance", "3.5", "--seed", "42", "--fps", "25", "--video-codec", "ffv1",
                   "--writer", "video", "--output-dir", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stderr
    ours = decode_video(next(out.glob("*.mkv")))
    direct = direct_frames(str(folder), wgp_test_images["b"], seed=42, negative_prompt="blurry", guidance_scale=3.5,
                           frame_rate=25)
    assert ours.shape == (9, 32, 32, 3)
    assert np.array_equal(ours, direct)


def test_bad_frame_count_is_one_line_exit_2(cli_env, tmp_path):
    proc = run_wgp("run", "-m", "ltx-video", "-p", "x", "--frames", "160", "--output-dir", str(tmp_path / "o"), env=cli_env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "frames: must be 8n+1 (got 160; nearest valid: 153 or 161)" in proc.stderr
