"""The Starlette app: thin routes over :class:`~wgp_http.service.JobService`.

Every route but ``/openapi.json`` needs ``Authorization: Bearer TOKEN``.  Errors are one shape,
``{"error": "...", "field": ...}``.  The service's calls block (SQLite, the door's file probes),
so they run in the thread pool.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .openapi import openapi_schema
from .service import ApiError, JobService
from .videos import video_routes

#: Largest request body accepted (bytes); ``wgp serve --max-body`` changes it.
MAX_BODY = 1024 * 1024
#: Seconds between looks at a followed job's record, and between SSE keep-alive comments.
POLL_S = 0.1
KEEPALIVE_S = 15.0


class TokenFile:
    """The bearer token, read from its file when the file changes: a worker that starts writes a
    new control token, and the API follows it without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._token = ""

    def get(self) -> str:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime, st.st_ino)
            if stamp != self._stamp:
                self._token = self.path.read_text(encoding="utf-8").strip()
                self._stamp = stamp
        except OSError:
            return ""  # no readable token: every request is refused, none fails
        return self._token


def create_app(service: JobService, token: Callable[[], str], max_body: int = MAX_BODY) -> Starlette:
    """The API over ``service``; ``token()`` gives the bearer token now (empty: refuse everyone)."""

    def authorized(request: Request) -> bool:
        expected = token()
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())

    def route(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"error": "missing or wrong bearer token", "field": "Authorization"}, 401,
                                    headers={"WWW-Authenticate": 'Bearer realm="wgp"'})
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.to_dict(), exc.status)

        return endpoint

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body):
            raise ApiError(413, f"request body over {max_body} bytes", None)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise ApiError(413, f"request body over {max_body} bytes", None)
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks) or b"null", parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the request body is not JSON: {exc}", None) from None

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": await run_in_threadpool(service.models)})

    async def submit(request: Request) -> Response:
        body = await read_json(request)
        key = request.headers.get("idempotency-key")
        job, new = await run_in_threadpool(service.submit, body, key)
        headers = {"Location": f"/v1/jobs/{job['id']}"}
        if not new:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(job, 201 if new else 200, headers=headers)

    async def submit_batch(request: Request) -> Response:
        body = await read_json(request)
        batch, new = await run_in_threadpool(service.submit_batch, body, request.headers.get("idempotency-key"))
        headers = {"Location": f"/v1/batches/{batch['id']}"}
        if not new:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(batch, 201 if new else 200, headers=headers)

    async def batch(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.batch, request.path_params["id"]))

    async def job(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.job, request.path_params["id"]))

    async def cancel(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.cancel, request.path_params["id"]))

    async def events(request: Request) -> Response:
        job_id = request.path_params["id"]
        after = _last_event_id(request)
        first, ended = await run_in_threadpool(service.events, job_id, after)  # 404 before the stream starts

        async def stream() -> AsyncIterator[bytes]:
            nonlocal after
            batch, done = first, ended
            idle = 0.0
            while True:
                for event in batch:
                    after = event["id"]
                    yield _sse(event)
                    if event["event"] in ("job.finished", "job.failed", "job.cancelled"):
                        return
                if done and not batch:
                    return
                await asyncio.sleep(POLL_S)
                idle = 0.0 if batch else idle + POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield b": keep-alive\n\n"
                if await request.is_disconnected():
                    return
                batch, done = await run_in_threadpool(service.events, job_id, after)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def artifacts(request: Request) -> Response:
        items = await run_in_threadpool(service.artifacts, request.path_params["id"])
        return JSONResponse({"object": "list", "data": [
            {"index": i, **{k: v for k, v in item.items() if k != "path"}, "name": Path(str(item.get("path"))).name}
            for i, item in enumerate(items)]})

    async def artifact(request: Request) -> Response:
        item = await run_in_threadpool(service.artifact, request.path_params["id"], request.path_params["n"])
        etag = f'"{item.get("sha256")}"'
        if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers={"ETag": etag})
        return FileResponse(str(item["path"]), media_type=item.get("media_type") or "application/octet-stream",
                            filename=Path(str(item["path"])).name, headers={"etag": etag})

    async def queue(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.queue_status))

    async def pause(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.set_paused, True))

    async def resume(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(service.set_paused, False))

    async def schema(request: Request) -> Response:
        return JSONResponse(openapi_schema())

    routes = [
        Route("/openapi.json", schema, methods=["GET"]),
        Route("/v1/models", route(models), methods=["GET"]),
        Route("/v1/jobs", route(submit), methods=["POST"]),
        Route("/v1/jobs/{id}", route(job), methods=["GET"]),
        Route("/v1/jobs/{id}/cancel", route(cancel), methods=["POST"]),
        Route("/v1/jobs/{id}/events", route(events), methods=["GET"]),
        Route("/v1/jobs/{id}/artifacts", route(artifacts), methods=["GET"]),
        Route("/v1/jobs/{id}/artifacts/{n:int}", route(artifact), methods=["GET"]),
        Route("/v1/batches", route(submit_batch), methods=["POST"]),
        Route("/v1/batches/{id}", route(batch), methods=["GET"]),
        Route("/v1/queue", route(queue), methods=["GET"]),
        Route("/v1/queue/pause", route(pause), methods=["POST"]),
        Route("/v1/queue/resume", route(resume), methods=["POST"]),
    ]
    routes += [Route(path, route(handler), methods=methods) for path, handler, methods in video_routes(service, read_json)]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such endpoint {request.url.path}", "field": None}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed on {request.url.path}", "field": None}, 405)


def _last_event_id(request: Request) -> int:
    text = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not text.isdigit():
        raise ApiError(400, f"Last-Event-ID must be an event id (a number), got {text!r}", "Last-Event-ID")
    return int(text)


def _sse(event: dict[str, Any]) -> bytes:
    data = {k: v for k, v in event.items() if k != "id"}
    return f"id: {event['id']}\nevent: {event['event']}\ndata: {json.dumps(data)}\n\n".encode("utf-8")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
