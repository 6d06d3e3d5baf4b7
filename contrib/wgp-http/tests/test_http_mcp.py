"""``wgp mcp`` driven by the MCP SDK's own stdio client: list, submit, follow, fetch, cancel."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import Api


def result(reply: Any) -> Any:
    assert not reply.isError, reply.content
    if reply.structuredContent is not None:
        data = reply.structuredContent
        return data.get("result", data) if set(data) == {"result"} else data
    return json.loads(reply.content[0].text)


def test_mcp_tools(api: Api) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "wgp_host", "mcp"],
                                   env={**os.environ, "OMP_NUM_THREADS": "1"})

    async def session() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"list_models", "submit_job", "job_status", "follow_job", "cancel_job", "job_outputs"}
            models = result(await client.call_tool("list_models", {}))
            assert "echo-image" in [m["id"] for m in models]
            job = result(await client.call_tool("submit_job", {
                "model": "echo-image", "params": {"prompt": "mcp", "width": 8, "height": 8, "steps": 2},
                "idempotency_key": "mcp-1"}))
            again = result(await client.call_tool("submit_job", {
                "model": "echo-image", "params": {"prompt": "mcp", "width": 8, "height": 8, "steps": 2},
                "idempotency_key": "mcp-1"}))
            assert again["id"] == job["id"]
            followed = result(await client.call_tool("follow_job", {"job_id": job["id"], "timeout_s": 20}))
            assert followed["ended"] and followed["state"] == "finished"
            assert [e["event"] for e in followed["events"]][-1] == "job.finished"
            outputs = result(await client.call_tool("job_outputs", {"job_id": job["id"]}))
            assert hashlib.sha256(Path(outputs[0]["path"]).read_bytes()).hexdigest() == outputs[0]["sha256"]
            refused = await client.call_tool("cancel_job", {"job_id": job["id"]})
            assert refused.isError and "already finished" in refused.content[0].text
            bad = await client.call_tool("submit_job", {"model": "echo-image", "params": {"steps": 0}})
            assert bad.isError and "field params." in bad.content[0].text

    asyncio.run(asyncio.wait_for(session(), 60))
