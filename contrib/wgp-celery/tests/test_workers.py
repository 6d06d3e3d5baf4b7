"""`wgp queue work` on the celery backend as real subprocesses (prefork pool), on a real
redis-server: kill -9 of a pool process and of a whole worker mid-job, routing and affinity,
200 jobs over two workers, the cancel fallback and SIGTERM.  Every wait is bounded; no test
asserts a speed except the issue's bound on recovery (a dead worker's job back within 15 s;
the tests' lease is 1.5 s)."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections import Counter
from pathlib import Path

import psutil

from celery_testing import echo_job, kill_workers, read_events, start_worker, stop_worker, wait_for, with_children_gone


def ready(proc, log: Path, timeout: float = 60) -> None:
    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        return "job process(es)" in log.read_text()

    wait_for(f"the worker of {log.name} to start", up, timeout=timeout)


def workers(celery_env, tmp_path, *specs: tuple[str, tuple[str, ...]]):
    """Start the workers (name, args) together, wait until each consumes."""
    started = [(name, *start_worker(celery_env, tmp_path, name, *args)) for name, args in specs]
    for name, proc, _ in started:
        ready(proc, tmp_path / f"worker-{name}.log")
    return {name: (proc, events) for name, proc, events in started}


def pool_processes(proc) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def consistent(manifest: Path) -> list[dict]:
    """Every manifest line names an existing file with its sha256, and no file twice."""
    if not manifest.exists():
        return []
    lines = [json.loads(raw) for raw in manifest.read_bytes().splitlines() if raw.strip()]
    named = [manifest.parent / line["path"] for line in lines]
    for line, path in zip(lines, named):
        assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == line["sha256"], line
    assert len(set(named)) == len(named)
    return lines


def test_kill_9_of_a_pool_process_mid_commit_leaves_one_artifact_each(backend, celery_env, tmp_path):
    """The pool process stops itself once its writers are done (manifest lines in, job not yet
    finished) and is killed there: the job comes back, and its retry's files are the only ones."""
    out = tmp_path / "out"
    job_id = backend.add(echo_job(out, writers=("video", "audio", "manifest"), **{"audio": "true"}))
    proc, events = start_worker(celery_env, tmp_path, "w", extra_env={"WGP_TEST_PAUSE_AT": "writers.done"})
    try:
        def stopped() -> list[psutil.Process]:
            return [p for p in pool_processes(proc) if p.status() == psutil.STATUS_STOPPED]

        (child,) = wait_for("the pool process to stop at writers.done", stopped, timeout=60)
        assert {(line["job"], line["attempt"]) for line in consistent(out / "manifest.jsonl")} == {(job_id, 1)}
        assert backend.get(job_id).state == "running"
        child.kill()
        t0 = time.monotonic()
        # The retry (attempt 2) stops at the same point: this time it may go on.
        (retry,) = wait_for("the retry to reach writers.done", lambda: [p for p in stopped() if p.pid != child.pid], timeout=30)
        took = time.monotonic() - t0
        lines = consistent(out / "manifest.jsonl")
        assert {(line["job"], line["attempt"]) for line in lines} == {(job_id, 2)}  # attempt 1's went with its files
        retry.resume()
        wait_for("the job to finish", lambda: backend.get(job_id).state == "finished")
    finally:
        kill_workers(proc)
    assert took < 15, took
    record = backend.get(job_id)
    assert record.attempts == 2
    # The job ran in a pool process (where the model is loaded), never in the serving process.
    assert next(r for r in backend.rows() if r["id"] == job_id)["worker"] == f"w/{retry.pid}" and retry.pid != proc.pid
    lines = consistent(out / "manifest.jsonl")
    assert sorted(line["role"] for line in lines) == ["audio", "video"] and {line["attempt"] for line in lines} == {2}
    assert sorted(p.name for p in out.iterdir()) == sorted([*(line["path"] for line in lines), "manifest.jsonl"])
    assert {a["path"] for a in record.result["artifacts"]} == {str(out / line["path"]) for line in lines}
    names = [e["event"] for e in read_events(events)]
    assert names.count("job.interrupted") == 1 and names.count("job.finished") == 1


def test_kill_9_of_a_whole_worker_mid_job_runs_the_job_elsewhere_once(backend, celery_env, tmp_path, wgp_cli):
    out = tmp_path / "out"
    backend.set_flag("paused:b", "1")  # b waits until a has the job
    ws = workers(celery_env, tmp_path, ("a", ("--models", "echo")), ("b", ("--models", "echo")))
    (a, ev_a), (b, ev_b) = ws["a"], ws["b"]
    try:
        job_id = backend.add(echo_job(out, steps=60, step_seconds=0.05))
        wait_for("a to run the job", lambda: (backend.get(job_id).progress.get("step") or 0) >= 3)
        assert next(r for r in backend.rows() if r["id"] == job_id)["worker"].startswith("a/")
        children = pool_processes(a)
        a.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        assert a.wait(timeout=10) == -signal.SIGKILL
        psutil.wait_procs(children, timeout=10)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]  # no orphan keeps working
        wait_for("the job to come back", lambda: backend.get(job_id).state == "interrupted", timeout=20)
        took = time.monotonic() - t0
        assert wgp_cli("queue", "resume", "--worker", "b").exit_code == 0
        wait_for("b to finish it", lambda: backend.get(job_id).state == "finished", timeout=60)
    finally:
        kill_workers(a, b)
    assert took < 15, took
    row = next(r for r in backend.rows() if r["id"] == job_id)
    assert row["worker"].startswith("b/") and row["attempts"] == 2
    evs = read_events(ev_a, ev_b)
    assert Counter(e["event"] for e in evs if e["job"] == job_id)["job.finished"] == 1
    assert [p.name for p in out.iterdir()] == [Path(row["result"]["artifacts"][0]["path"]).name]


def test_routing_by_model_and_affinity_of_an_any_worker(backend, celery_env, tmp_path, wgp_cli):
    out = tmp_path / "out"
    backend.set_flag("paused:mixed", "1")
    ws = workers(celery_env, tmp_path, ("videos", ("--models", "echo")), ("images", ("--models", "echo-image")),
                 ("mixed", ("--models", "any")))
    try:
        first = []
        for i in range(4):
            first.append(backend.add(echo_job(out / f"v{i}")))
            first.append(backend.add(echo_job(out / f"i{i}", model="echo-image", writers=("image",))))
        wait_for("the first batch", lambda: all(backend.get(j).state == "finished" for j in first))
        by_worker = {r["id"]: r["worker"].split("/")[0] for r in backend.rows()}
        assert {by_worker[j] for j in first[0::2]} == {"videos"} and {by_worker[j] for j in first[1::2]} == {"images"}
        for name in ("videos", "images"):
            assert wgp_cli("queue", "pause", "--worker", name).exit_code == 0
        second = []
        for i in range(4):  # interleaved: a worker without affinity would load a model for every job
            second.append(backend.add(echo_job(out / f"v2{i}")))
            second.append(backend.add(echo_job(out / f"i2{i}", model="echo-image", writers=("image",))))
        result = wgp_cli("queue", "resume", "--worker", "mixed")
        assert result.exit_code == 0 and result.stdout.strip() == "resumed worker mixed"
        wait_for("the second batch", lambda: all(backend.get(j).state == "finished" for j in second))
    finally:
        kill_workers(*(proc for proc, _ in ws.values()))
    rows = {r["id"]: r for r in backend.rows()}
    assert {rows[j]["worker"].split("/")[0] for j in second} == {"mixed"}
    mixed = read_events(ws["mixed"][1])
    assert [e["model"] for e in mixed if e["event"] == "model.loaded"] in (["echo", "echo-image"], ["echo-image", "echo"])
    assert Counter(e["job"] for e in mixed if e["event"] == "job.finished") == Counter({j: 1 for j in second})


def test_two_hundred_jobs_over_two_workers_each_finish_once(backend, celery_env, tmp_path):
    out = tmp_path / "out"
    backend.set_flag("paused", "1")  # both workers up before the first job is taken
    ws = workers(celery_env, tmp_path, ("one", ()), ("two", ()))
    try:
        ids = [backend.add(echo_job(out / f"j{i:03d}", steps=2)) for i in range(200)]
        backend.set_flag("paused", None)
        wait_for("every job to finish", lambda: backend.counts()["finished"] == 200, timeout=120, interval=0.2)
    finally:
        kill_workers(*(proc for proc, _ in ws.values()))
    evs = read_events(*(events for _, events in ws.values()))
    assert Counter(e["job"] for e in evs if e["event"] == "job.started") == Counter({i: 1 for i in ids})
    assert Counter(e["job"] for e in evs if e["event"] == "job.finished") == Counter({i: 1 for i in ids})
    rows = backend.rows()
    assert {(r["state"], r["attempts"]) for r in rows} == {("finished", 1)}
    assert Counter(r["worker"].split("/")[0] for r in rows).keys() == {"one", "two"}
    assert all(len(list((out / f"j{i:03d}").iterdir())) == 1 for i in range(200))


def test_a_job_deaf_to_its_cancel_is_terminated_and_sigterm_puts_a_job_back(backend, celery_env, tmp_path, wgp_cli):
    out = tmp_path / "out"
    proc, events = start_worker(celery_env, tmp_path, "w")
    try:
        ready(proc, tmp_path / "worker-w.log")
        # One step of 60 s: the cancel flag is only looked at between steps.
        deaf = backend.add(echo_job(out / "deaf", steps=1, step_seconds=60))
        wait_for("the deaf job to run", lambda: backend.get(deaf).state == "running")
        child = next(r for r in backend.rows() if r["id"] == deaf)["worker"].split("/")[1]
        status = json.loads(wgp_cli("queue", "status", "--json").stdout)
        assert (status["via"], status["worker"], [j["id"] for j in status["jobs"]]) == ("control", "w", [deaf])
        result = wgp_cli("queue", "cancel", deaf)
        assert result.exit_code == 0 and "stops at its next step" in result.stdout
        wait_for("the cancel to land", lambda: backend.get(deaf).state == "cancelled", timeout=20)
        assert not psutil.pid_exists(int(child)) or psutil.Process(int(child)).status() == psutil.STATUS_ZOMBIE
        # The worker lives on with a new pool process; a long job is put back on SIGTERM.
        long = backend.add(echo_job(out / "long", steps=400, step_seconds=0.05))
        wait_for("the long job's steps", lambda: (backend.get(long).progress.get("step") or 0) >= 2, timeout=30)
        assert stop_worker(proc) == 0
    finally:
        with_children_gone(proc)
    record = backend.get(long)
    assert (record.state, record.attempts) == ("queued", 0)
    assert not (out / "deaf").exists() or not list((out / "deaf").iterdir())
    assert not (out / "long").exists() or not list((out / "long").iterdir())
    names = [e["event"] for e in read_events(events) if e["job"] == long]
    assert names[-2:] == ["job.cancelled", "job.queued"]
