"""`wgp matanyone --video/--mask`: broken media are refused at the door, naming the flag and the file.

The host opens and verifies both (schema types ``video`` and ``image``) before the job is built;
this plugin only says which of its flags a refused parameter came from.  No weights are needed:
nothing is loaded.  The real CLI in process, real files (``wgp_bad_media``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, assert_one_line_error

MASKS, VIDEOS = BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES


def _matanyone(wgp_cli, *args: str):
    return wgp_cli("matanyone", *args, prog_name="wgp")


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_a_broken_mask_is_one_line_naming_the_flag_and_the_file(kind, wgp_cli, wgp_bad_media, tmp_path):
    out = tmp_path / "out"
    result = _matanyone(wgp_cli, "--video", wgp_bad_media["mp4"], "--mask", wgp_bad_media[kind], "--output-dir", str(out))
    assert_one_line_error(result, "--mask: ", wgp_bad_media[kind], MASKS[kind])
    assert not out.exists()


@pytest.mark.parametrize("kind", sorted(VIDEOS))
def test_a_broken_video_is_one_line_naming_the_flag_and_the_file(kind, wgp_cli, wgp_bad_media, tmp_path):
    out = tmp_path / "out"
    result = _matanyone(wgp_cli, "--video", wgp_bad_media[kind], "--mask", wgp_bad_media["png"], "--output-dir", str(out))
    assert_one_line_error(result, "--video: ", wgp_bad_media[kind], VIDEOS[kind])
    assert not out.exists()


@pytest.mark.parametrize("device", ["tpu", "cuda:x"])
def test_a_malformed_device_is_refused_before_anything_loads(device, wgp_cli, wgp_bad_media, tmp_path):
    result = _matanyone(wgp_cli, "--video", wgp_bad_media["mp4"], "--mask", wgp_bad_media["png"], "--device", device,
                        "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "--device: must be auto, cpu")


def test_good_media_pass_the_door_and_the_job_stops_only_for_the_missing_weights(wgp_cli, wgp_bad_media, tmp_path):
    """The control: the same files the checks above refuse one at a time are accepted together."""
    out = tmp_path / "out"
    result = _matanyone(wgp_cli, "--video", wgp_bad_media["mp4"], "--mask", wgp_bad_media["png"], "--output-dir", str(out),
                        "--progress", "none")
    assert_one_line_error(result, "no MatAnyone weights")
    assert not out.exists() or not any(Path(out).iterdir())
