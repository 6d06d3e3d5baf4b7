"""The job API end to end: a real uvicorn server, a real httpx client, a real `wgp queue work`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MAX_BODY, Api, read_sse
from wgp_host.testing import wait_for

IMAGE = {"model": "echo-image", "params": {"prompt": "a red fox", "width": 16, "height": 16, "steps": 3}}


def follow(client: httpx.Client, job_id: str, last: int | None = None) -> list[dict[str, Any]]:
    headers = {"Last-Event-ID": str(last)} if last is not None else {}
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_sse(response)


def test_submit_follow_download(client: httpx.Client) -> None:
    r = client.post("/v1/jobs", json=IMAGE)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] == "queued" and job["model"] == "echo-image" and r.headers["location"] == f"/v1/jobs/{job['id']}"
    events = follow(client, job["id"])
    names = [e["event"] for e in events]
    assert names[0] == "job.queued" and names[-1] == "job.finished", names
    assert "job.started" in names and "artifact" in names
    assert all(e["data"]["job"] == job["id"] and e["data"]["schema"] == 1 for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    # From Last-Event-ID: exactly the events after it, with the same ids.
    assert follow(client, job["id"], last=events[0]["id"]) == events[1:]
    assert follow(client, job["id"], last=events[-1]["id"]) == []

    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["state"] == "finished" and done["progress"]["step"] == 3
    listed = client.get(f"/v1/jobs/{job['id']}/artifacts").json()["data"]
    assert [a["role"] for a in listed] == ["image"]
    assert "path" not in listed[0]
    r = client.get(f"/v1/jobs/{job['id']}/artifacts/0")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    digest = hashlib.sha256(r.content).hexdigest()
    assert digest == listed[0]["sha256"] and r.headers["etag"] == f'"{digest}"' and len(r.content) == listed[0]["bytes"]
    part = client.get(f"/v1/jobs/{job['id']}/artifacts/0", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == r.content[:10]
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/0", headers={"If-None-Match": f'"{digest}"'}).status_code == 304
    missing = client.get(f"/v1/jobs/{job['id']}/artifacts/1")
    assert missing.status_code == 404 and missing.json()["field"] == "n"


def test_a_job_nobody_followed_still_has_its_steps_from_the_start(api: Api, client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={**IMAGE, "params": {**IMAGE["params"], "steps": 4, "step_seconds": 0.3}}).json()
    # Waited for in the queue itself: no API request looks at the job while it runs.
    wait_for("the job to finish", lambda: (api.service.backend().get(job["id"]) or {}).state == "finished", timeout=30)
    steps = [e["data"]["step"] for e in follow(client, job["id"]) if e["event"] == "step"]
    assert steps == [1, 2, 3, 4]


def test_cancel_a_running_job(client: httpx.Client) -> None:
    job = client.post("/v1/jobs", json={"model": "echo-image", "params": {
        "prompt": "slow", "width": 8, "height": 8, "steps": 200, "step_seconds": 0.05}}).json()
    with client.stream("GET", f"/v1/jobs/{job['id']}/events") as response:
        lines = response.iter_lines()
        for line in lines:
            if line == "event: step":
                break
        r = client.post(f"/v1/jobs/{job['id']}/cancel")
        assert r.status_code == 200 and r.json()["cancel"] == "cancelling"
        rest = [line for line in lines if line.startswith("event: ")]
    assert rest[-1] == "event: job.cancelled"
    final = client.get(f"/v1/jobs/{job['id']}").json()
    assert final["state"] == "cancelled" and final["artifacts"] == []
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


def test_idempotent_resubmit(client: httpx.Client) -> None:
    key = uuid.uuid4().hex
    first = client.post("/v1/jobs", json=IMAGE, headers={"Idempotency-Key": key})
    second = client.post("/v1/jobs", json=IMAGE, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/jobs", json={**IMAGE, "priority": 3}, headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    # A refused submit leaves its key free for the corrected retry.
    bad_key = uuid.uuid4().hex
    assert client.post("/v1/jobs", json={"model": "echo-image"}, headers={"Idempotency-Key": bad_key}).status_code == 422
    assert client.post("/v1/jobs", json=IMAGE, headers={"Idempotency-Key": bad_key}).status_code == 201


def test_idempotency_keys_outlive_the_server(api: Api, client: httpx.Client) -> None:
    """The key is stored in http.sqlite: a new service (a restarted server) answers with the same job."""
    from wgp_host.interface import PluginFacingHost

    from wgp_http.service import JobService

    key = uuid.uuid4().hex
    first = client.post("/v1/jobs", json=IMAGE, headers={"Idempotency-Key": key}).json()
    fresh = JobService(PluginFacingHost())
    try:
        job, new = fresh.submit(IMAGE, key)
    finally:
        fresh.close()
    assert job["id"] == first["id"] and not new


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic abc", "Bearer"])
def test_token_required(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/v1/models"), ("POST", "/v1/jobs"), ("GET", "/v1/queue"), ("GET", "/v1/jobs/x/events")):
        r = httpx.request(method, api.url + path, headers=headers, json=IMAGE)
        assert r.status_code == 401 and r.json()["field"] == "Authorization"
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(api.url + "/openapi.json").status_code == 200


BAD_BODIES = [
    (b"not json", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"model": "echo-image", "params": {"prompt": "x", "steps": NaN}}', 400, None),
    (b"", 400, None),
    (b"{}", 422, "model"),
    (b'{"model": "nope"}', 422, "model"),
    (b'{"model": 3}', 422, "model"),
    (b'{"model": "echo-image"}', 422, "params.prompt"),
    (b'{"model": "echo-image", "params": {"prompt": "x", "steps": 0}}', 422, "params.steps"),
    (b'{"model": "echo-image", "params": {"prompt": "x", "steps": "many"}}', 422, "params.steps"),
    (b'{"model": "echo-image", "params": {"prompt": "x", "width": 100000}}', 422, "params.width"),
    (b'{"model": "echo-image", "params": {"prompt": "x", "bogus": 1}}', 422, "params.bogus"),
    (b'{"model": "echo-image", "params": "prompt"}', 422, "params"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "colour": "red"}', 422, "colour"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "priority": "high"}', 422, "priority"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "priority": true}', 422, "priority"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "priority": 9223372036854775808}', 422, "priority"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "resolution": "huge"}', 422, "resolution"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "set": ["steps"]}', 422, "set"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "set": [1]}', 422, "set"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "writers": ["nope"]}', 422, "writers"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "metadata_mode": "loud"}', 422, "metadata_mode"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "plan": {"warp": 9}}', 422, "plan"),
    (b'{"model": "echo-image", "params": {"prompt": "x"}, "webhook": "ftp://x"}', 422, "webhook"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_bodies_refused_at_the_door(client: httpx.Client, body: bytes, status: int, field: str | None) -> None:
    before = client.get("/v1/queue").json()["counts"]
    r = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()
    assert set(error) == {"error", "field"} and error["field"] == field, error
    assert "\n" not in error["error"] and "Traceback" not in error["error"]
    assert client.get("/v1/queue").json()["counts"] == before


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["model", "params", "set", "priority", "resolution", "x"]), JSON, max_size=4))
def test_arbitrary_bodies_never_break_the_server(client: httpx.Client, body: dict[str, Any]) -> None:
    r = client.post("/v1/jobs", json=body)
    assert r.status_code in (400, 422), r.text  # no valid model name can come out of these strategies
    assert set(r.json()) == {"error", "field"}


def test_oversized_body(api: Api, client: httpx.Client) -> None:
    big = json.dumps({**IMAGE, "params": {**IMAGE["params"], "prompt": "x" * MAX_BODY}}).encode()
    r = client.post("/v1/jobs", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"].startswith("request body over")

    def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    r = client.post("/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_hundred_concurrent_submits_queued_once(api: Api, client: httpx.Client) -> None:
    assert client.post("/v1/queue/pause").json()["paused"] is True
    keys = [uuid.uuid4().hex for _ in range(100)]
    body = {"model": "echo-image", "params": {"prompt": "crowd", "width": 8, "height": 8, "steps": 1}}

    async def wave() -> list[httpx.Response]:
        async with api.async_client(limits=httpx.Limits(max_connections=100)) as c:
            return await asyncio.gather(*(c.post("/v1/jobs", json=body, headers={"Idempotency-Key": k}) for k in keys))

    try:
        first = asyncio.run(wave())
        assert [r.status_code for r in first] == [201] * 100
        ids = [r.json()["id"] for r in first]
        assert len(set(ids)) == 100
        again = asyncio.run(wave())  # every retry, at once, finds its job
        assert [r.json()["id"] for r in again] == ids and {r.status_code for r in again} == {200}
        backend = api.service.host.queue()
        try:
            stored = [r.id for r in backend.list() if r.id in set(ids)]
        finally:
            backend.close()
        assert sorted(stored) == sorted(ids)
    finally:
        api.service.backend().clear()  # the paused queue holds only these
        assert client.post("/v1/queue/resume").json()["paused"] is False


def test_models_and_queue(client: httpx.Client) -> None:
    models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert {"echo", "echo-image"} <= set(models)
    steps = next(p for p in models["echo-image"]["params"] if p["name"] == "steps")
    assert steps["default"] == 4 and steps["minimum"] == 1
    queue = client.get("/v1/queue").json()
    assert queue["backend"] == "sqlite" and set(queue["counts"]) >= {"queued", "finished"} and queue["workers"]
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.get("/v1/nothing").json() == {"error": "no such endpoint /v1/nothing", "field": None}


def test_openapi_checked_in(api: Api, client: httpx.Client) -> None:
    served = client.get("/openapi.json").json()
    checked_in = json.loads((Path(__file__).resolve().parents[3] / "docs" / "http-openapi.json").read_text())
    assert served == checked_in, "regenerate docs/http-openapi.json: python -m wgp_http.openapi > docs/http-openapi.json"
    from wgp_http.app import create_app

    app = create_app(api.service, lambda: "")
    paths = {route.path.replace("{n:int}", "{n}") for route in app.routes}
    assert paths == set(served["paths"])


def test_stream_resumes_across_a_killed_worker(api: Api) -> None:
    """The worker is killed mid-job and a new one started; the client reconnects with Last-Event-ID
    and gets the rest: the second attempt, then the end, no event twice."""
    import signal

    with api.client() as client:
        job = client.post("/v1/jobs", json={"model": "echo-image", "params": {
            "prompt": "phoenix", "width": 8, "height": 8, "steps": 40, "step_seconds": 0.03}}).json()
        seen: list[dict[str, Any]] = []
        with client.stream("GET", f"/v1/jobs/{job['id']}/events") as response:
            current: dict[str, Any] = {}
            for line in response.iter_lines():
                if line.startswith("id: "):
                    current = {"id": int(line[4:])}
                elif line.startswith("event: "):
                    current["event"] = line[7:]
                    seen.append(current)
                    if current["event"] == "step":
                        break
    old_token = api.token
    api.stop_worker(signal.SIGKILL)
    api.start_worker()
    # The new worker wrote a new control token: the server follows the file.
    assert api.token != old_token
    assert httpx.get(f"{api.url}/v1/queue", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    with api.client() as client:
        rest = follow(client, job["id"], last=seen[-1]["id"])
        assert client.get(f"/v1/jobs/{job['id']}").json()["attempts"] == 2
    names = [e["event"] for e in rest]
    assert names[-1] == "job.finished" and "job.started" in names, names
    assert next(e for e in rest if e["event"] == "job.started")["data"]["attempt"] == 2
    assert min(e["id"] for e in rest) > seen[-1]["id"]


def test_slow_clients_do_not_hold_up_others(api: Api, client: httpx.Client) -> None:
    """Clients that send half a request, or open an event stream and never read it, leave the
    server answering everyone else."""
    import socket

    host, port = api.url.removeprefix("http://").split(":")
    stalled = []
    try:
        for _ in range(20):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            stalled.append(s)
        done = client.get(f"/v1/jobs/{client.post('/v1/jobs', json=IMAGE).json()['id']}")
        unread = socket.create_connection((host, int(port)))
        unread.sendall(f"GET /v1/jobs/{done.json()['id']}/events HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {api.token}\r\n\r\n".encode())
        stalled.append(unread)
        assert follow(client, done.json()["id"])[-1]["event"] == "job.finished"
        assert client.get("/v1/queue").status_code == 200
    finally:
        for s in stalled:
            s.close()


def test_batch_of_a_sweep(client: httpx.Client) -> None:
    key = uuid.uuid4().hex
    body = {**IMAGE, "params": {**IMAGE["params"], "steps": 1}, "sweep": {"seed": "1..3", "width": [8, 16]}}
    r = client.post("/v1/batches", json=body, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    batch = r.json()
    assert batch["object"] == "batch" and batch["jobs"] == 6 and len(set(batch["ids"])) == 6
    again = client.post("/v1/batches", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["id"] == batch["id"]
    done = wait_for("the batch", lambda: (b := client.get(f"/v1/batches/{batch['id']}").json())["done"] and b, timeout=20)
    assert done["counts"]["finished"] == 6 and done["progress"] == 1.0
    seeds = {client.get(f"/v1/jobs/{i}").json()["params"]["seed"] for i in batch["ids"]}
    assert seeds == {1, 2, 3}
    before = client.get("/v1/queue").json()["counts"]
    bad = client.post("/v1/batches", json={**IMAGE, "sweep": {"steps": "1..0"}})
    assert bad.status_code == 422 and bad.json()["field"] == "sweep", bad.text
    bad = client.post("/v1/batches", json={**IMAGE, "sweep": {"steps": [1, 0]}})
    assert bad.status_code == 422 and bad.json()["field"] == "sweep", bad.text
    assert client.post("/v1/batches", json={**IMAGE, "sweep": 3}).json()["field"] == "sweep"
    assert client.get("/v1/queue").json()["counts"] == before  # all or none
    assert client.get("/v1/batches/batch-nope").status_code == 404
