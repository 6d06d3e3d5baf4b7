"""Real Celery workers in this process (``celery.contrib.testing``, thread pool) running real echo
jobs through the host's controller and runner, on a real redis-server."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from celery_testing import echo_job, served, wait_for


def names(events, job=None) -> list[str]:
    return [e.event for e in events if job is None or e.job == job]


def test_jobs_run_once_each_with_their_files(backend, tmp_path):
    from wgp_celery.worker import in_process_worker

    ids = [backend.add(echo_job(tmp_path / f"j{i}"), priority=i % 2) for i in range(6)]
    service, events = served(backend, concurrency=2)
    with in_process_worker(backend, service, concurrency=2):
        wait_for("every job to finish", lambda: backend.counts()["finished"] == 6)
    assert Counter(e.job for e in events if e.event == "job.started") == Counter({i: 1 for i in ids})
    for i, job_id in enumerate(ids):
        row = next(r for r in backend.rows() if r["id"] == job_id)
        (artifact,) = row["result"]["artifacts"]
        assert Path(artifact["path"]).parent == tmp_path / f"j{i}" and len(list((tmp_path / f"j{i}").iterdir())) == 1
        assert row["worker"].startswith("w1/") and row["attempts"] == 1
    assert backend.live_workers() == []  # unregistered when it stopped


def test_cancel_stops_a_running_job_within_a_second_and_a_queued_one_never_starts(backend, tmp_path):
    from wgp_celery.worker import in_process_worker

    service, events = served(backend)
    long = backend.add(echo_job(tmp_path / "long", steps=500, step_seconds=0.02))
    with in_process_worker(backend, service):
        wait_for("the long job's third step", lambda: (backend.get(long).progress.get("step") or 0) >= 3)
        # While it runs, the next job waits; cancelling it means it never starts.
        doomed = backend.add(echo_job(tmp_path / "doomed"))
        assert service.cancel(doomed) == "cancelled"
        t0 = time.monotonic()
        assert service.cancel(long) == "cancelling"
        wait_for("the cancel", lambda: backend.get(long).state == "cancelled", timeout=5)
        took = time.monotonic() - t0
        after = backend.add(echo_job(tmp_path / "after"))
        wait_for("the next job", lambda: backend.get(after).state == "finished")
    assert took < 1.0, took
    assert names(events, doomed) == ["job.cancelled"] and backend.get(doomed).error == "cancelled before it ran"
    steps = [e.fields["step"] for e in events if e.job == long and e.event == "step"]
    assert 3 <= max(steps) < 500 and names(events, long)[-1] == "job.cancelled"
    assert not (tmp_path / "long").exists() or not list((tmp_path / "long").iterdir())


def test_pause_for_all_and_for_one_worker(backend, tmp_path):
    from wgp_celery.worker import in_process_worker

    from wgp_host.queue.controller import worker_pause_flag

    service, events = served(backend, name="solo")
    with in_process_worker(backend, service):
        backend.set_flag("paused", "1")
        wait_for("the worker to pause", lambda: "queue.paused" in names(events))
        first = backend.add(echo_job(tmp_path / "a"))
        time.sleep(0.5)
        assert backend.get(first).state == "queued"
        backend.set_flag(worker_pause_flag("solo"), "1")  # its own pause outlives the queue-wide one
        backend.set_flag("paused", None)
        time.sleep(0.5)
        assert backend.get(first).state == "queued"
        backend.set_flag(worker_pause_flag("solo"), None)
        wait_for("the job after resume", lambda: backend.get(first).state == "finished")
        assert service.pause() is True  # through the control channel's controller: the queue-wide flag
        assert backend.get_flag("paused") == "1"
        second = backend.add(echo_job(tmp_path / "b"))
        time.sleep(0.5)
        assert backend.get(second).state == "queued"
        status = service.status()
        assert (status["state"], status["paused"], status["counts"]["queued"], status["backend"]) == ("paused", True, 1, "celery")
        assert service.resume() is True
        wait_for("the second job", lambda: backend.get(second).state == "finished")
    assert names(events).count("queue.paused") == 2 and names(events).count("queue.resumed") == 2


def test_a_worker_for_one_model_never_takes_another_models_job(backend, tmp_path):
    from wgp_celery.worker import in_process_worker

    image = backend.add(echo_job(tmp_path / "i", model="echo-image", writers=("image",)))
    video = backend.add(echo_job(tmp_path / "v"))
    service, events = served(backend, name="videos", models=("echo",))
    with in_process_worker(backend, service):
        wait_for("the video job", lambda: backend.get(video).state == "finished")
        time.sleep(0.5)
        assert backend.get(image).state == "queued"
    assert names(events, image) == []
