"""The persistent queue: SQLite backend, crash recovery, exclusive claims, pause/resume/cancel, the CLI,
and the QueueBackend contract (the defaults a backend with only the five abstract methods gets).

Real SQLite files, real worker subprocesses (`python -m wgp_host queue work`),
real TCP on 127.0.0.1.  Every wait is bounded; no test asserts how fast
something is (benchmarks/queue_bench.py measures that).
"""

from __future__ import annotations

import hashlib
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

import pytest
from wgp_hookspecs import JobRecord, QueueBackend, QueueOperationNotSupported

from wgp_host.testing import run_wgp, wait_for

REPO = Path(__file__).resolve().parents[1]
QUICK = {"steps": 1, "width": 8, "height": 8, "frames": 1, "prompt": "q"}


# --------------------------------------------------------------------------- helpers


def queue_db(home: Path):
    from wgp_host.defaults.sqlite_queue import SqliteQueue

    return SqliteQueue({"state_dir": str(home / "state")})


def add_jobs(home: Path, out: Path, count: int, *, writers=("video",), per_job_dir=True, priority=0, **params) -> list[str]:
    """Build real jobs in-process (same validation as `wgp queue add`) and queue them."""
    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_hookspecs import JobOptions

    from wgp_host.submit import build_job

    host, runtime = get_host(), initialize_runtime()
    backend = queue_db(home)
    ids = []
    merged = {**QUICK, **params}
    flag_params = {k: v for k, v in merged.items() if k in ("prompt", "steps", "width", "height", "frames", "seed")}
    extra = tuple(f"{k}={v}" for k, v in merged.items() if k not in flag_params)
    try:
        for i in range(count):
            folder = out / f"job{i:02d}" if per_job_dir else out
            job, _ = build_job(host, runtime, JobOptions(model="echo", params=flag_params, set_items=extra + ("audio=false",),
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

    from wgp_host.liveness import boot_identity
    from wgp_host.queue.controller import discard_partial_outputs

    backend = queue_db(wgp_env)
    out = tmp_path / "out"
    out.mkdir()
    now = time.time()

    def worker_row(name: str, pid: int, host: str | None = None, heartbeat: float = now) -> None:
        backend._execute("INSERT OR REPLACE INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                         (name, host or socket.gethostname(), boot_identity(), pid, now, heartbeat))

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


def test_two_workers_on_one_database_share_the_jobs_and_never_run_one_twice(wgp_env, home_env, tmp_path):
    out = tmp_path / "out"
    # Each job takes 0.4 s of steps: for one worker to take them all, the other
    # would have to miss every 0.05 s poll for 4 s.
    ids = add_jobs(wgp_env, out, 10, steps=4, step_seconds=0.1)
    backend = queue_db(wgp_env)
    # Hold the jobs until both workers are up, so the first one to start cannot drain the queue alone.
    backend.set_flag("paused", "1")
    a, ev_a = start_worker(home_env, tmp_path, "a")
    b, ev_b = start_worker(home_env, tmp_path, "b")
    try:
        live = wait_for("both workers to register", lambda: len(w := backend.live_workers()) == 2 and w, timeout=60)
        backend.set_flag("paused", None)
        wait_for("every job to finish", lambda: backend.counts()["finished"] == len(ids), timeout=120)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = (a.wait(timeout=30), b.wait(timeout=30))
    assert codes == (0, 0)
    assert backend.live_workers() == []  # both unregistered on the way out
    started = Counter(e["job"] for e in read_events(ev_a, ev_b) if e["event"] == "job.started")
    assert started == Counter({i: 1 for i in ids})
    rows = backend.rows()
    assert {(r["state"], r["attempts"]) for r in rows} == {("finished", 1)}
    for n in range(len(ids)):
        assert len(files_in(out / f"job{n:02d}")) == 1
    # Which worker ran each job, from the job records (worker ids are host:pid:suffix) ...
    pid_of = {worker: int(worker.rsplit(":", 2)[1]) for worker in live}
    ran_by = {r["id"]: pid_of[r["worker"]] for r in rows}
    assert set(ran_by.values()) == {a.pid, b.pid}, Counter(ran_by.values())
    # ... agrees with each worker's own events.
    for proc, events in ((a, ev_a), (b, ev_b)):
        mine = {e["job"] for e in read_events(events) if e["event"] == "job.finished"}
        assert mine == {job for job, pid in ran_by.items() if pid == proc.pid}


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
        result = wgp_cli("queue", "cancel", long)
        assert result.exit_code == 0 and "stops at its next step" in result.stdout
        wait_for("the long job to end", lambda: queue_db(wgp_env).get(long).state not in ("queued", "running"))
        assert queue_db(wgp_env).get(long).state == "cancelled"  # not finished: it stopped before its last step
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


def test_queue_status_job_shows_one_job_from_queued_to_finished_or_failed(wgp_env, home_env, tmp_path, wgp_cli):
    from PIL import Image

    ids = []
    for shade, prompt in enumerate(("good", "doomed")):
        Image.new("RGB", (8, 8), (200, 10, 10 + shade)).save(tmp_path / f"{prompt}.png")
        ids.append(json.loads(wgp_cli("queue", "add", "-m", "echo", "-p", prompt, "--frames", "1", "--resolution", "8x8",
                                      "--writer", "video", "--image-start", str(tmp_path / f"{prompt}.png"),
                                      "--output-dir", str(tmp_path / "out"), "--json").stdout)["id"])
    good, doomed = ids
    shown = wgp_cli("queue", "status", good)
    assert shown.exit_code == 0 and shown.stdout.startswith(f"{good} queued: echo 'good' (priority 0, attempts 0)")
    digest = hashlib.sha256((tmp_path / "doomed.png").read_bytes()).hexdigest()
    (tmp_path / "doomed.png").unlink()  # the queue holds its own copy ...
    (stored,) = Path(wgp_env).rglob(digest + ".png")
    stored.write_bytes(b"broken after it was queued")  # ... damaged here: the worker finds out
    proc, _ = start_worker(home_env, tmp_path, "one", "--once")
    assert proc.wait(timeout=60) == 0
    finished = json.loads(wgp_cli("queue", "status", good, "--json").stdout)
    assert (finished["id"], finished["state"], finished["attempts"]) == (good, "finished", 1)
    assert finished["artifacts"] and all(Path(p).is_file() for p in finished["artifacts"])
    assert f"  wrote {finished['artifacts'][0]}" in wgp_cli("queue", "status", good).stdout
    failed = wgp_cli("queue", "status", doomed)
    assert failed.exit_code == 0 and failed.stdout.startswith(f"{doomed} failed: echo 'doomed'")
    assert "  error: " in failed.stdout and "doomed.png changed since the job was queued" in failed.stdout


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


def test_queue_smoke_script():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "queue_smoke.py")],
                          capture_output=True, text=True, timeout=240)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["ok"], result
    assert (result["paused_state"], result["job_state"], result["token_mode"]) == ("paused", "finished", "0o600")


def test_a_cancel_for_a_job_whose_worker_died_is_kept(wgp_env):
    import socket

    from wgp_host.liveness import boot_identity

    backend = queue_db(wgp_env)
    backend.add({"id": "doomed", "output": {}})
    backend._execute("INSERT INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, NULL, ?, ?)",
                     ("w", socket.gethostname(), boot_identity(), dead_pid(), time.time(), time.time()))
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


def test_worker_rows_from_older_versions_are_judged_safely(wgp_env):
    """Rows that hold a kernel boot id and a /proc start tick (what wgp wrote before wgp_host.liveness)."""
    import socket

    from wgp_host.liveness import boot_identity, process_identity

    backend = queue_db(wgp_env)
    now = time.time()

    def worker_row(name: str, boot: str, pid_start: str | None, heartbeat: float) -> None:
        backend._execute("INSERT OR REPLACE INTO workers (id, host, boot_id, pid, pid_start, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (name, socket.gethostname(), boot, os.getpid(), pid_start, now, heartbeat))

    old_boot = "0f6c1d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
    for name, boot, start, beat in (
        ("old-fresh", old_boot, "4242", now),            # old row, recent heartbeat: alive by the heartbeat rule
        ("old-stale", old_boot, "4242", now - 3600),     # old row, no heartbeat for an hour: dead
        ("tick", boot_identity(), "4242", now),          # this boot, but a start tick is not our identity: another process
        ("me", boot_identity(), process_identity(os.getpid()), now),
        ("me-unknown", boot_identity(), None, now),      # no identity recorded: the pid alone decides
    ):
        worker_row(name, boot, start, beat)
        backend.add({"id": f"job-{name}"})
        assert backend.claim(name).id == f"job-{name}"
    settled = backend.recover(max_retries=1)
    assert sorted(r["id"] for r in settled) == ["job-old-stale", "job-tick"]
    assert {r["state"] for r in settled} == {"interrupted"}
    assert sorted(backend.live_workers()) == ["me", "me-unknown", "old-fresh"]
    backend.register_worker("registered")
    row = next(w for w in backend.workers() if w["id"] == "registered")
    assert (row["boot_id"], row["pid"], row["pid_start"]) == (boot_identity(), os.getpid(), process_identity(os.getpid()))
    assert "registered" in backend.live_workers()
    backend.unregister_worker("registered")
    assert "registered" not in backend.live_workers()


# --------------------------------------------------------------------------- the QueueBackend contract


class MinimalQueue(QueueBackend):
    """A backend with only the five abstract methods: everything else is QueueBackend's defaults."""

    name = "minimal"

    def __init__(self, options=None) -> None:
        super().__init__(options or {})
        self.jobs: dict[str, JobRecord] = {}
        self.lock = threading.Lock()

    def add(self, job, priority=0):
        job_id = str(job.get("id") or f"m{len(self.jobs):04d}")
        self.jobs[job_id] = JobRecord(id=job_id, state="queued", job=dict(job), priority=priority, created=time.time())
        return job_id

    def claim(self, worker):
        with self.lock:
            waiting = [r for r in self.jobs.values() if r.state in ("queued", "interrupted")]
            if not waiting:
                return None
            record = max(waiting, key=lambda r: r.priority)  # the first of the highest: the oldest
            record.state, record.started, record.attempts = "running", time.time(), record.attempts + 1
            return record

    def update(self, job_id, **fields):
        record = self.jobs.get(job_id)
        for key, value in fields.items():
            if record is not None:
                setattr(record, key, value)

    def get(self, job_id):
        return self.jobs.get(job_id)

    def list(self, states=None):
        return [r for r in self.jobs.values() if states is None or r.state in states]


def echo_job(out: Path, **params):
    from wgp_hookspecs import JobOptions

    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import build_job

    flags = {"prompt": "m", "steps": 1, "width": 8, "height": 8, "frames": 1, **params}
    job, _ = build_job(get_host(), initialize_runtime(), JobOptions(model="echo", params=flags, set_items=("audio=false",),
                                                                  output_dir=str(out), writers=("video",)))
    return job


def test_the_defaults_run_and_control_jobs(make_wgp_host, tmp_path):
    from wgp_hookspecs import UserError

    from wgp_host.progress import ProgressChannel
    from wgp_host.queue import QueueController
    from wgp_host.runner import Runner

    host = make_wgp_host(entry_points=True)
    backend = MinimalQueue()
    events: list = []
    controller = QueueController(backend, Runner(host), ProgressChannel(listeners=[events.append]))
    first, doomed, last = (controller.submit(echo_job(tmp_path / name)) for name in ("first", "doomed", "last"))
    assert controller.cancel(doomed) == "cancelled"
    with pytest.raises(UserError, match="already cancelled"):
        controller.cancel(doomed)
    assert controller.pause() and backend.get_flag("paused") == "1"
    assert controller.work(once=True, handle_signals=False) == 0  # paused: nothing taken
    assert controller.resume() and backend.get_flag("paused") is None
    assert [o.state for o in controller.drain()] == ["finished", "finished"]
    assert [(r.id, r.state, r.attempts) for r in backend.list()] == [(first, "finished", 1), (doomed, "cancelled", 0), (last, "finished", 1)]
    assert backend.get(first).result["artifacts"][0]["role"] == "video"
    status = controller.status()
    assert status["counts"] == {"queued": 0, "running": 0, "finished": 2, "failed": 0, "cancelled": 1, "interrupted": 0}
    assert [r["id"] for r in status["recent"]] == [last, first, doomed] and status["running"] == []
    assert backend.retry(doomed) == (True, "queued") and backend.retry(first) == (False, "finished")
    assert backend.retry("nope") == (False, None)
    assert controller.clear() == 1
    assert (backend.get(doomed).state, backend.get(doomed).error) == ("cancelled", "cleared")
    assert {(r["worker"], r["cancel_requested"]) for r in backend.rows()} == {(None, False)}
    assert len(backend.rows(limit=2)) == 2
    names = [e.event for e in events]
    assert names.count("job.finished") == 2 and names.count("job.cancelled") == 1
    assert names.count("queue.paused") == 1 and names.count("queue.resumed") == 1


def test_the_defaults_guard_a_running_job_and_refuse_what_they_cannot_do():
    from wgp_hookspecs import UserError

    from wgp_host.defaults.memory_queue import MemoryQueue
    from wgp_host.defaults.sqlite_queue import SqliteQueue

    backend = MinimalQueue()
    backend.add({"id": "j"})
    assert backend.claim("w").id == "j"
    with pytest.raises(QueueOperationNotSupported) as caught:
        backend.request_cancel("j")
    assert isinstance(caught.value, UserError)
    assert str(caught.value) == "queue backend 'minimal' does not support cancelling a running job from outside its worker"
    assert backend.set_progress("j", "w", {"step": 1}) is False and backend.get("j").progress == {"step": 1}
    assert backend.release("j", "w") is True
    assert (backend.get("j").state, backend.get("j").attempts, backend.get("j").progress) == ("queued", 0, {})
    assert backend.set_progress("j", "w", {"step": 2}) is True  # no longer running: its worker must stop
    assert backend.complete("j", "w", state="finished") is False and backend.get("j").state == "queued"
    assert backend.release("j", "w") is False
    assert backend.claim("w").attempts == 1
    assert backend.complete("j", "w", state="finished", finished=time.time()) is True
    assert backend.request_cancel("j") == (False, "finished") and backend.request_cancel("nope") == (False, None)
    assert (backend.recover(), backend.workers(), backend.live_workers()) == ([], [], [])
    backend.register_worker("w"), backend.heartbeat("w"), backend.unregister_worker("w")
    backend.set_flag("paused", "1")
    assert backend.get_flag("paused") == "1" and MinimalQueue().get_flag("paused") is None  # this instance only
    assert (MinimalQueue.persistent_flags, MemoryQueue.persistent_flags, SqliteQueue.persistent_flags) == (False, False, True)


def test_queue_commands_on_a_backend_with_only_the_defaults(make_wgp_host, wgp_cli, monkeypatch):
    from wgp_hookspecs import hookimpl

    class MinimalPlugin:
        @hookimpl
        def register_queue_backends(self, register):
            register(MinimalQueue)

    make_wgp_host(MinimalPlugin())
    monkeypatch.setenv("WGP_QUEUE_BACKEND", "minimal")
    for command in ("pause", "resume"):
        result = wgp_cli("queue", command)
        assert result.exit_code == 2, result.stdout
        assert result.stderr.strip().endswith(f"queue backend 'minimal' does not support {command[:-1]}ing without a running worker")
    status = _status(wgp_cli)
    assert (status["via"], status["paused"], status["workers"], status["counts"]["queued"]) == ("database", False, [], 0)
    assert wgp_cli("queue", "list").stdout.strip() == "no jobs"
    assert wgp_cli("queue", "clear").stdout.strip() == "cleared 0 queued jobs"
    missing = wgp_cli("queue", "cancel", "nosuch")
    assert missing.exit_code == 2 and "no job 'nosuch'" in missing.stderr


def test_every_backend_method_has_a_contract_and_a_line_in_the_docs():
    text = (REPO / "docs" / "queue.md").read_text().split("## The backend contract", 1)[1]
    methods = sorted(n for n, v in vars(QueueBackend).items() if callable(v) and not n.startswith("_"))
    assert {"add", "claim", "update", "get", "list", "live_workers", "recover", "request_cancel"} <= set(methods)
    assert [n for n in methods if f"`{n}(" not in text] == []
    assert [n for n in methods if not (vars(QueueBackend)[n].__doc__ or "").strip()] == []
    assert "`persistent_flags`" in text


# --------------------------------------------------------------------------- model affinity


def _add_model_jobs(home: Path, out: Path, models: list[str], priority: int = 0) -> list[str]:
    from wgp_hookspecs import JobOptions

    from wgp_host.plugins import get_host
    from wgp_host.runtime import initialize_runtime
    from wgp_host.submit import build_job

    backend = queue_db(home)
    try:
        ids = []
        for n, model in enumerate(models):
            job, _ = build_job(get_host(), initialize_runtime(), JobOptions(
                model=model, params={"prompt": "m", "steps": 1, "width": 8, "height": 8},
                output_dir=str(out / f"{n:02d}"), writers=("image",) if model == "echo-image" else ("video",),
                set_items=("frames=1", "audio=false") if model == "echo" else ()))
            ids.append(backend.add(job.to_dict(), priority))
        return ids
    finally:
        backend.close()


def test_a_worker_prefers_its_loaded_model_within_a_priority_and_takes_only_its_models(wgp_env, home_env, tmp_path):
    mixed = _add_model_jobs(wgp_env, tmp_path / "mixed", ["echo", "echo-image"] * 3)
    urgent = _add_model_jobs(wgp_env, tmp_path / "urgent", ["echo-image"], priority=5)[0]
    proc, events = start_worker(home_env, tmp_path, "affine", "--once")
    assert proc.wait(timeout=60) == 0
    evs = read_events(events)
    # Priority first (the urgent image job), then the loaded model's jobs, then the other model's.
    order = [e["job"] for e in evs if e["event"] == "job.started"]
    assert order == [urgent, *mixed[1::2], *mixed[0::2]]
    assert [e["model"] for e in evs if e["event"] == "model.loaded"] == ["echo-image", "echo"]  # not seven loads
    only = _add_model_jobs(wgp_env, tmp_path / "only", ["echo-image", "echo", "echo-image"])
    proc, events = start_worker(home_env, tmp_path, "videos", "--once", "--models", "echo")
    assert proc.wait(timeout=60) == 0
    assert [e["job"] for e in read_events(events) if e["event"] == "job.finished"] == [only[1]]
    assert [queue_db(wgp_env).get(j).state for j in only] == ["queued", "finished", "queued"]
