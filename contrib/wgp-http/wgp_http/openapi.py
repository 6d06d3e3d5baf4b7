"""The API's OpenAPI 3.1 document, written out (checked in as ``docs/http-openapi.json``;
a test compares the two and checks that every route is described)."""

from __future__ import annotations

from typing import Any

from . import __version__

_ERROR = {"description": "Refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JOB = {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}
_QUEUE = {"description": "The queue", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Queue"}}}}
_VIDEO = {"description": "The video", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Video"}}}}
_BATCH = {"description": "The batch", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, responses: dict[str, Any], *, params: list[Any] | None = None, body: str | None = None,
        extra_headers: list[Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, "401": _ERROR}}
    if params or extra_headers:
        op["parameters"] = [*(params or []), *(extra_headers or [])]
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    return op


def openapi_schema() -> dict[str, Any]:
    idempotency = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255},
                   "description": "A retried submit with the same key and body returns the same job (200)."}
    last_event = {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                  "description": "Resume after this event id."}
    n = {"name": "n", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "wgp HTTP API", "version": __version__,
                 "description": "Jobs on the wgp queue: submit, follow (Server-Sent Events), download, cancel."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "field"], "properties": {
                    "error": {"type": "string"}, "field": {"type": ["string", "null"]}}},
                "JobRequest": {"type": "object", "additionalProperties": False, "required": ["model"], "properties": {
                    "model": {"type": "string"},
                    "params": {"type": "object", "description": "Schema parameters by name (see GET /v1/models)."},
                    "set": {"type": "array", "items": {"type": "string"}, "description": "KEY=VALUE items, as --set."},
                    "resolution": {"type": "string", "description": "WIDTHxHEIGHT, as --resolution."},
                    "profile": {"type": "string"},
                    "writers": {"type": "array", "items": {"type": "string"}},
                    "metadata_mode": {"type": "string", "enum": ["embedded", "json", "none"]},
                    "plan": {"type": "object", "description": "Plan options by name (dtype, offload, ...)."},
                    "adapters": {"type": "object", "description": "Adapter options by name (lora, ...)."},
                    "priority": {"type": "integer"},
                    "webhook": {"type": "string", "description": "URL called when the job ends (needs the webhook sink on the worker)."},
                }},
                "Job": {"type": "object", "properties": {
                    "id": {"type": "string"}, "object": {"const": "job"},
                    "state": {"type": "string", "enum": ["queued", "running", "finished", "failed", "cancelled", "interrupted"]},
                    "priority": {"type": "integer"}, "attempts": {"type": "integer"}, "model": {"type": ["string", "null"]},
                    "params": {"type": "object"}, "batch": {"type": ["string", "null"]},
                    "created": {"type": ["number", "null"]}, "started": {"type": ["number", "null"]},
                    "finished": {"type": ["number", "null"]}, "progress": {"type": "object"},
                    "error": {"type": ["string", "null"]},
                    "artifacts": {"type": "array", "items": {"type": "object"}},
                    "warnings": {"type": "array", "items": {"type": "string"}}}},
                "BatchRequest": {"allOf": [{"$ref": "#/components/schemas/JobRequest"}], "required": ["model", "sweep"],
                                 "properties": {"sweep": {
                                     "description": "One job per combination: {\"seed\": \"1..4\", \"steps\": [2, 4]} or [\"seed=1..4\"], as --sweep.",
                                     "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "string"}}]}}},
                "Batch": {"type": "object", "properties": {
                    "id": {"type": "string"}, "object": {"const": "batch"}, "jobs": {"type": "integer"},
                    "counts": {"type": "object"}, "steps": {"type": "integer"}, "total_steps": {"type": "integer"},
                    "progress": {"type": "number"}, "done": {"type": "boolean"},
                    "failed": {"type": "array", "items": {"type": "string"}},
                    "cancelled": {"type": "array", "items": {"type": "string"}},
                    "ids": {"type": "array", "items": {"type": "string"}},
                    "warnings": {"type": "array", "items": {"type": "string"}}}},
                "Queue": {"type": "object", "properties": {
                    "backend": {"type": "string"}, "paused": {"type": "boolean"}, "counts": {"type": "object"},
                    "workers": {"type": "array", "items": {"type": "string"}}, "changed": {"type": "boolean"}}},
                "VideoRequest": {"type": "object", "additionalProperties": False, "required": ["model"], "properties": {
                    "model": {"type": "string"}, "prompt": {"type": "string"},
                    "size": {"type": "string", "description": "WIDTHxHEIGHT"},
                    "seconds": {"type": ["string", "number"]}}},
                "Video": {"type": "object", "properties": {
                    "id": {"type": "string"}, "object": {"const": "video"}, "model": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed"]},
                    "progress": {"type": "integer"}, "created_at": {"type": "integer"},
                    "completed_at": {"type": ["integer", "null"]}, "size": {"type": ["string", "null"]},
                    "seconds": {"type": ["string", "null"]}, "error": {"type": ["object", "null"]}}},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/openapi.json": {"get": {"summary": "This document (no token needed)", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/v1/models": {"get": _op("Models with their parameter schemas (as `wgp models --json`)",
                                      {"200": {"description": "{object: list, data: [...]}"}})},
            "/v1/jobs": {"post": _op("Validate and queue a job (as `wgp queue add`)",
                                     {"201": _JOB, "200": _JOB, "400": _ERROR, "409": _ERROR, "413": _ERROR, "422": _ERROR},
                                     body="JobRequest", extra_headers=[idempotency])},
            "/v1/jobs/{id}": {"get": _op("A job's state, progress, error and artifacts", {"200": _JOB, "404": _ERROR}, params=[_ID])},
            "/v1/jobs/{id}/cancel": {"post": _op("Cancel a job: a queued one never runs, a running one stops at its next step",
                                                 {"200": _JOB, "404": _ERROR, "409": _ERROR}, params=[_ID])},
            "/v1/jobs/{id}/events": {"get": _op(
                "The job's events as Server-Sent Events, from the start or after Last-Event-ID (also ?after=ID); "
                "the stream ends after job.finished, job.failed or job.cancelled",
                {"200": {"description": "text/event-stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                 "400": _ERROR, "404": _ERROR}, params=[_ID], extra_headers=[last_event])},
            "/v1/jobs/{id}/artifacts": {"get": _op("The job's artifacts (role, media_type, sha256, bytes, name)",
                                                   {"200": {"description": "{object: list, data: [...]}"}, "404": _ERROR}, params=[_ID])},
            "/v1/jobs/{id}/artifacts/{n}": {"get": _op(
                "Download artifact n (ETag is its sha256; Range and If-None-Match honoured)",
                {"200": {"description": "The file"}, "206": {"description": "A range of the file"}, "304": {"description": "Not modified"},
                 "404": _ERROR, "410": _ERROR}, params=[_ID, n])},
            "/v1/batches": {"post": _op("Validate every job of a sweep and queue them all, or none (as `wgp queue add --sweep`)",
                                        {"201": _BATCH, "200": _BATCH, "400": _ERROR, "409": _ERROR, "413": _ERROR, "422": _ERROR},
                                        body="BatchRequest", extra_headers=[idempotency])},
            "/v1/batches/{id}": {"get": _op("A batch rolled up (as `wgp queue status BATCH --json`)", {"200": _BATCH, "404": _ERROR},
                                            params=[_ID])},
            "/v1/queue": {"get": _op("Counts per state, paused flag, live workers", {"200": _QUEUE})},
            "/v1/queue/pause": {"post": _op("Workers finish their current job and start no new one", {"200": _QUEUE, "409": _ERROR})},
            "/v1/queue/resume": {"post": _op("Workers take jobs again", {"200": _QUEUE, "409": _ERROR})},
            "/v1/videos": {"post": _op("OpenAI-style: create a video job (model, prompt, size, seconds; other fields refused)",
                                       {"200": _VIDEO, "400": _ERROR, "413": _ERROR, "422": _ERROR}, body="VideoRequest",
                                       extra_headers=[idempotency])},
            "/v1/videos/{id}": {"get": _op("OpenAI-style: retrieve a video job", {"200": _VIDEO, "404": _ERROR}, params=[_ID])},
            "/v1/videos/{id}/content": {"get": _op("OpenAI-style: download the video (variant=video)",
                                                   {"200": {"description": "The file"}, "404": _ERROR, "409": _ERROR, "422": _ERROR},
                                                   params=[_ID])},
        },
    }


if __name__ == "__main__":  # python -m wgp_http.openapi > docs/http-openapi.json
    import json

    print(json.dumps(openapi_schema(), indent=2, sort_keys=True))
