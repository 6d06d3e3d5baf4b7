"""The persistent queue: SQLite backend, crash recovery, exclusive claims, pause/resume/cancel, the CLI.

Real SQLite files, real worker subprocesses (`python -m wgp_host queue work`),
real TCP on 127.0.0.1.  Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from wgp_host.testing import run_wgp

QUICK = {"steps": 1, "width": 8, "height": 8, "frames": 1, "prompt": "q"}


# --------------------------------------------------------------------------- helpers


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def queue_db(home: Path):
    from wgp_host.defaults.sqlite_queue import SqliteQueue

    return SqliteQueue({"state_dir": str(home / "state")})


def add_jobs(home: Path, out: Path, count: int, *, writers=("video",), per_job_dir=True, priority=0, **params) -> list[str]:
    """Build real jobs in-process (same validation as `wgp queue add`) and queue them."""
    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import SubmitOptions, build_job

    host, runtime = get_host(), initialize_runtime()
    backend = queue_db(home)
    ids = []
    merged = {**QUICK, **params}
    flag_params = {k: v for k, v in merged.items() if k in ("prompt", "steps", "width", "height", "frames", "seed")}
    extra = tuple(f"{k}={v}" for k, v in merged.items() if k not in flag_params)
    try:
        for i in range(count):
            folder = out / f"job{i:02d}" if per_job_dir else out
            job, _ = build_job(host, runtime, SubmitOptions(model="echo", params=flag_params, set_items=extra + ("audio=false",),
                                                            output_dir=str(folder), writers=tuple(writers)))
            ids.append(backend.add(job.to_dict(), priority))
    finally:
        backend.close()
    return ids


def start_worker(home_env: dict[str, str], tmp: Path, name: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    events = tmp / f"events-{name}.jsonl"
    log = open(tmp / f"worker-{name}.log", "w")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "wgp_host", "queue", "work", "--progress", "none", "--poll-interval", "0.05",
         "--events", str(events), *args],
        env={**os.environ, **home_env, **(env or {})}, stdout=subprocess.DEVNULL, stderr=log,
    )
    log.close()
    return proc, events


def read_events(*files: Path) -> list[dict]:
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- backend


def test_claims_follow_priority_then_age_and_jobs_persist(wgp_env, tmp_path):
    backend = queue_db(wgp_env)
    for name, priority in (("a", 0), ("b", 5), ("c", 0), ("d", 5)):
        backend.add({"id": name, "request": {}}, priority)
    backend.close()
    backend = queue_db(wgp_env)  # a new connection: the jobs are on disk
    order = []
    while (record := backend.claim("w")) is not None:
        order.append((record.id, record.state, record.attempts))
    assert order == [("b", "running", 1), ("d", "running", 1), ("a", "running", 1), ("c", "running", 1)]
    assert backend.path == wgp_env / "state" / "queue.db"
    assert backend._execute("PRAGMA journal_mode")[0][0] == "wal"
    assert backend.counts()["running"] == 4
    backend.close()


def test_concurrent_claims_never_hand_out_a_job_twice(wgp_env):
    backend = queue_db(wgp_env)
    for i in range(300):
        backend.add({"id": f"j{i:03d}"})
    backend.close()
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(n: int) -> None:
        mine = queue_db(wgp_env)  # one connection per thread, as separate processes would have
        start.wait()
        while (record := mine.claim(f"w{n}")) is not None:
            with lock:
                claimed.append(record.id)
        mine.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(claimed) == 300 and len(set(claimed)) == 300
    rows = queue_db(wgp_env).rows()
    assert {r["attempts"] for r in rows} == {1} and {r["state"] for r in rows} == {"running"}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_worker_rule_retry_once_then_fail_and_partial_outputs_removed(wgp_env, tmp_path):
    import socket

    from wgp_host.defaults.sqlite_queue import boot_id
    from wgp_host.queue.controller import discard_partial_outputs

    backend = queue_db(wgp_env)
    out = tmp_path / "out"
    out.mkdir()
    now = time.time()

    def worker_row(name: str, pid: int, host: str | None = None, heartbeat: float = now) -> None:
        backend._execute("INSERT OR REPLACE INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                         (name, host or socket.gethostname(), boot_id(), pid, now, heartbeat))

    job = {"id": "x", "output": {"output_dir": str(out)}}
    backend.add(job)
    backend.add({"id": "alive", "output": {"output_dir": str(tmp_path / "other")}})
    worker_row("dead", dead_pid())
    worker_row("live", os.getpid())
    assert backend.claim("dead").id == "x"
    assert backend.claim("live").id == "alive"
    # what a killed attempt can leave: a finished artifact, a temp file, a temp file already linked to its final name
    (out / "first.mp4").write_bytes(b"a")
    backend.set_progress("x", "dead", {"artifacts": [str(out / "first.mp4")]})
    gone = dead_pid()  # temp names carry their writer's pid
    (out / f".wgp-tmp-{gone}-abc.wav").write_bytes(b"partial")
    (out / f".wgp-tmp-{gone}-def.mp4").write_bytes(b"linked")
    os.link(out / f".wgp-tmp-{gone}-def.mp4", out / "second.mp4")
    (out / "unrelated.txt").write_text("keep")
    # a live writer (say a `wgp run` into the same folder) is left alone, file and link
    (out / f".wgp-tmp-{os.getpid()}-live.mp4").write_bytes(b"writing")
    os.link(out / f".wgp-tmp-{os.getpid()}-live.mp4", out / "being-named.mp4")

    settled = backend.recover(max_retries=1, on_interrupted=discard_partial_outputs)
    assert [(r["id"], r["state"]) for r in settled] == [("x", "interrupted")]
    assert sorted(p.name for p in out.iterdir()) == [f".wgp-tmp-{os.getpid()}-live.mp4", "being-named.mp4", "unrelated.txt"]
    assert backend.get("alive").state == "running"  # its worker (this process) lives
    # the retry: claimed again (attempt 2), its worker dies too -> failed (max_retries=1)
    worker_row("dead2", dead_pid())
    assert backend.claim("dead2").id == "x"
    settled = backend.recover(max_retries=1)
    assert [(r["id"], r["state"]) for r in settled] == [("x", "failed")]
    record = backend.get("x")
    assert record.state == "failed" and record.attempts == 2 and "max_retries=1" in record.error
    # another machine: only a stale heartbeat counts
    backend.add({"id": "remote"})
    worker_row("far", 1, host="elsewhere", heartbeat=now)
    assert backend.claim("far").id == "remote"
    assert backend.recover() == []
    worker_row("far", 1, host="elsewhere", heartbeat=now - 3600)
    assert [r["id"] for r in backend.recover()] == ["remote"]
    assert backend.request_cancel("remote") == (True, "cancelled")  # interrupted jobs can be cancelled too
    # no worker row at all
    backend.add({"id": "orphan"})
    assert backend.claim("ghost").id == "orphan"
    assert [r["id"] for r in backend.recover()] == ["orphan"]
    assert backend.retry("x") == (True, "queued") and backend.get("x").attempts == 0
    assert backend.retry("alive") == (False, "running") and backend.retry("nope") == (False, None)


# --------------------------------------------------------------------------- crash recovery with real workers


def test_kill_9_mid_job_every_job_finishes_exactly_once(wgp_env, home_env, tmp_path, wgp_cli):
    manifest = _manifest_available()
    out = tmp_path / "out"
    writers = ("video", "manifest") if manifest else ("video",)
    ids = add_jobs(wgp_env, out, 4, writers=writers, steps=20, step_seconds=0.03, width=16, height=16, frames=2)
    env = {"WGP_MAX_RETRIES": "10"}
    rng = random.Random(1234)
    event_files = []
    for round_ in range(3):
        proc, events = start_worker(home_env, tmp_path, f"r{round_}", env=env)
        event_files.append(events)
        kill_at = rng.randint(2, 18)
        try:
            wait_for(f"step {kill_at}", lambda k=kill_at, f=events: any(e["event"] == "step" and e["step"] >= k for e in read_events(f)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        running = queue_db(wgp_env).rows(["running"])
        assert len(running) == 1  # left behind by the dead worker
        status = _status(wgp_cli)  # its port file is left too: nobody answers, so the database speaks
        assert (status["via"], status["state"], status["workers"], len(status["running"])) == ("database", "stopped", [], 1)
    proc, events = start_worker(home_env, tmp_path, "final", "--once", env=env)
    event_files.append(events)
    assert proc.wait(timeout=60) == 0
    rows = {r["id"]: r for r in queue_db(wgp_env).rows()}
    assert {rows[i]["state"] for i in ids} == {"finished"}
    evs = read_events(*event_files)
    finished = Counter(e["job"] for e in evs if e["event"] == "job.finished")
    assert finished == Counter({i: 1 for i in ids})
    started = Counter(e["job"] for e in evs if e["event"] == "job.started")
    assert sum(rows[i]["attempts"] for i in ids) == sum(started.values())
    assert sum(1 for e in evs if e["event"] == "job.interrupted") == 3  # each kill noticed once
    for n, job_id in enumerate(ids):
        folder = out / f"job{n:02d}"
        names = [p.name for p in files_in(folder)]
        assert not [n for n in names if n.startswith(".wgp-tmp-")], names
        media = [n for n in names if n.endswith(".mp4")]
        assert len(media) == 1, names  # no duplicate from a crashed attempt
        assert [a for a in rows[job_id]["result"]["artifacts"] if a["role"] == "video"][0]["path"] == str(folder / media[0])
        if manifest:
            lines = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
            assert [(line["job"], line["role"]) for line in lines] == [(job_id, "video")]


def _manifest_available() -> bool:
    try:
        import wgp_manifest  # noqa: F401
    except ImportError:
        return False
    from wgp_host.plugins import get_host

    return "manifest" in get_host().registry.writers


def test_two_workers_on_one_database_never_run_the_same_job(wgp_env, home_env, tmp_path):
    out = tmp_path / "out"
    ids = add_jobs(wgp_env, out, 20, steps=2, step_seconds=0.02)
    a, ev_a = start_worker(home_env, tmp_path, "a", "--once")
    b, ev_b = start_worker(home_env, tmp_path, "b", "--once")
    assert a.wait(timeout=60) == 0 and b.wait(timeout=60) == 0
    started = Counter(e["job"] for e in read_events(ev_a, ev_b) if e["event"] == "job.started")
    assert started == Counter({i: 1 for i in ids})
    rows = queue_db(wgp_env).rows()
    assert {(r["state"], r["attempts"]) for r in rows} == {("finished", 1)}
    for n in range(20):
        assert len(files_in(out / f"job{n:02d}")) == 1
    by_worker = Counter(r["worker"] for r in rows)
    assert sum(by_worker.values()) == 20  # (how the 20 are split between the two depends on timing)


def test_ten_jobs_of_one_model_load_it_once(wgp_env, home_env, tmp_path):
    add_jobs(wgp_env, tmp_path / "out", 10, per_job_dir=False)
    proc, events = start_worker(home_env, tmp_path, "once", "--once")
    assert proc.wait(timeout=60) == 0
    names = Counter(e["event"] for e in read_events(events))
    assert names["model.loaded"] == 1 and names["job.finished"] == 10
    finished = [e for e in read_events(events) if e["event"] == "job.finished"]
    assert [e["model_reused"] for e in finished] == [False] + [True] * 9


# --------------------------------------------------------------------------- control through the CLI


def test_pause_cancel_resume_with_a_running_worker(wgp_env, home_env, tmp_path, wgp_cli):
    out = tmp_path / "out"
    slow = add_jobs(wgp_env, out, 1, steps=25, step_seconds=0.04)[0]
    after, doomed = add_jobs(wgp_env, out / "b", 2)
    proc, events = start_worker(home_env, tmp_path, "w")
    try:
        wait_for("the slow job to run", lambda: (s := _status(wgp_cli)) and s["current"] and s["current"]["id"] == slow
                 and s["current"]["step"])
        # cancel a queued job: it never runs
        result = wgp_cli("queue", "cancel", doomed)
        assert result.exit_code == 0 and result.stdout.strip() == f"cancelled {doomed}"
        # pause while running: the job finishes, the next one does not start
        result = wgp_cli("queue", "pause")
        assert result.exit_code == 0 and result.stdout.startswith("paused (worker")
        status = _status(wgp_cli)
        assert status["via"] == "control" and status["state"] == "paused" and status["current"]["id"] == slow
        wait_for("the slow job to finish", lambda: queue_db(wgp_env).get(slow).state == "finished")
        time.sleep(0.5)  # ten poll intervals
        assert queue_db(wgp_env).get(after).state == "queued"
        assert _status(wgp_cli)["current"] is None
        listed = json.loads(wgp_cli("queue", "list", "--json", "--state", "queued").stdout)
        assert [j["id"] for j in listed] == [after]
        # resume: the queue is active again
        assert wgp_cli("queue", "resume").stdout.strip() == "resumed"
        wait_for("the next job", lambda: queue_db(wgp_env).get(after).state == "finished")
        # cancel the running job: it stops at its next step and writes nothing
        long = add_jobs(wgp_env, out / "long", 1, steps=200, step_seconds=0.02)[0]
        wait_for("the long job to run", lambda: (s := _status(wgp_cli))["current"] and s["current"]["id"] == long
                 and s["current"]["step"])
        t0 = time.monotonic()
        result = wgp_cli("queue", "cancel", long)
        assert result.exit_code == 0 and "stops at its next step" in result.stdout
        wait_for("the cancel", lambda: queue_db(wgp_env).get(long).state == "cancelled", timeout=5)
        assert time.monotonic() - t0 < 3  # the job had ~4 s of steps left
        assert not files_in(out / "long" / "job00")
        again = wgp_cli("queue", "cancel", long)
        assert again.exit_code == 2 and "already cancelled" in again.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    evs = read_events(events)
    assert doomed not in {e["job"] for e in evs if e["event"] == "job.started"}
    steps = [e["step"] for e in evs if e["event"] == "step" and e["job"] == long]
    assert 0 < max(steps) < 200
    names = [e["event"] for e in evs]
    assert names.count("queue.paused") == 1 and names.count("queue.resumed") == 1
    assert not (wgp_env / "state" / "control.port").exists()


def _status(wgp_cli) -> dict:
    result = wgp_cli("queue", "status", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_commands_without_a_worker_use_the_database(wgp_env, home_env, tmp_path, wgp_cli):
    ids = add_jobs(wgp_env, tmp_path / "out", 3)
    assert "no worker is running" in wgp_cli("queue", "pause").stdout
    status = _status(wgp_cli)
    assert (status["via"], status["state"], status["paused"], status["counts"]["queued"]) == ("database", "stopped", True, 3)
    assert status["workers"] == [] and "no worker is running (the queue is paused)" in wgp_cli("queue", "status").stdout
    # a worker started while paused takes nothing
    proc, _ = start_worker(home_env, tmp_path, "paused", "--once")
    assert proc.wait(timeout=30) == 0
    assert {r.state for r in queue_db(wgp_env).list()} == {"queued"}
    assert wgp_cli("queue", "cancel", ids[0]).stdout.strip() == f"cancelled {ids[0]}"
    assert wgp_cli("queue", "retry", ids[0]).stdout.strip() == f"queued {ids[0]} again"
    bad = wgp_cli("queue", "retry", ids[1])
    assert bad.exit_code == 2 and "only failed, cancelled or interrupted" in bad.stderr
    assert "resumed" in wgp_cli("queue", "resume").stdout
    proc, _ = start_worker(home_env, tmp_path, "resumed", "--once")
    assert proc.wait(timeout=30) == 0
    assert {r.state for r in queue_db(wgp_env).list()} == {"finished"}
    add_jobs(wgp_env, tmp_path / "out2", 2)
    assert wgp_cli("queue", "clear").stdout.strip() == "cleared 2 queued jobs"
    text = wgp_cli("queue", "list").stdout
    assert text.count("finished") == 3 and "queued" not in text


def test_queue_add_and_errors_through_the_real_cli(wgp_env, home_env, tmp_path):
    proc = run_wgp("queue", "add", "-m", "echo", "-p", "cli", "--priority", "3", "--json",
                   "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    record = queue_db(wgp_env).get(added["id"])
    assert (record.state, record.priority, record.job["request"]["params"]["prompt"]) == ("queued", 3, "cli")
    for args, needle in (
        (["queue", "add", "-m", "nope", "-p", "x"], "unknown model 'nope'"),
        (["queue", "cancel", "nosuch"], "no job 'nosuch'"),
        (["queue", "retry", "nosuch"], "no job 'nosuch'"),
        (["queue", "work", "--host", "0.0.0.0", "--once"], "needs --allow-remote"),
    ):
        proc = run_wgp(*args, env=home_env)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if not line.startswith("wgp: warning: plugin")]
        assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_sigterm_puts_the_running_job_back(wgp_env, home_env, tmp_path):
    job = add_jobs(wgp_env, tmp_path / "out", 1, steps=200, step_seconds=0.02)[0]
    proc, events = start_worker(home_env, tmp_path, "term")
    try:
        wait_for("a step", lambda: any(e["event"] == "step" for e in read_events(events)))
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    record = queue_db(wgp_env).get(job)
    assert (record.state, record.attempts) == ("queued", 0)
    assert not files_in(tmp_path / "out" / "job00")
    assert [e["event"] for e in read_events(events)][-2:] == ["job.cancelled", "job.queued"]


def test_help_stays_light(home_env):
    code = (
        "import sys; from wgp_host.cli import cli\n"
        "for args in (['--help'], ['queue', '--help'], ['queue', 'add', '--help']):\n"
        "    try:\n        cli.main(args)\n    except SystemExit:\n        pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'av', 'sqlite3', 'numpy'))\n"
        "print('HEAVY', bad, file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **home_env})
    assert "HEAVY []" in proc.stderr, proc.stderr[-500:]


def test_run_smoke():
    from wgp_host.queue.smoke import run_smoke

    result = run_smoke()
    assert result["ok"], result
    assert (result["paused_state"], result["job_state"], result["token_mode"]) == ("paused", "finished", "0o600")


def test_a_cancel_for_a_job_whose_worker_died_is_kept(wgp_env):
    import socket

    from wgp_host.defaults.sqlite_queue import boot_id

    backend = queue_db(wgp_env)
    backend.add({"id": "doomed", "output": {}})
    backend._execute("INSERT INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                     ("w", socket.gethostname(), boot_id(), dead_pid(), time.time(), time.time()))
    assert backend.claim("w").id == "doomed"
    assert backend.request_cancel("doomed")[0]  # asked while it "ran"; then its worker turned out dead
    settled = backend.recover(max_retries=1)
    assert [(r["id"], r["state"]) for r in settled] == [("doomed", "cancelled")]
    assert backend.get("doomed").state == "cancelled" and backend.claim("next") is None


def test_the_queue_database_is_private(wgp_env):
    backend = queue_db(wgp_env)
    backend.add({"id": "secret-prompt", "output": {}})
    for path in backend.path.parent.glob(backend.path.name + "*"):
        assert path.stat().st_mode & 0o077 == 0, path
