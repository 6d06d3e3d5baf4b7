"""`wgp run` end to end with the echo family: real PyAV, Pillow and soundfile decoding."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from wgp_host.testing import run_wgp


def decode_video(path: Path) -> tuple[np.ndarray, dict]:
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        info = {
            "rate": vstream.average_rate,
            "audio": [(s.codec_context.name, s.rate, s.channels) for s in container.streams.audio],
            "comment": container.metadata.get("comment"),
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return frames, info


def test_echo_mp4_decodes_to_requested_frames_size_fps_and_audio(tmp_path, home_env):
    out = tmp_path / "out"
    proc = run_wgp("run", "-m", "echo", "-p", "a red fox", "--frames", "17", "--fps", "16",
                   "--width", "96", "--height", "64", "--output-dir", str(out), env=home_env)
    assert proc.returncode == 0, proc.stderr
    mp4 = next(out.glob("*.mp4"))
    assert f"wrote {mp4}" in proc.stdout
    frames, info = decode_video(mp4)
    assert frames.shape == (17, 64, 96, 3)
    assert info["rate"] == Fraction(16)
    assert info["audio"] == [("aac", 24000, 1)]
    record = json.loads(info["comment"])
    assert record["request"]["params"]["prompt"] == "a red fox"
    assert record["seed"] == record["request"]["params"]["seed"]
    assert not list(out.glob(".wgp-tmp-*"))


def test_same_seed_gives_identical_frames_and_ffv1_is_lossless(tmp_path, home_env):
    from wgp_echo.model import pattern, prompt_seed

    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = run_wgp("run", "-m", "echo", "-p", "fox", "--seed", "7", "--frames", "5",
                       "--output-dir", str(out), "--video-codec", "ffv1", env=home_env)
        assert proc.returncode == 0, proc.stderr
        outs.append(decode_video(next(out.glob("*.mkv")))[0])
    assert np.array_equal(outs[0], outs[1])
    # ffv1 is lossless: decoded frames equal the generated uint8 frames exactly.
    assert np.array_equal(outs[0], pattern(64, 64, 5, prompt_seed("fox", 7)))


def test_odd_sizes_are_padded_to_even_for_h264(tmp_path, home_env):
    proc = run_wgp("run", "-m", "echo", "-p", "odd", "--resolution", "33x17", "--frames", "3",
                   "--output-dir", str(tmp_path), "--writer", "video", env=home_env)
    assert proc.returncode == 0, proc.stderr
    frames, _ = decode_video(next(tmp_path.glob("*.mp4")))
    assert frames.shape == (3, 18, 34, 3)


def test_image_and_audio_writers(tmp_path, home_env):
    proc = run_wgp("run", "-m", "echo-image", "-p", "img", "--seed", "3", "--set", "batch_size=2",
                   "--width", "40", "--height", "24", "--output-dir", str(tmp_path), env=home_env)
    assert proc.returncode == 0, proc.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 2
    from wgp_echo.model import pattern, prompt_seed

    for i, png in enumerate(pngs):
        with Image.open(png) as img:
            assert np.array_equal(np.asarray(img), pattern(40, 24, 1, prompt_seed("img", 3) + i)[0])
            assert json.loads(img.text["wgp"])["model"] == "echo-image"
    proc = run_wgp("run", "-m", "echo-audio", "-p", "beep", "--set", "duration_s=0.5", "--set", "channels=2",
                   "--output-dir", str(tmp_path / "a"), env=home_env)
    assert proc.returncode == 0, proc.stderr
    data, rate = soundfile.read(next((tmp_path / "a").glob("*.wav")))
    assert rate == 24000 and data.shape == (12000, 2)


def test_json_result_and_events_file(tmp_path, home_env):
    events = tmp_path / "events.jsonl"
    proc = run_wgp("run", "-m", "echo", "-p", "j", "--steps", "3", "--json", "--events", str(events),
                   "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "finished"
    roles = sorted(a["role"] for a in result["artifacts"])
    assert roles == ["audio", "video"]
    for artifact in result["artifacts"]:
        assert Path(artifact["path"]).stat().st_size == artifact["bytes"]
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert all(e["schema"] == 1 and "ts" in e and "job" in e for e in lines)
    names = [e["event"] for e in lines]
    assert names[0] == "job.queued" and names[-1] == "job.finished"
    assert [e["step"] for e in lines if e["event"] == "step"] == [1, 2, 3]
    assert names.count("artifact") == 2 and "model.loaded" in names


def test_progress_jsonl_on_stdout(tmp_path, home_env):
    proc = run_wgp("run", "-m", "echo", "-p", "p", "--steps", "2", "--progress", "jsonl",
                   "--output-dir", str(tmp_path), env=home_env)
    assert proc.returncode == 0
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events if e["event"] == "step"] == ["step", "step"]


def test_dry_run_prints_request_and_writes_nothing(tmp_path, home_env):
    proc = run_wgp("run", "-m", "echo", "-p", "dry", "--seed", "5", "--dry-run", "--output-dir", str(tmp_path / "o"),
                   env=home_env)
    assert proc.returncode == 0
    request = json.loads(proc.stdout)
    assert request["model"] == "echo" and request["params"]["seed"] == 5
    assert not (tmp_path / "o").exists()


def test_ctrl_c_cancels_cleanly_with_exit_130_and_no_files(tmp_path, home_env):
    import os

    out = tmp_path / "out"
    events = tmp_path / "ev.jsonl"
    env = {**os.environ, **home_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "run", "-m", "echo", "-p", "slow", "--steps", "100",
         "--set", "step_seconds=0.05", "--output-dir", str(out), "--events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if events.exists() and '"step"' in events.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    assert not out.exists() or not list(out.iterdir())
    names = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert names[-1] == "job.cancelled" and "artifact" not in names


def test_settings_file_and_config_defaults_precedence(tmp_path, home_env):
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({"prompt": "from settings", "steps": 2, "video_length": 9, "seed": 1}))
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"defaults": {"steps": 3}}))
    proc = run_wgp("run", "-m", "echo", "--settings", str(settings), "--config", str(config), "--seed", "4",
                   "--dry-run", env=home_env)
    assert proc.returncode == 0, proc.stderr
    params = json.loads(proc.stdout)["params"]
    # family defaults < settings < config defaults < flags
    assert (params["prompt"], params["frames"], params["steps"], params["seed"]) == ("from settings", 9, 3, 4)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "-m", "echo", "-p", "x", "--steps", "abc"], "--steps"),
        (["run", "-m", "echo", "-p", "x", "--bogus"], "--bogus"),
        (["run", "-m", "nope", "-p", "x"], "unknown model 'nope'"),
        (["run", "-m", "echo", "-p", "x", "--writer", "nope"], "unknown writer 'nope'"),
        (["run", "-m", "echo", "-p", "x", "--set", "novalue"], "--set expects KEY=VALUE"),
        (["run", "-m", "echo", "-p", "x", "--set", "frames=many"], "frames: expected int"),
        (["run", "-m", "echo", "-p", "x", "--set", "nosuch=1"], "has no parameter nosuch"),
        (["run", "-m", "echo", "-p", "x", "--image-start", "/no/such.png"], "--image-start: file not found"),
        (["run", "-m", "echo-image", "-p", "x", "--frames", "5"], "has no parameter frames"),
        (["run", "-m", "echo", "-p", "x", "--resolution", "big"], "WIDTHxHEIGHT"),
        (["run", "-m", "echo"], "prompt: is required"),
        (["run", "-p", "x"], "no model given"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, home_env, args, needle):
    proc = run_wgp(*args, "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_bad_settings_json_is_one_line(tmp_path, home_env):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    proc = run_wgp("run", "-m", "echo", "-p", "x", "--settings", str(bad), env=home_env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not valid JSON" in proc.stderr


def test_start_image_changes_frames(tmp_path, home_env):
    img = tmp_path / "start.png"
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(img)
    results = []
    for extra in ([], ["--image-start", str(img)]):
        out = tmp_path / f"o{len(results)}"
        proc = run_wgp("run", "-m", "echo", "-p", "i", "--seed", "1", "--frames", "3", "--video-codec", "ffv1",
                       "--output-dir", str(out), *extra, env=home_env)
        assert proc.returncode == 0, proc.stderr
        results.append(decode_video(next(out.glob("*.mkv")))[0])
    assert not np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[1][0], np.full_like(results[1][0], 255))


@pytest.mark.parametrize("mode", ["embedded", "json"])
def test_from_file_reproduces_the_same_frames(tmp_path, home_env, mode):
    first = tmp_path / "first"
    proc = run_wgp("run", "-m", "echo", "-p", "replay me", "--frames", "4", "--video-codec", "ffv1",
                   "--metadata-mode", mode, "--output-dir", str(first), env=home_env)
    assert proc.returncode == 0, proc.stderr
    source = next(first.glob("*.mkv"))
    sidecars = list(first.glob("*.json"))
    assert len(sidecars) == (2 if mode == "json" else 0)
    second = tmp_path / "second"
    proc = run_wgp("run", "--from", str(source), "--video-codec", "ffv1", "--output-dir", str(second), env=home_env)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(decode_video(source)[0], decode_video(next(second.glob("*.mkv")))[0])


def test_metadata_mode_none_leaves_no_record(tmp_path, home_env):
    proc = run_wgp("run", "-m", "echo", "-p", "quiet", "--frames", "2", "--metadata-mode", "none",
                   "--output-dir", str(tmp_path), env=home_env)
    assert proc.returncode == 0
    mp4 = next(tmp_path.glob("*.mp4"))
    assert decode_video(mp4)[1]["comment"] is None and not list(tmp_path.glob("*.json"))
    proc = run_wgp("run", "--from", str(mp4), env=home_env)
    assert proc.returncode == 2 and "carries no wgp generation record" in proc.stderr


def test_second_job_reuses_the_loaded_model(wgp_queue, tmp_path):
    for model in ("echo", "echo", "echo-image", "echo"):
        wgp_queue.submit(model=model, params={"prompt": "x", "steps": 1}, output_dir=str(tmp_path))
    assert [o.state for o in wgp_queue.drain()] == ["finished"] * 4
    events = wgp_queue.events
    names = [(e.event, e.fields.get("model")) for e in events if e.event.startswith("model.")]
    assert names == [("model.loading", "echo"), ("model.loaded", "echo"),
                     ("model.unloaded", "echo"), ("model.loading", "echo-image"), ("model.loaded", "echo-image"),
                     ("model.unloaded", "echo-image"), ("model.loading", "echo"), ("model.loaded", "echo")]
    reused = [e.fields["model_reused"] for e in events if e.event == "job.finished"]
    assert reused == [False, True, False, False]


def test_console_progress_bar_only_on_a_terminal(tmp_path, home_env):
    """--progress auto draws a bar when stderr is a TTY (a real pty here) and stays quiet otherwise."""
    import os
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, **home_env, "COLUMNS": "100"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "run", "-m", "echo", "-p", "bar", "--steps", "5", "--frames", "2",
         "--output-dir", str(tmp_path / "tty")],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "job " in screen and "5/5" in screen  # rich's bar with its M/N column
    quiet = run_wgp("run", "-m", "echo", "-p", "bar", "--steps", "5", "--frames", "2",
                    "--output-dir", str(tmp_path / "pipe"), env=home_env)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_sigterm_cancels_like_ctrl_c(tmp_path, home_env):
    import os

    out, events = tmp_path / "out", tmp_path / "ev.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "run", "-m", "echo", "-p", "slow", "--steps", "200",
         "--set", "step_seconds=0.05", "--output-dir", str(out), "--events", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **home_env},
    )
    deadline = time.time() + 30
    while time.time() < deadline and proc.poll() is None and not (events.exists() and '"step"' in events.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not out.exists() or not list(out.iterdir())


def test_a_stale_sidecar_is_not_taken_for_the_new_file(tmp_path, home_env):
    first = run_wgp("run", "-m", "echo-image", "-p", "old", "--steps", "4", "--metadata-mode", "json",
                    "--output-dir", str(tmp_path), env=home_env)
    assert first.returncode == 0
    png = next(tmp_path.glob("*.png"))
    png.unlink()  # the image goes, its sidecar stays
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)  # another file under the same name
    proc = run_wgp("inspect", str(png), env=home_env)
    assert proc.returncode == 2 and "carries no wgp generation record" in proc.stderr
