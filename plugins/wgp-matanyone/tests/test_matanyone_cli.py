"""MatAnyone through the real CLI, runner, writers and queue: a clip with two audio tracks in
different languages, weights from `wgp models tiny`, every output decoded and checked, and
one-line errors for bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from matanyone_testing import audio_streams, decode_video, scene, write_clip, write_mask
from PIL import Image

FPS = 10
START, END = 2, 8  # frames 2..7 are processed


def wgp(*args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "wgp_host", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {"WGP_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def weights(tmp_path_factory, env):
    folder = tmp_path_factory.mktemp("models") / "matanyone"
    proc = wgp("models", "tiny", "matanyone", str(folder), env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text())["single_object"] is True
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """10 frames of 54 x 70 at 10 fps; AAC stereo "eng" and MP3 mono "fra"; the frame-2 mask."""
    root = tmp_path_factory.mktemp("media")
    frames, _ = scene(10, 54, 70)
    write_clip(root / "clip.mp4", frames, FPS, [("aac", 44100, 2, "eng"), ("libmp3lame", 22050, 1, "fra")])
    _, mask = scene(START + 1, 54, 70)
    # the object's mask in the start frame: the disc has moved 2 px per frame
    mask = np.roll(mask, 2 * START, axis=1)
    write_mask(root / "mask.png", mask)
    return {"video": root / "clip.mp4", "mask": root / "mask.png", "root": root}


def test_wgp_matanyone_end_to_end(weights, clip, env, tmp_path, net):
    out = tmp_path / "out"
    events = tmp_path / "events.jsonl"
    proc = wgp("matanyone", "--video", str(clip["video"]), "--mask", str(clip["mask"]), "--start-frame", str(START),
               "--end-frame", str(END), "--outputs", "foreground,alpha,rgba,rgba_video,greenscreen,audio",
               "--alpha-codec", "ffv1", "--model-path", str(weights), "--output-dir", str(out), "--writer", "manifest",
               "--metadata-mode", "json", "--events", str(events), "--progress", "none", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["state"] == "finished"
    by_role: dict[str, list[dict]] = {}
    for artifact in outcome["artifacts"]:
        by_role.setdefault(artifact["role"], []).append(artifact)
    assert set(by_role) == {"mask_foreground", "greenscreen", "mask_alpha", "rgba_archive", "rgba_video", "audio", "sidecar"}
    n = END - START

    # alpha: lossless 16-bit, equal to matte() on the same frames
    source = decode_video(clip["video"])[START:END]
    mask = np.asarray(Image.open(clip["mask"]).convert("L"))
    expected = net.matte(source, mask)
    alpha = decode_video(Path(by_role["mask_alpha"][0]["path"]), "gray16le").astype(np.float64) / 65535
    assert alpha.shape == (n, 54, 70)
    assert np.abs(alpha - expected).max() <= 2e-5
    assert 0 < (expected > 0).mean() < 1  # a real matte, not a constant

    # foreground: the source frames with both audio tracks, cut to the processed range
    foreground = Path(by_role["mask_foreground"][0]["path"])
    assert np.abs(decode_video(foreground).astype(int) - source).mean() < 6
    tracks = audio_streams(foreground)
    assert [t["language"] for t in tracks] == ["eng", "fra"]
    for track in tracks:
        assert abs(track["duration_s"] - n / FPS) < 0.05, track
    green = decode_video(Path(by_role["greenscreen"][0]["path"]))
    assert green.shape == (n, 54, 70, 3)
    with av.open(by_role["greenscreen"][0]["path"]) as container:
        assert not container.streams.audio

    # RGBA: the zip holds PNGs whose alpha is the 8-bit matte; the ProRes 4444 video decodes with alpha
    with zipfile.ZipFile(by_role["rgba_archive"][0]["path"]) as archive:
        names = sorted(archive.namelist())
        assert len(names) == n
        with archive.open(names[0]) as fh:
            rgba = np.asarray(Image.open(fh))
    assert rgba.shape == (54, 70, 4)
    assert np.abs(rgba[..., 3].astype(int) - np.round(expected[0] * 255)).max() <= 1
    assert decode_video(Path(by_role["rgba_video"][0]["path"]), "rgba").shape == (n, 54, 70, 4)

    # audio artifacts: source codecs, languages, durations
    audio = by_role["audio"]
    assert [(a["language"], a["codec"], a["sample_rate"], a["channels"]) for a in audio] == [
        ("eng", "aac", 44100, 2), ("fra", "mp3", 22050, 1)]
    for a in audio:
        data, rate = soundfile.read(a["path"], dtype="float32")
        assert rate == a["sample_rate"] and abs(len(data) / rate - n / FPS) < 1e-3
        assert abs(a["duration_s"] - n / FPS) < 1e-3

    # the outcome's metadata names every track with the path of its audio file
    tracks_meta = outcome["metadata"]["audio_tracks"]
    assert [(t["path"], t["language"], t["codec"], t["channels"]) for t in tracks_meta] == [
        (a["path"], a["language"], a["codec"], a["channels"]) for a in audio]
    assert all(abs(t["duration_s"] - n / FPS) < 1e-3 for t in tracks_meta)
    assert "audio track 0: path=" in proc.stderr and "language=fra" in proc.stderr

    # manifest: every role, audio lines with their fields; the foreground line lists its tracks
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {line["role"] for line in lines} == set(by_role)
    for line in lines:
        if line["role"] == "audio":
            assert all(line[k] is not None for k in ("sample_rate", "duration_s", "language", "channels", "codec"))
    fg_line = next(line for line in lines if line["role"] == "mask_foreground")
    assert [t["language"] for t in fg_line["audio"]] == ["eng", "fra"] and fg_line["audio_tracks"] == 2
    assert fg_line["record"]["request"]["params"]["start_frame"] == START

    # sidecars (--metadata-mode json) carry the same audio fields
    for a in audio:
        sidecar = json.loads(Path(a["path"] + ".json").read_text())
        assert sidecar["artifact"]["language"] == a["language"] and sidecar["artifact"]["codec"] == a["codec"]
        assert sidecar["artifact"]["sample_rate"] == a["sample_rate"]

    # one step event per processed frame
    steps = [json.loads(line) for line in events.read_text().splitlines() if json.loads(line)["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(i, n) for i in range(1, n + 1)]


def test_queue_runs_a_matting_job(weights, clip, env, tmp_path):
    out = tmp_path / "queued"
    home = {**env, "WGP_HOME": str(tmp_path / "qhome")}
    proc = wgp("queue", "add", "-m", "matanyone", "--set", f"video={clip['video']}", "--set", f"mask={clip['mask']}",
               "--set", f"start_frame={START}", "--set", f"end_frame={END}", "--set", "warmup=2",
               "--model-path", str(weights), "--output-dir", str(out), "--writer", "video", "--writer", "mattes",
               "--writer", "audio", "--json", env=home)
    assert proc.returncode == 0, proc.stderr
    proc = wgp("queue", "work", "--once", "--progress", "none", env=home)
    assert proc.returncode == 0, proc.stderr
    proc = wgp("queue", "status", "--json", env=home)
    assert proc.returncode == 0, proc.stderr
    recent = json.loads(proc.stdout)["recent"][0]
    assert recent["state"] == "finished", recent
    tracks = recent["audio_tracks"]
    assert [(t["language"], t["codec"]) for t in tracks] == [("eng", "aac"), ("fra", "mp3")]
    assert all(Path(t["path"]).is_file() for t in tracks)
    roles = sorted(a["role"] for a in recent["artifacts"])
    assert roles == ["audio", "audio", "mask_alpha", "mask_foreground", "rgba_archive", "rgba_video"]


def test_wgp_run_without_weights_says_who_supplies_them(clip, env, tmp_path):
    proc = wgp("run", "-m", "matanyone", "--set", f"video={clip['video']}", "--set", f"mask={clip['mask']}",
               "--output-dir", str(tmp_path / "out"), "--progress", "none", env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "non-commercial" in proc.stderr and "--model-path" in proc.stderr
    assert not (tmp_path / "out").exists()


def _bad_inputs(clip: dict, weights: Path) -> dict[str, tuple[list[str], str]]:
    root = clip["root"]
    if not (root / "sound.wav").exists():
        soundfile.write(root / "sound.wav", np.zeros((4410, 1), np.float32), 44100)
        Image.new("L", (40, 30), 255).save(root / "small.png")
        (root / "pickled").mkdir()
        (root / "pickled" / "matanyone.pth").write_bytes(b"\x80\x04 not loaded anyway")
    base = ["--video", str(clip["video"]), "--mask", str(clip["mask"]), "--model-path", str(weights)]
    return {
        "no video stream": (["--video", str(root / "sound.wav"), "--mask", str(clip["mask"]), "--model-path", str(weights)],
                            "has no video stream"),
        "mask size": (["--video", str(clip["video"]), "--mask", str(root / "small.png"), "--model-path", str(weights)],
                      "is 40x30 but the video is 70x54"),
        "pickled": (["--video", str(clip["video"]), "--mask", str(clip["mask"]), "--model-path", str(root / "pickled" / "matanyone.pth")],
                    "pickled checkpoint"),
        "start past end": ([*base, "--start-frame", "10"], "start frame 10 is past the end"),
    }


@pytest.mark.parametrize("case", ["no video stream", "mask size", "pickled", "start past end"])
def test_bad_inputs_are_one_line_errors_and_write_nothing(case, clip, weights, env, tmp_path):
    args, message = _bad_inputs(clip, weights)[case]
    out = tmp_path / "out"
    proc = wgp("matanyone", *args, "--output-dir", str(out), "--progress", "none", env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("wgp: error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_cancel_after_the_first_frame_writes_nothing(weights, clip, wgp_queue, tmp_path):
    """In-process through the queue controller: a cancel during the job stops it at the next frame."""
    out = tmp_path / "out"
    outcome = wgp_queue.run_cancelled_at(
        1, model="matanyone", model_path=str(weights), output_dir=str(out), writers=("video", "mattes", "audio"),
        set_items=(f"video={clip['video']}", f"mask={clip['mask']}", f"start_frame={START}", "warmup=1"))
    assert outcome.state == "cancelled" and wgp_queue.steps() == [1]
    assert not out.exists() or not any(out.iterdir())
