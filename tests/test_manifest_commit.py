"""The manifest is part of a job's commit: at every instant, every manifest line names a file
that exists with that sha256, once.

Real workers (`python -m wgp_host queue work`) stopped at exact points of the commit by
``WGP_TEST_PAUSE_AT`` (they SIGSTOP themselves), checked while frozen, then killed with
SIGKILL; a worker killed by the kernel half-way through its manifest append (SIGXFSZ under a
file-size limit); a `wgp run` whose manifest's disk fills during the append (a real tmpfs
where this process may mount one, else a file-size limit).  Real SQLite, real files.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from wgp_host.testing import run_wgp

QUICK = {"steps": 1, "width": 8, "height": 8, "frames": 1, "prompt": "commit"}
WRITERS = ("video", "audio", "manifest")
PAGE = 4096


# --------------------------------------------------------------------------- helpers


def add_job(out: Path) -> str:
    from wgp_hookspecs import JobOptions

    from wgp_host.defaults.sqlite_queue import SqliteQueue
    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import build_job

    runtime = initialize_runtime()
    job, _ = build_job(get_host(), runtime, JobOptions(model="echo", params=dict(QUICK), output_dir=str(out), writers=WRITERS))
    backend = SqliteQueue({"state_dir": str(runtime.state_dir)})
    try:
        return backend.add(job.to_dict())
    finally:
        backend.close()


def job_row(home: Path, job_id: str) -> dict:
    from wgp_host.defaults.sqlite_queue import SqliteQueue

    backend = SqliteQueue({"state_dir": str(home / "state")})
    try:
        return next(r for r in backend.rows() if r["id"] == job_id)
    finally:
        backend.close()


def worker(home_env: dict, *args: str, pause_at: str | None = None, prefix: list[str] | None = None,
           env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, **home_env, "WGP_MAX_RETRIES": "5", **(env or {})}
    env.pop("WGP_TEST_PAUSE_AT", None)
    if pause_at:
        env["WGP_TEST_PAUSE_AT"] = pause_at
    command = prefix or [sys.executable, "-m", "wgp_host"]
    return subprocess.Popen([*command, "queue", "work", "--progress", "none", "--poll-interval", "0.05", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_stopped(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the worker has frozen itself at its pause point."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}) before its pause point: {proc.stderr.read().decode()}")
        if psutil.Process(proc.pid).status() == psutil.STATUS_STOPPED:
            return
        time.sleep(0.01)
    raise AssertionError("the worker never reached its pause point")


def kill_9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    proc.stderr.close()


def finish(home_env: dict, env: dict | None = None) -> None:
    proc = worker(home_env, "--once", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


def consistent(manifest: Path) -> list[dict]:
    """The invariant: each whole line names an existing file with its sha256, and no file twice."""
    if not manifest.exists():
        return []
    lines = [json.loads(raw) for raw in manifest.read_bytes().splitlines(keepends=True) if raw.endswith(b"\n")]
    named = [manifest.parent / line["path"] for line in lines]
    for line, path in zip(lines, named):
        assert path.is_file(), f"the manifest names {path}, which does not exist"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == line["sha256"], f"stale sha256 for {path}"
    assert len({p.resolve() for p in named}) == len(named), "a file is named twice"
    return lines


def check_final(out: Path, home: Path, job_id: str, attempt: int, others: tuple[str, ...] = ()) -> None:
    """The job finished; its manifest lines are exactly its last attempt's artifacts."""
    row = job_row(home, job_id)
    assert (row["state"], row["attempts"]) == ("finished", attempt)
    lines = consistent(out / "manifest.jsonl")
    mine = [line for line in lines if line["job"] == job_id]
    assert {(line["attempt"], line["role"]) for line in mine} == {(attempt, "video"), (attempt, "audio")}
    artifacts = {(a["path"], a["sha256"]) for a in row["result"]["artifacts"]}
    assert {(str(out / line["path"]), line["sha256"]) for line in mine} == artifacts
    assert sorted(line["job"] for line in lines if line["job"] != job_id) == sorted(others)
    # Nothing else in the folder: no file of a dead attempt, no temporary.
    assert sorted(p.name for p in out.iterdir()) == sorted([*(line["path"] for line in lines), "manifest.jsonl"])


# --------------------------------------------------------------------------- kills at each step


@pytest.mark.parametrize("point", ["artifact.linked", "artifact.recorded", "writers.done", "job.completed"])
def test_kill_9_at_each_step_of_the_commit(wgp_env, home_env, tmp_path, point):
    out = tmp_path / "out"
    job_id = add_job(out)
    proc = worker(home_env, pause_at=point)
    try:
        wait_stopped(proc)
        frozen = consistent(out / "manifest.jsonl")
        if point == "writers.done":  # the job's lines are in, the job is not finished yet
            assert {(line["job"], line["attempt"]) for line in frozen} == {(job_id, 1)} and len(frozen) == 2
            assert job_row(wgp_env, job_id)["state"] == "running"
        elif point == "job.completed":
            assert job_row(wgp_env, job_id)["state"] == "finished" and len(frozen) == 2
        else:
            assert frozen == []
    finally:
        kill_9(proc)
    consistent(out / "manifest.jsonl")
    others: tuple[str, ...] = ()
    if point == "writers.done":
        # Another job appends after the dead attempt's lines: recovery must take those out
        # from the middle of the file, keeping the other job's.
        proc = run_wgp("run", "-m", "echo", "-p", "other", "--steps", "1", "--resolution", "8x8", "--frames", "1",
                       *(f"--writer={w}" for w in WRITERS), "--output-dir", str(out), "--json", env=home_env)
        assert proc.returncode == 0, proc.stderr
        others = (json.loads(proc.stdout)["job"],) * 2
    finish(home_env)
    check_final(out, wgp_env, job_id, attempt=1 if point == "job.completed" else 2, others=others)


def test_kill_9_during_recovery_after_the_records_went(wgp_env, home_env, tmp_path):
    out = tmp_path / "out"
    job_id = add_job(out)
    first = worker(home_env, pause_at="writers.done")
    try:
        wait_stopped(first)
    finally:
        kill_9(first)
    recovering = worker(home_env, pause_at="recover.discarded")
    try:
        wait_stopped(recovering)
        # The dead attempt's lines are gone while its files are still there: consistent.
        assert consistent(out / "manifest.jsonl") == []
        assert len([p for p in out.iterdir() if p.suffix in (".mp4", ".wav")]) == 2
    finally:
        kill_9(recovering)
    finish(home_env)  # recovery runs again (its transaction died with the worker) and the retry finishes
    check_final(out, wgp_env, job_id, attempt=2)


def test_recovery_without_the_manifest_writer_keeps_the_files_its_lines_name(wgp_env, home_env, tmp_path):
    out = tmp_path / "out"
    job_id = add_job(out)
    first = worker(home_env, pause_at="writers.done")
    try:
        wait_stopped(first)
        lines = consistent(out / "manifest.jsonl")
    finally:
        kill_9(first)
    # The recovering worker cannot ask the manifest writer to take its lines out ...
    finish(home_env, env={"WGP_DISABLED_PLUGINS": "wgp-manifest"})
    # ... so the dead attempt's files stay, and every line still names a real file.
    assert consistent(out / "manifest.jsonl") == lines and len(lines) == 2
    assert job_row(wgp_env, job_id)["state"] == "failed"  # its retry needs the manifest writer too


# --------------------------------------------------------------------------- torn appends and full disks

#: Runs wgp with SIGXFSZ at its default action (CPython ignores it) under a file-size limit:
#: the kernel kills the process at the write that reaches the limit.
LIMITED = (
    "import resource, runpy, signal, sys; "
    "signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2); "
    "sys.argv = ['wgp'] + sys.argv[2:]; runpy.run_module('wgp_host', run_name='__main__')"
)


def prefill(manifest: Path, size: int) -> bytes:
    """One valid line (naming a real file) of exactly ``size`` bytes, so a limit can fall mid-append."""
    manifest.parent.mkdir(parents=True, exist_ok=True)
    keep = manifest.parent / "keep.bin"
    keep.write_bytes(b"keep")
    line = {"job": "earlier", "attempt": 1, "role": "image", "path": os.path.relpath(keep, manifest.parent),
            "sha256": hashlib.sha256(b"keep").hexdigest(), "pad": ""}
    line["pad"] = "x" * (size - len(json.dumps(line, sort_keys=True)) - 1)
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    assert len(data) == size
    manifest.write_bytes(data)
    return data


def test_a_worker_killed_half_way_through_its_append(wgp_env, home_env, tmp_path):
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    # Large, so that the queue database and its WAL stay under the limit set below.
    before = prefill(manifest, 8 << 20)
    job_id = add_job(out)
    first = worker(home_env, pause_at="writers.done")  # attempt 1 shows how long the job's lines are
    try:
        wait_stopped(first)
        lengths = [len(raw) for raw in manifest.read_bytes()[len(before):].splitlines(keepends=True)]
    finally:
        kill_9(first)
    assert len(lengths) == 2
    limit = len(before) + lengths[0] + lengths[1] // 2
    torn = worker(home_env, prefix=[sys.executable, "-c", LIMITED, str(limit)])
    _, err = torn.communicate(timeout=120)
    assert torn.returncode == -signal.SIGXFSZ, err.decode()
    raw = manifest.read_bytes()
    assert len(raw) == limit and not raw.endswith(b"\n")  # killed mid-line: one whole line of attempt 2, then a torn one
    assert [(line["job"], line["attempt"]) for line in consistent(manifest)] == [("earlier", 1), (job_id, 2)]
    finish(home_env)
    check_final(out, wgp_env, job_id, attempt=3, others=("earlier",))
    assert manifest.read_bytes().startswith(before)


def _mount_tmpfs(folder: Path) -> bool:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


def test_a_disk_that_fills_during_the_append_leaves_the_manifest_as_it_was(home_env, tmp_path):
    disk, out = tmp_path / "disk", tmp_path / "out"
    args = ["run", "-m", "echo", "-p", "full", "--steps", "1", "--resolution", "8x8", "--frames", "1",
            *(f"--writer={w}" for w in WRITERS), "--output-dir", str(out)]
    # A first run with the same layout shows how long the job's lines are.
    probe = tmp_path / "probe"
    env = {**home_env, "WGP_MANIFEST_PATH": str(probe / "manifest.jsonl")}
    probe.mkdir()
    done = run_wgp(*args[:-1], str(tmp_path / "probeout"), env=env)
    assert done.returncode == 0, done.stderr
    lengths = [len(raw) for raw in (probe / "manifest.jsonl").read_bytes().splitlines(keepends=True)]
    slack = lengths[0] + lengths[1] // 2  # room for the first line and half the second
    assert slack < PAGE
    manifest = disk / "manifest.jsonl"
    env = {**home_env, "WGP_MANIFEST_PATH": str(manifest)}
    mounted = _mount_tmpfs(disk)
    try:
        if mounted:  # a real full disk: the manifest's last page has `slack` bytes free, no page is left
            before = prefill(manifest, 2 * PAGE - slack)
            fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * PAGE):
                    pass
            except OSError:
                pass  # full
            finally:
                os.close(fd)
            done = run_wgp(*args, env=env)
            error = "No space left on device"
        else:  # a container that may not mount: a file-size limit in the child instead
            before = prefill(manifest, 1 << 20)
            command = [sys.executable, "-c", LIMITED.replace("signal.SIG_DFL", "signal.SIG_IGN"), str(len(before) + slack), *args]
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
            error = "File too large"
        assert done.returncode == 1 and error in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert manifest.read_bytes() == before  # neither the first line nor the torn one stayed
        consistent(manifest)
        assert list(out.iterdir()) == []  # the job's media are gone, and nothing names them
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)
