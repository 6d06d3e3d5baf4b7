"""LTX-2 through the real CLI (in process): an MP4 with its sound, and one-line errors at the door."""

from __future__ import annotations

import av
import numpy as np
import pytest
from ltx2_testing import SMALL

from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, assert_one_line_error, assert_refused_at_the_door

SIZE = ["--resolution", "64x64", "--frames", "9", "--steps", "2", "--set", "max_sequence_length=64"]


def test_run_writes_an_mp4_with_its_sound(wgp_cli, wgp_tiny_model, wgp_test_images, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", "ltx-2.3", "--model-path", wgp_tiny_model("ltx-2.3"), "-p", SMALL["prompt"],
                     "--image-start", wgp_test_images["a"], *SIZE, "--seed", "7", "--writer", "video",
                     "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (video,) = out.glob("*.mp4")
    with av.open(str(video)) as container:
        (audio,) = container.streams.audio
        assert audio.codec_context.name == "aac" and audio.rate == 48000 and audio.channels == 2
        samples = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio)])
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 9
    assert samples.size > 0 and np.abs(samples).max() > 0


@pytest.mark.parametrize("kind", ["zero", "text", "png", "missing"])
def test_a_broken_condition_video_is_one_line_and_nothing_runs(kind, wgp_cli, wgp_bad_media, tmp_path):
    bad = wgp_bad_media[kind]
    assert_refused_at_the_door(wgp_cli, tmp_path / "out", "-m", "ltx-2", "-p", "x", "--condition-video", bad, *SIZE,
                               needles=("condition", bad, BAD_VIDEO_MESSAGES[kind]))


def test_a_broken_end_image_is_one_line(wgp_cli, wgp_bad_media, tmp_path):
    result = wgp_cli("run", "-m", "ltx-2.3", "-p", "x", "--image-end", wgp_bad_media["text"], *SIZE,
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "image", wgp_bad_media["text"], BAD_IMAGE_MESSAGES["text"])


def test_a_condition_index_past_the_video_is_one_line(wgp_cli, wgp_bad_media, tmp_path):
    result = wgp_cli("run", "-m", "ltx-2", "-p", "x", "--condition-video", wgp_bad_media["mp4"], *SIZE,
                     "--set", "condition_index=2", "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "condition_index: must be below 2")


def test_weights_of_the_other_version_are_one_line(wgp_cli, wgp_tiny_model, tmp_path):
    result = wgp_cli("run", "-m", "ltx-2", "--model-path", wgp_tiny_model("ltx-2.3"), "-p", "x", *SIZE,
                     "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result, "LTX-2.3 (22B), not ltx-2", "-m ltx-2.3")
