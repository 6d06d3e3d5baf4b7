"""``wgp mcp``: a Model Context Protocol server over stdio (the official ``mcp`` SDK) on the same
queue and the same domain functions as the HTTP API.

Tools: ``list_models``, ``submit_job``, ``job_status``, ``follow_job``, ``cancel_job``,
``job_outputs``.  The client runs the server as its own child process on this machine, so there
is no token (the client already has the user's rights) and outputs are named by their paths.
"""

from __future__ import annotations

import time
from typing import Any

import click


def build_server(service: Any) -> Any:
    """The FastMCP server over ``service`` (a :class:`~wgp_http.service.JobService`)."""
    import asyncio

    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError

    from wgp_hookspecs import ENDED_STATES

    from .service import ApiError

    server = FastMCP("wgp", instructions="Generate video, images and audio with wgp: list the models, submit a job "
                                         "(the same request as POST /v1/jobs), follow it, fetch its outputs.")

    async def call(fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except ApiError as exc:
            raise ToolError(exc.message + (f" (field {exc.field})" if exc.field else "")) from None

    @server.tool()
    async def list_models() -> list[dict[str, Any]]:
        """The model ids with their capabilities, defaults and parameter schemas."""
        return await call(service.models)

    @server.tool()
    async def submit_job(model: str, params: dict[str, Any] | None = None, priority: int = 0,
                         idempotency_key: str | None = None) -> dict[str, Any]:
        """Validate and queue a job; returns it (id, state).  ``params`` are the model's parameters by
        name (see list_models); an idempotency_key makes a retried submit return the same job."""
        body: dict[str, Any] = {"model": model, "params": params or {}, "priority": priority}
        job, _new = await call(service.submit, body, idempotency_key)
        return job

    @server.tool()
    async def job_status(job_id: str) -> dict[str, Any]:
        """A job's state, progress, error and artifacts."""
        return await call(service.job, job_id)

    @server.tool()
    async def follow_job(job_id: str, after: int = 0, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until the job ends or ``timeout_s`` passes; returns its events after event id ``after``
        (pass the last id seen to continue) and whether it ended."""
        deadline = time.monotonic() + max(0.0, min(float(timeout_s), 600.0))
        events: list[dict[str, Any]] = []
        while True:
            batch, ended = await call(service.events, job_id, after)
            events += batch
            after = batch[-1]["id"] if batch else after
            if ended and not batch:
                break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
        state = (await call(service.job, job_id))["state"]
        return {"job": job_id, "state": state, "ended": state in ENDED_STATES, "last_event_id": after, "events": events}

    @server.tool()
    async def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a job: a queued one never runs, a running one stops at its next step."""
        return await call(service.cancel, job_id)

    @server.tool()
    async def job_outputs(job_id: str) -> list[dict[str, Any]]:
        """The files a finished job wrote: path, role, media type, sha256, bytes."""
        return await call(service.artifacts, job_id)

    return server


@click.command("mcp")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE", help="Config file to use.")
@click.pass_obj
def mcp_command(host: Any, config_file: str | None) -> None:
    """Serve the queue as a Model Context Protocol server on stdin/stdout (for agents)."""
    from .service import JobService

    service = JobService(host, config_file)
    service.models()  # plugins loaded before the first request
    service.watch()
    try:
        build_server(service).run(transport="stdio")
    finally:
        service.close()
