"""The OpenAI-style /v1/videos façade over jobs."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from wgp_host.testing import wait_for


def test_create_retrieve_content(client: httpx.Client) -> None:
    r = client.post("/v1/videos", json={"model": "echo", "prompt": "a wave", "size": "16x16", "seconds": "0.5"})
    assert r.status_code == 200, r.text
    video = r.json()
    assert video["object"] == "video" and video["status"] == "queued" and video["size"] == "16x16" and video["seconds"] == "0.5"
    done = wait_for("the video", lambda: (v := client.get(f"/v1/videos/{video['id']}").json())["status"] == "completed" and v,
                    timeout=20)
    assert done["progress"] == 100 and done["completed_at"] >= done["created_at"] and done["error"] is None
    content = client.get(f"/v1/videos/{video['id']}/content")
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    assert content.headers["etag"] == f'"{hashlib.sha256(content.content).hexdigest()}"'
    # The same job through the job API.
    assert client.get(f"/v1/jobs/{video['id']}").json()["params"]["frames"] == 8


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "echo", "prompt": "x", "input_reference": "cat.png"}, "input_reference"),
    ({"model": "echo", "prompt": "x", "remix_video_id": "v1"}, "remix_video_id"),
    ({"prompt": "x"}, "model"),
    ({"model": "echo", "prompt": "x", "seconds": "long"}, "seconds"),
    ({"model": "echo", "prompt": "x", "size": "big"}, "size"),
    ({"model": "echo", "prompt": "x", "size": "9000x16"}, "size"),
    ({"model": "echo", "size": "16x16"}, "prompt"),
    ({"model": "echo-audio", "prompt": "x", "seconds": 2}, "seconds"),
])
def test_unknown_or_bad_fields_refused_by_name(client: httpx.Client, body: dict, field: str) -> None:
    r = client.post("/v1/videos", json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_content_before_completion(client: httpx.Client) -> None:
    video = client.post("/v1/videos", json={"model": "echo", "prompt": "slow", "size": "8x8", "seconds": 1}).json()
    r = client.get(f"/v1/videos/{video['id']}/content", params={"variant": "thumbnail"})
    assert r.status_code == 422 and r.json()["field"] == "variant"
    assert client.get("/v1/videos/nope").status_code == 404
