"""An OpenAI-style ``/v1/videos`` façade: create, retrieve, content, mapped onto jobs.

Fields with a meaning here: ``model``, ``prompt``, ``size`` (``WIDTHxHEIGHT``) and
``seconds`` (frames = seconds x the model's fps); any other field is refused by name rather
than ignored, so a client never believes a setting took effect when it did not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from .service import ApiError, JobService

FIELDS = ("model", "prompt", "size", "seconds")
#: Job states as the videos API names them.
STATUS = {"queued": "queued", "interrupted": "queued", "running": "in_progress", "finished": "completed",
          "failed": "failed", "cancelled": "failed"}


#: Job request fields as the videos API calls them.
_FIELD_NAMES = {"resolution": "size", "params.width": "size", "params.height": "size", "params.prompt": "prompt",
                "params.frames": "seconds"}


def job_request(service: JobService, body: Any) -> dict[str, Any]:
    """A videos create body as a job request of ``POST /v1/jobs``."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    for name in body:
        if name not in FIELDS:
            raise ApiError(422, f"field {name!r} is not supported here; supported: {', '.join(FIELDS)}", name)
    for name in ("model", "prompt", "size"):
        if name in body and not isinstance(body[name], str):
            raise ApiError(422, f"{name} must be a string", name)
    if not body.get("model"):
        raise ApiError(422, "no model given: set model (see GET /v1/models)", "model")
    request: dict[str, Any] = {"model": body["model"], "params": {}}
    if "prompt" in body:
        request["params"]["prompt"] = body["prompt"]
    if "size" in body:
        request["resolution"] = body["size"]
    if "seconds" in body:
        seconds = body["seconds"]
        try:
            seconds = float(seconds)  # OpenAI sends it as a string ("4")
        except (TypeError, ValueError):
            raise ApiError(422, f"seconds must be a number (got {body['seconds']!r})", "seconds") from None
        if not seconds > 0:
            raise ApiError(422, "seconds must be above 0", "seconds")
        try:
            _, spec = service.host.model(body["model"])
        except Exception as exc:  # noqa: BLE001 - the door's message, as a field error
            raise ApiError(422, str(exc), "model") from None
        fps = spec.defaults().get("fps")
        if not fps:
            raise ApiError(422, f"seconds does not apply to {body['model']} (it makes no video)", "seconds")
        request["params"]["frames"] = max(1, round(seconds * float(fps)))
    return request


def video_object(job: dict[str, Any]) -> dict[str, Any]:
    params = job.get("params") or {}
    progress = job.get("progress") or {}
    percent = 100 if job["state"] == "finished" else (
        int(100 * progress["step"] / progress["total"]) if progress.get("total") and progress.get("step") else 0)
    fps, frames = params.get("fps"), params.get("frames")
    return {
        "id": job["id"],
        "object": "video",
        "model": job.get("model"),
        "status": STATUS.get(job["state"], job["state"]),
        "progress": percent,
        "created_at": int(job["created"] or 0),
        "completed_at": int(job["finished"]) if job.get("finished") else None,
        "size": f"{params['width']}x{params['height']}" if params.get("width") else None,
        "seconds": str(round(frames / fps, 3)) if fps and frames else None,
        "error": {"message": job["error"]} if job.get("error") and job["state"] != "finished" else None,
    }


def video_routes(service: JobService, read_json: Callable[[Request], Awaitable[Any]]) -> list[tuple[str, Any, list[str]]]:
    async def create(request: Request) -> Response:
        body = await read_json(request)
        job_body = await run_in_threadpool(job_request, service, body)
        try:
            job, new = await run_in_threadpool(service.submit, job_body, request.headers.get("idempotency-key"))
        except ApiError as exc:  # the door names job fields: say which videos field it was
            exc.field = _FIELD_NAMES.get(exc.field or "", exc.field)
            raise
        return JSONResponse(video_object(job), 200)

    async def retrieve(request: Request) -> Response:
        return JSONResponse(video_object(await run_in_threadpool(service.job, request.path_params["id"])))

    async def content(request: Request) -> Response:
        job_id = request.path_params["id"]
        variant = request.query_params.get("variant", "video")
        if variant != "video":
            raise ApiError(422, f"variant {variant!r} is not available; available: video", "variant")
        job = await run_in_threadpool(service.job, job_id)
        if job["state"] != "finished":
            raise ApiError(409, f"video {job_id} is {STATUS.get(job['state'], job['state'])}, not completed", "id")
        items = await run_in_threadpool(service.artifacts, job_id)
        index = next((i for i, a in enumerate(items) if a.get("role") == "video"), None)
        if index is None:
            index = next((i for i, a in enumerate(items) if a.get("role") == "image"), None)
        if index is None:
            raise ApiError(404, f"job {job_id} wrote no video", "id")
        item = await run_in_threadpool(service.artifact, job_id, index)
        return FileResponse(str(item["path"]), media_type=item.get("media_type") or "application/octet-stream",
                            filename=Path(str(item["path"])).name, headers={"etag": f'"{item.get("sha256")}"'})

    return [
        ("/v1/videos", create, ["POST"]),
        ("/v1/videos/{id}", retrieve, ["GET"]),
        ("/v1/videos/{id}/content", content, ["GET"]),
    ]
