"""Webhooks: the worker's ``webhook`` sink calls a receiver inside the test, signed, with retries."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx
import pytest

from conftest import Api
from wgp_host.testing import wait_for

from wgp_http.webhooks import secret, sign

JOB = {"model": "echo-image", "params": {"prompt": "hook", "width": 8, "height": 8, "steps": 1}}


class Receiver:
    """An HTTP server in a thread: answers 500 to the first ``fail`` calls of each path, sleeps
    ``hang`` seconds on /hang, records every call."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail
        self.release = threading.Event()  # /hang answers once this is set
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if self.path == "/hang":
                    receiver.release.wait(30)
                tries = sum(1 for c in receiver.calls if c["path"] == self.path)
                self.send_response(500 if tries <= receiver.fail and self.path != "/hang" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=2)
    yield r
    r.close()


def test_webhook_signed_and_retried(api: Api, client: httpx.Client, receiver: Receiver) -> None:
    job = client.post("/v1/jobs", json={**JOB, "webhook": receiver.url + "/done"}).json()
    calls = wait_for("three webhook calls", lambda: [c for c in receiver.calls if c["path"] == "/done"][2:] and receiver.calls,
                     timeout=15)
    done = [c for c in calls if c["path"] == "/done"]
    assert [c["headers"]["X-Wgp-Attempt"] for c in done] == ["1", "2", "3"]
    event = json.loads(done[-1]["body"])
    assert event["event"] == "job.finished" and event["job"] == job["id"] and event["artifacts"]
    key = secret(api.service.state_dir)
    assert done[-1]["headers"]["X-Wgp-Signature"] == sign(key, done[-1]["body"])
    assert done[-1]["headers"]["X-Wgp-Event"] == "job.finished"


def test_a_hanging_webhook_never_blocks_the_worker(api: Api, client: httpx.Client, receiver: Receiver) -> None:
    hung = client.post("/v1/jobs", json={**JOB, "webhook": receiver.url + "/hang"}).json()
    wait_for("the hanging call", lambda: any(c["path"] == "/hang" for c in receiver.calls), timeout=15)
    nxt = client.post("/v1/jobs", json=JOB).json()
    # The worker runs the next job while the webhook of the first still hangs.
    wait_for("the next job", lambda: client.get(f"/v1/jobs/{nxt['id']}").json()["state"] == "finished", timeout=15)
    assert not receiver.release.is_set()
    assert client.get(f"/v1/jobs/{hung['id']}").json()["state"] == "finished"


def test_a_job_cancelled_before_it_ran_still_calls_its_webhook(api: Api, client: httpx.Client) -> None:
    receiver = Receiver()
    try:
        assert client.post("/v1/queue/pause").status_code == 200  # keeps the job from the worker
        job = client.post("/v1/jobs", json={**JOB, "webhook": receiver.url + "/cancelled"}).json()
        assert client.post(f"/v1/jobs/{job['id']}/cancel").json()["cancel"] == "cancelled"
        (call,) = wait_for("the cancel webhook", lambda: receiver.calls, timeout=15)
        event = json.loads(call["body"])
        assert (event["event"], event["job"]) == ("job.cancelled", job["id"])
        assert call["headers"]["X-Wgp-Signature"] == sign(secret(api.service.state_dir), call["body"])
    finally:
        client.post("/v1/queue/resume")
        receiver.close()
