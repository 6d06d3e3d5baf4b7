"""MiniMax-H3 through the CLI (in process): `wgp run` writes an MP4 whose frames are the video and whose
AAC stream is the stereo soundtrack; bad media, a request the model cannot make and a cache that cannot
hook its transformer are one-line errors at the door (exit 2, nothing written)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from minimax_testing import REF, T2VA

from wgp_host.testing import BAD_IMAGE_MESSAGES, assert_one_line_error


def test_run_writes_an_mp4_with_an_aac_soundtrack(wgp_cli, folder, wgp_test_images, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", T2VA, "--model-path", folder, "-p", "a dog barks at a red ball",
                     "--image-start", wgp_test_images["a"], "--resolution", "32x32", "--steps", "3", "--seed", "7",
                     "--writer", "video", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    (mp4,) = sorted(out.glob("*.mp4"))
    with av.open(str(mp4)) as container:
        (video,), (audio,) = container.streams.video, container.streams.audio
        assert audio.codec_context.name == "aac" and audio.rate == 32000 and audio.channels == 2
        assert (video.width, video.height) == (32, 32) and video.average_rate == 24
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        container.seek(0)
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert len(frames) == 124
    # AAC is lossy (the samples are compared in test_minimax_family): the decoded soundtrack is stereo
    # and as long as the generated one, 207 audio latents of 800 samples (give or take the encoder's
    # priming and its last 1024-sample frame).
    assert sound.shape[0] == 2 and abs(sound.shape[1] - 207 * 800) <= 2048


@pytest.mark.parametrize("kind", ["zero", "text", "missing"])
def test_a_bad_keyframe_is_one_line_exit_2_and_nothing_runs(kind, wgp_cli, wgp_bad_media, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", T2VA, "-p", "x", "--image-end", wgp_bad_media[kind], "--output-dir", str(out))
    assert_one_line_error(result, "--image-end", wgp_bad_media[kind], BAD_IMAGE_MESSAGES[kind])
    assert not out.exists()


@pytest.mark.parametrize("kind", ["zero", "text", "missing"])
def test_a_bad_reference_is_one_line_exit_2_and_nothing_runs(kind, wgp_cli, wgp_bad_media, wgp_test_images, tmp_path):
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", REF, "-p", "x", "--reference-image", wgp_test_images["a"],
                     "--reference-image", wgp_bad_media[kind], "--output-dir", str(out))
    assert_one_line_error(result, "--reference-image", wgp_bad_media[kind], BAD_IMAGE_MESSAGES[kind])
    assert not out.exists()


@pytest.mark.parametrize(("args", "needles"), [
    (["-m", REF], ["--reference-image: is required"]),
    (["-m", T2VA, "--frames", "130"], ["--frames: must be 17n+5"]),
    (["-m", T2VA, "--frames", "120"], ["--frames: must be at least 124"]),
    (["-m", T2VA, "--resolution", "32x160"], ["32x160 is outside the aspect ratios MiniMax-H3 generates (1:4 to 4:1)"]),
    (["-m", REF, *["--reference-image", "REF"] * 10], ["--reference-image", "takes at most 9 files (got 10)"]),
    (["-m", REF, "--reference-image", "TALL"], ["is outside 1:4 to 4:1, which MiniMax-H3 refuses"]),
    (["-m", T2VA, "--cache", "fbcache"], ["--cache fbcache does not run on minimax-h3", "taylorseer"]),
    (["-m", T2VA, "--quantize", "int8"], ["--quantize is not supported yet for Modular-pipeline models"]),
])
def test_requests_the_model_cannot_make_are_refused_at_the_door(args, needles, wgp_cli, wgp_test_images, tmp_path):
    from PIL import Image

    out, tall = tmp_path / "out", tmp_path / "tall.png"
    Image.new("RGB", (16, 80)).save(tall)
    files = {"REF": wgp_test_images["a"], "TALL": str(tall)}
    result = wgp_cli("run", *[files.get(a, a) for a in args], "-p", "x", "--output-dir", str(out))
    assert_one_line_error(result, *needles)
    assert not out.exists()
