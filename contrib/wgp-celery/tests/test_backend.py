"""The celery backend's store against a real redis-server: every QueueBackend operation, leases,
recovery, affinity and tokens (the Celery queues are read directly; no worker runs here)."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from wgp_hookspecs import PRIORITY_RANGE, UserError

from celery_testing import wait_for


def tokens(backend, model: str) -> int:
    from wgp_celery.backend import queue_name

    return backend.store.redis.llen(queue_name(backend.settings.prefix, model))


def job(job_id: str, model: str = "echo", out: str = "/nonexistent") -> dict:
    return {"id": job_id, "request": {"model": model, "params": {}}, "output": {"output_dir": out}}


def test_order_is_priority_then_age_exactly_for_64_bit_priorities(backend):
    low, high = PRIORITY_RANGE
    # Neighbours that a float score could not tell apart.
    for name, priority in (("a", 0), ("b", high), ("c", high - 1), ("d", low), ("e", 0), ("f", 2**53 + 1), ("g", 2**53)):
        backend.add(job(name), priority)
    order = []
    while (record := backend.claim("w")) is not None:
        order.append(record.id)
    assert order == ["b", "c", "f", "g", "a", "e", "d"]
    assert backend.get("b").priority == high and backend.get("d").priority == low
    assert backend.counts()["running"] == 7 and tokens(backend, "echo") == 7  # one token per job added
    with pytest.raises(UserError, match="already in the queue"):
        backend.add(job("a"))


def test_claims_are_exclusive_across_connections(backend, celery_options):
    from wgp_celery.backend import CeleryQueue

    for i in range(200):
        backend.add(job(f"j{i:03d}"))
    claimed, lock = [], threading.Lock()

    def claimer(n: int) -> None:
        mine = CeleryQueue(celery_options)
        while (record := mine.claim(f"w{n}")) is not None:
            with lock:
                claimed.append((record.id, record.attempts))
        mine.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(i for i, _ in claimed) == sorted(f"j{i:03d}" for i in range(200))
    assert {a for _, a in claimed} == {1}


def test_affinity_prefers_the_loaded_model_within_a_priority_and_models_filter(backend):
    for name, model, priority in (("a1", "echo", 0), ("i1", "echo-image", 0), ("a2", "echo", 0), ("i2", "echo-image", 0),
                                  ("top", "echo", 5)):
        backend.add(job(name, model), priority)
    assert backend.claim_for("w", prefer="echo-image").id == "top"  # priority first
    assert backend.claim_for("w", prefer="echo-image").id == "i1"  # then the loaded model
    assert backend.claim_for("w", prefer="echo-image", models=["echo"]).id == "a1"  # only its models
    assert backend.claim_for("w", models=["echo-image"]).id == "i2"
    assert backend.claim_for("w", models=["echo-audio"]) is None
    assert backend.claim_for("w").id == "a2"


def test_a_token_takes_the_loaded_models_job_and_goes_back_for_its_own(backend):
    from wgp_celery.backend import queue_name

    backend.add(job("img", "echo-image"))
    backend.add(job("vid", "echo"))
    backend.store.redis.delete(queue_name("wgp", "echo"), queue_name("wgp", "echo-image"))
    # A worker with echo loaded gets the image model's token: within priority 0 its own model's job comes first.
    record = backend.claim_token("w", "echo-image", prefer="echo", models=None, task_id="t1")
    assert record.id == "vid"
    assert tokens(backend, "echo-image") == 1  # the image job still waits, so its token went back
    assert backend.claim_token("w", "echo-image", prefer="echo", models=None, task_id="t2").id == "img"
    assert tokens(backend, "echo-image") == 1  # nothing swapped: no new token
    # A worker that does not take the loaded model's jobs never takes one with another model's token.
    backend.add(job("vid2", "echo"))
    assert backend.claim_token("w", "echo-image", prefer="echo", models=("echo-image",), task_id="t3") is None


def test_cancel_retry_clear_update_and_flags(backend):
    for name in ("q1", "q2", "run"):
        backend.add(job(name))
    running = backend.claim_for("w", models=["echo"])
    assert running.id == "q1"
    assert backend.request_cancel("q2") == (True, "cancelled")  # waiting: it leaves the line
    assert backend.claim("w2").id == "run"
    assert backend.claim("w3") is None
    assert backend.request_cancel("q1") == (True, "cancelling")
    assert backend.set_progress("q1", "w", {"step": 1}) is True  # its worker is told to stop
    assert backend.set_progress("run", "w", {"step": 1}) is True  # not w's job
    assert backend.set_progress("run", "w2", {"step": 3}) is False
    assert backend.get("run").progress == {"step": 3}
    assert backend.complete("q1", "w2", state="finished") is False  # only the owner completes
    assert backend.complete("q1", "w", state="cancelled", finished=time.time(), error="cancelled", result={}) is True
    assert backend.request_cancel("q1") == (False, "cancelled") and backend.request_cancel("nope") == (False, None)
    assert backend.retry("q1") == (True, "queued") and backend.get("q1").attempts == 0
    assert backend.retry("run") == (False, "running") and backend.retry("nope") == (False, None)
    assert backend.release("run", "w2") is True
    assert (backend.get("run").state, backend.get("run").attempts) == ("queued", 0)
    backend.update("q2", state="failed", error="by hand")
    assert backend.counts() == {"queued": 2, "running": 0, "finished": 0, "failed": 1, "cancelled": 0, "interrupted": 0}
    assert [r["id"] for r in backend.recent()] == ["q2"]
    with pytest.raises(ValueError):
        backend.update("q2", colour="red")
    assert backend.clear() == 2 and backend.get("q1") is None and backend.claim("w") is None
    assert [r["id"] for r in backend.rows()] == ["q2"]
    backend.set_flag("paused", "1")
    assert backend.get_flag("paused") == "1"
    backend.set_flag("paused", None)
    assert backend.get_flag("paused") is None and type(backend).persistent_flags


def test_an_expired_lease_is_settled_once_retried_then_failed(backend, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    backend.add(job("x", out=str(out)))
    backend.add(job("doomed"))
    assert backend.claim_for("dead", models=["echo"]).id == "x"
    assert backend.claim("dead").id == "doomed"
    assert backend.request_cancel("doomed") == (True, "cancelling")
    backend.set_progress("x", "dead", {"artifacts": [str(out / "a.mp4")]})
    assert backend.recover() == []  # leases still valid
    seen = []
    backend.store.redis.delete(backend.store.key("lease", "x"), backend.store.key("lease", "doomed"))  # as if 1.5 s passed
    settled = backend.recover(max_retries=1, on_interrupted=lambda row, busy: seen.append((row["id"], row["progress"])))
    assert sorted((r["id"], r["state"]) for r in settled) == [("doomed", "cancelled"), ("x", "interrupted")]
    assert sorted(seen) == [("doomed", {}), ("x", {"artifacts": [str(out / "a.mp4")]})]
    assert backend.set_progress("x", "dead", {}) is True  # the old worker lost it for good
    assert backend.complete("x", "dead", state="finished") is False
    assert backend.recover() == []  # settled once
    record = backend.claim("second")
    assert (record.id, record.attempts) == ("x", 2)
    backend.store.redis.delete(backend.store.key("lease", "x"))
    settled = backend.recover(max_retries=1)
    assert [(r["id"], r["state"]) for r in settled] == [("x", "failed")]
    assert "max_retries=1" in backend.get("x").error


def test_a_healthy_worker_keeps_its_job_past_the_lease(celery_options):
    from wgp_celery.backend import CeleryQueue

    backend = CeleryQueue({**celery_options, "lease_s": 0.6, "heartbeat_s": 0.1})
    backend.add(job("long"))
    backend.claim("w")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(backend.heartbeat_interval_s):
            backend.heartbeat("w")

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        time.sleep(backend.settings.lease_s * 2)
        assert backend.recover() == [] and backend.get("long").state == "running"
    finally:
        stop.set()
        thread.join()
    wait_for("the lease to run out", lambda: backend.recover(), timeout=10)
    assert backend.get("long").state == "interrupted"
    backend.close()


def test_workers_events_and_lost_tokens(backend):
    from wgp_celery.backend import queue_name

    backend.register_worker("w1", models="any")
    assert backend.live_workers() == ["w1"] and backend.workers()[0]["models"] == "any"
    backend.unregister_worker("w1")
    assert backend.live_workers() == []
    pubsub = backend.store.redis.pubsub()
    pubsub.subscribe(backend.store.key("events"))
    wait_for("the subscription", lambda: pubsub.get_message(timeout=0.1))
    backend.publish({"event": "step", "job": "x", "step": 1})
    message = wait_for("the event", lambda: pubsub.get_message(timeout=0.1))
    assert json.loads(message["data"]) == {"event": "step", "job": "x", "step": 1}
    backend.add(job("stranded"))
    backend.store.redis.delete(queue_name("wgp", "echo"))  # its token died with a process
    assert backend.resend_lost_tokens(now=0.0) == []  # first seen now
    assert backend.resend_lost_tokens(now=0.5) == []  # within token_grace_s
    assert backend.resend_lost_tokens(now=1.5) == ["echo"] and tokens(backend, "echo") == 1
    assert backend.resend_lost_tokens(now=3.0) == []  # a token waits: nothing more


def test_bad_options_are_one_line_errors(redis_url):
    from wgp_celery.backend import CeleryQueue

    for options, needle in (
        ({"url": redis_url, "colour": 1}, "unknown key 'colour'"),
        ({"url": "http://x"}, "is not a Redis URL"),
        ({"url": redis_url, "lease_s": -1}, "positive number"),
        ({"url": redis_url, "lease_s": 2, "heartbeat_s": 1.5}, "at most half of lease_s"),
        ({"url": "redis://:secret@127.0.0.1:1/0"}, "cannot reach Redis at redis://:***@127.0.0.1:1/0"),
    ):
        with pytest.raises(UserError, match=re.escape(needle)) as caught:
            CeleryQueue(options)
        assert "\n" not in str(caught.value) and "secret" not in str(caught.value)
