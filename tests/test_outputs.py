"""Outputs: every writer and metadata mode decodes, inspects and replays; the manifest under
concurrency; hostile names; writer failures."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from wgp_host.testing import run_wgp
from wgp_echo.model import disc, pattern, prompt_seed


def run_ok(*args, env):
    proc = run_wgp(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def decode(path: Path, fmt: str = "rgb24") -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format=fmt) for f in container.decode(video=0)])


CASES = [
    # model, extra flags, writer, glob, kind
    ("echo", ["--video-codec", "h264"], "video", "*.mp4", "video"),
    ("echo", ["--video-codec", "h265", "--resolution", "64x64"], "video", "*.mp4", "video"),
    ("echo", ["--video-codec", "vp9"], "video", "*.webm", "video"),
    ("echo", ["--video-codec", "prores"], "video", "*.mov", "video"),
    ("echo", ["--video-codec", "ffv1"], "video", "*.mkv", "video"),
    ("echo-image", [], "image", "*.png", "image"),
    ("echo-audio", [], "audio", "*.wav", "audio"),
    ("echo-matte", [], "mattes", "*_alpha.mkv", "alpha"),
]


@pytest.mark.parametrize("mode", ["embedded", "json", "none"])
@pytest.mark.parametrize("model, extra, writer, pattern_glob, kind", CASES, ids=[f"{c[2]}-{c[3]}" for c in CASES])
def test_writer_and_metadata_mode(tmp_path, home_env, mode, model, extra, writer, pattern_glob, kind):
    out = tmp_path / "out"
    args = ["run", "-m", model, "-p", f"{kind} test", "--seed", "11", "--writer", writer, "--metadata-mode", mode,
            "--output-dir", str(out), *extra]
    if model in ("echo", "echo-matte"):
        args += ["--frames", "5"]
    run_ok(*args, env=home_env)
    path = next(out.glob(pattern_glob))
    key = prompt_seed(f"{kind} test", 11)
    # the file decodes to the expected content
    if kind == "video":
        frames = decode(path)
        expected = pattern(64, 64, 5, key)
        assert frames.shape == expected.shape
        if "ffv1" in extra:
            assert np.array_equal(frames, expected)
        else:  # lossy codecs: close to the source
            assert np.abs(frames.astype(int) - expected).mean() < 12
        if "vp9" in extra:
            with av.open(str(path)) as c:
                assert c.streams.audio[0].codec_context.name == "opus"
    elif kind == "image":
        assert np.array_equal(np.asarray(Image.open(path)), pattern(64, 64, 1, key)[0])
    elif kind == "audio":
        data, rate = soundfile.read(path, dtype="float32")
        assert rate == 24000 and len(data) == 24000
    elif kind == "alpha":
        alpha = decode(path, "gray16le").astype(np.float64) / 65535
        assert np.abs(alpha - disc(64, 64, 5)).max() <= 1 / 65535 + 1e-9
    # the record reads back, from the file or its sidecar
    sidecar = path.with_name(path.name + ".json")
    assert sidecar.exists() == (mode == "json")
    inspect = run_wgp("inspect", str(path), env=home_env)
    if mode == "none":
        assert inspect.returncode == 2 and "no wgp generation record" in inspect.stderr
        return
    record = json.loads(inspect.stdout)
    assert record["seed"] == 11 and record["model"] == model
    # and replays to the same content
    again = tmp_path / "again"
    run_ok("run", "--from", str(path), "--writer", writer, "--output-dir", str(again), "--metadata-mode", "none",
           *extra, env=home_env)
    replay = next(again.glob(pattern_glob))
    if kind in ("video", "alpha"):
        fmt = "gray16le" if kind == "alpha" else "rgb24"
        assert np.array_equal(decode(path, fmt), decode(replay, fmt))
    elif kind == "image":
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(replay)))
    else:
        assert np.array_equal(soundfile.read(path)[0], soundfile.read(replay)[0])


def test_mattes_rgba_outputs(tmp_path, home_env):
    run_ok("run", "-m", "echo-matte", "-p", "rgba", "--seed", "2", "--frames", "3", "--width", "33", "--height", "21",
           "--writer", "mattes", "--output-dir", str(tmp_path), env=home_env)
    rgb, alpha = pattern(33, 21, 3, prompt_seed("rgba", 2)), disc(33, 21, 3)
    with zipfile.ZipFile(next(tmp_path.glob("*_rgba.zip"))) as archive:
        names = sorted(archive.namelist())
        assert names == [f"frame_{i:05d}.png" for i in range(3)]
        first = np.asarray(Image.open(io.BytesIO(archive.read(names[0]))))
    assert first.shape == (21, 33, 4)
    assert np.array_equal(first[..., :3], rgb[0])
    assert np.array_equal(first[..., 3], np.round(alpha[0] * 255).astype(np.uint8))
    with av.open(str(next(tmp_path.glob("*_rgba.mov")))) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 3 and decoded[0].format.name.startswith("yuva444p")
    for frame, expected in zip(decoded, alpha):  # 10-bit alpha in ProRes 4444, read back as 8-bit
        assert np.abs(frame.to_ndarray(format="rgba")[..., 3].astype(int) - np.round(expected * 255)).max() <= 1


def test_manifest_lines_for_a_job(tmp_path, home_env):
    run_ok("run", "-m", "echo", "-p", "manifest", "--frames", "3", "--writer", "video", "--writer", "audio",
           "--writer", "manifest", "--metadata-mode", "json", "--output-dir", str(tmp_path), env=home_env)
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["role"] for line in lines) == ["audio", "sidecar", "sidecar", "video"]
    audio = next(line for line in lines if line["role"] == "audio")
    assert (audio["sample_rate"], audio["channels"], audio["language"], audio["codec"]) == (24000, 1, "und", "pcm_s16le")
    assert audio["duration_s"] == pytest.approx(3 / 16, abs=1e-3)
    for line in lines:
        assert line["schema"] == 1 and line["record"]["model"] == "echo" and len({l["job"] for l in lines}) == 1
        assert not os.path.isabs(line["path"]) and (tmp_path / line["path"]).stat().st_size == line["bytes"]


APPENDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from wgp_host.persistence import MediaPersistence
    from wgp_manifest.writers import ManifestWriter
    out, worker = Path(sys.argv[1]), sys.argv[2]
    for i in range(50):
        job = f"{worker}-{i}"
        p = MediaPersistence(out, f"w{worker}", record={"job": job, "model": "x"}, options={})
        p.persist("image", ".bin", "application/octet-stream",
                  lambda tmp: Path(tmp).write_bytes(job.encode() * 2000))
        ManifestWriter().write(None, p)
""")


def test_manifest_survives_four_concurrent_processes(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    raw = (tmp_path / "manifest.jsonl").read_text()
    assert raw.endswith("\n")
    lines = [json.loads(line) for line in raw.splitlines()]
    assert len(lines) == 200
    assert len({line["job"] for line in lines}) == 200 and len({line["path"] for line in lines}) == 200
    import hashlib

    for line in lines:
        assert hashlib.sha256((tmp_path / line["path"]).read_bytes()).hexdigest() == line["sha256"]


def test_removing_lines_while_four_processes_append_loses_none_of_theirs(tmp_path):
    """Removal renames a new file over the manifest: an appender waiting for the lock must not
    write into the file that was replaced."""
    from wgp_manifest.appender import append_lines, read_lines, remove_lines

    manifest = tmp_path / "manifest.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), str(w)]) for w in range(4)]
    rewrites = 0
    while any(p.poll() is None for p in procs) or not rewrites:
        append_lines(manifest, [{"job": "doomed"}])
        append_lines(manifest, [{"job": "kept-marker"}])  # so "doomed" is not the tail: a rewrite, not a truncate
        assert remove_lines(manifest, lambda line: line["job"] == "doomed", hint="doomed") == 1
        rewrites += 1
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = read_lines(manifest)
    assert not [line for line in lines if line["job"] == "doomed"]
    assert len([line for line in lines if line["job"] == "kept-marker"]) == rewrites
    assert len({line["job"] for line in lines if "path" in line}) == 200
    assert not list(tmp_path.glob(".wgp-tmp-*"))
    # Lines at the tail are cut off in place (no new file, so no free space needed), torn bits too.
    append_lines(manifest, [{"job": "a", "attempt": 1}, {"job": "a", "attempt": 2}])
    with open(manifest, "a") as fh:
        fh.write('{"job": "a", "att')
    inode = manifest.stat().st_ino
    assert remove_lines(manifest, lambda line: line["job"] == "a" and line["attempt"] == 2) == 1
    assert manifest.stat().st_ino == inode and read_lines(manifest)[-1] == {"job": "a", "attempt": 1}
    assert manifest.read_bytes().endswith(b"\n")


def test_manifest_repairs_a_torn_tail(tmp_path):
    from wgp_manifest.appender import append_lines, read_lines

    path = tmp_path / "m.jsonl"
    append_lines(path, [{"a": 1}])
    with open(path, "a") as fh:
        fh.write('{"torn": ')  # a writer killed mid-line
    append_lines(path, [{"b": 2}])
    assert read_lines(path) == [{"a": 1}, {"b": 2}]
    assert path.read_text().count("\n") == 2


@pytest.mark.parametrize("prompt", ["../../etc/passwd", "/abs/path/x", "a\x00b", "x" * 10_000, "🦊 fox 🔥", "..", ".hidden", ""])
def test_hostile_prompts_stay_inside_the_output_dir(tmp_path, prompt):
    from wgp_host.naming import render_stem, template_fields
    from wgp_host.persistence import MediaPersistence

    out = tmp_path / "out"
    stem = render_stem("{prompt:40}_{date}/{prompt}", template_fields({"prompt": prompt, "seed": 1}, "m", "job"))
    p = MediaPersistence(out, stem, record={}, options={})
    for _ in range(2):  # the second one collides and gets another name
        artifact = p.persist("image", ".txt", "text/plain", lambda tmp: Path(tmp).write_text("x"))
        path = Path(artifact.path)
        assert path.parent == out and not path.name.startswith(".") and len(path.name) <= 130
        assert "/" not in stem and "\x00" not in stem
    assert len(list(out.iterdir())) == 2


def test_unknown_template_field_is_a_user_error(tmp_path, home_env):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"filename_template": "{nope}"}))
    proc = run_wgp("run", "-m", "echo", "-p", "x", "--config", str(cfg), "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode == 2 and "{nope} is unknown" in proc.stderr


class DiskFullWriter:
    """A writer that fails like a full disk after the media writers ran."""

    from wgp_hookspecs import Writer as _W

    class Impl(_W):
        name = "diskfull"
        kinds = frozenset({"video"})
        order = 50

        def write(self, result, output):
            def fill(tmp):
                Path(tmp).write_bytes(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")

            output.persist("video", ".bin", "application/octet-stream", fill)

    from wgp_hookspecs import hookimpl as _hookimpl

    @_hookimpl
    def register_writers(self, register):
        register(DiskFullWriter.Impl())


def test_writer_failure_leaves_no_files_and_fails_the_job(make_wgp_host, wgp_cli, tmp_path):
    from wgp_echo import plugin as echo_plugin

    make_wgp_host(echo_plugin, DiskFullWriter())
    events = tmp_path / "events.jsonl"
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", "echo", "-p", "full", "--frames", "2", "--writer", "video", "--writer", "audio",
                     "--writer", "diskfull", "--events", str(events), "--output-dir", str(out))
    # A full disk is the user's to fix: exit 2, one line naming the file, the folder and the fix.
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "No space left on device: free space there or choose another --output-dir" in line and str(out) in line
    assert list(out.iterdir()) == []  # the video and audio written before were rolled back, no temp left
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["event"] == "job.failed" and "No space left" in last["error"]


def test_transient_io_errors_are_retried_and_hard_ones_leave_nothing(tmp_path):
    from wgp_host.persistence import MediaPersistence

    p = MediaPersistence(tmp_path, "stem", record={}, options={})
    attempts = []

    def flaky(tmp):
        attempts.append(tmp)
        Path(tmp).write_text("half")
        if len(attempts) < 3:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        Path(tmp).write_text("whole")

    artifact = p.persist("image", ".txt", "text/plain", flaky)
    assert len(attempts) == 3 and Path(artifact.path).read_text() == "whole"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["stem.txt"]

    def broken(tmp):
        Path(tmp).write_text("half")
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        p.persist("image", ".txt", "text/plain", broken)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["stem.txt"]


def test_a_killed_wgp_run_leaves_temporaries_that_the_next_job_in_the_folder_removes(tmp_path, home_env):
    """No queue recovers a `wgp run`: the next job writing into the folder sweeps its dead temporaries."""
    import time

    import psutil

    out = tmp_path / "out"
    args = [sys.executable, "-m", "wgp_host", "run", "-m", "echo", "-p", "killed", "--frames", "2", "--writer", "video",
            "--output-dir", str(out)]
    proc = subprocess.Popen(args, env={**os.environ, **home_env, "WGP_TEST_PAUSE_AT": "artifact.linked"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED:
            assert time.monotonic() < deadline and proc.poll() is None, "wgp run never reached the pause point"
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    left = sorted(p.name for p in out.glob(".wgp-tmp-*"))
    assert left and all(name.startswith(f".wgp-tmp-{proc.pid}-") for name in left)
    live = out / f".wgp-tmp-{os.getpid()}-still-writing.mp4"  # a live process's temporary
    live.write_bytes(b"in progress")
    run_ok("run", "-m", "echo", "-p", "next", "--frames", "2", "--writer", "video", "--output-dir", str(out), env=home_env)
    assert [p.name for p in out.glob(".wgp-tmp-*")] == [live.name]


class SeedlessFamily:
    """A family without a seed parameter (as matting): its outputs have no seed to name."""

    from wgp_hookspecs import hookimpl as _hookimpl

    @_hookimpl
    def register_model_families(self, register):
        from wgp_hookspecs import GenerationResult, ModelFamily, ModelSpec, Param

        spec = ModelSpec("seedless", frozenset({"text-to-image"}), (Param("prompt", "str", ""),))

        class Model:
            def generate(self, request, context):
                context.step(1, 1)
                return GenerationResult(images=[np.full((4, 6, 3), 7, np.uint8)])

            def unload(self):
                pass

        register(ModelFamily(name="seedless", models=(spec,), load=lambda spec, plan: Model()))


def test_outputs_of_a_job_without_a_seed_carry_no_empty_seed_field(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(SeedlessFamily())
    result = wgp_cli("run", "-m", "seedless", "-p", "clip", "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    (name,) = [Path(a["path"]).name for a in json.loads(result.stdout)["artifacts"]]
    assert name.endswith("_clip.png") and "seed" not in name, name


@pytest.mark.parametrize("template, fields, stem", [
    ("{date}_{time}_seed{seed}_{prompt:40}", {"date": "d", "time": "t", "seed": "", "prompt": "clip"}, "d_t_clip"),
    ("{date}_{time}_seed{seed}_{prompt:40}", {"date": "d", "time": "t", "seed": 0, "prompt": "clip"}, "d_t_seed0_clip"),
    ("{model}_s{steps}-f{frames}_{prompt:3}", {"model": "m", "steps": "", "frames": "", "prompt": "abcdef"}, "m_abc"),
    ("take_{prompt}", {"prompt": ""}, "take"),  # text without a field is kept
])
def test_a_template_part_whose_fields_are_all_empty_is_left_out(template, fields, stem):
    from wgp_host.naming import render_stem

    assert render_stem(template, fields) == stem
