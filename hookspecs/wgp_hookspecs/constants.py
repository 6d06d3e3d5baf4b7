"""The fixed vocabularies of wgp's contracts.  Cheap to import: the CLI's choice lists use them."""

from __future__ import annotations

#: Version of the event, request and record JSON layouts.
SCHEMA_VERSION = 1

#: Largest seed: every family's generator (torch, numpy) accepts 32-bit seeds.
MAX_SEED = 2**32 - 1

#: Where the generation record goes: in the media file, in a JSON sidecar, or nowhere.
METADATA_MODES = ("embedded", "json", "none")
#: How a command shows progress: a bar on a terminal when there is one, a bar, JSON lines on stdout, nothing.
PROGRESS_MODES = ("auto", "console", "jsonl", "none")

#: Every state a queued job can be in.
JOB_STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
#: States of jobs waiting to run (``interrupted``: its worker died, a retry is due).
WAITING_STATES = ("queued", "interrupted")
#: States of jobs that ended.
ENDED_STATES = ("finished", "failed", "cancelled")

#: Job priorities every queue backend stores: SQLite's (and most stores') 64-bit integers.
PRIORITY_RANGE = (-(2**63), 2**63 - 1)

#: The capability strings a ``ModelSpec`` lists, with what each means: what a model takes and
#: makes.  ``wgp models`` shows them; tools choose models by them.  A new one is added here.
CAPABILITIES = {
    "text-to-video": "makes a video from a prompt",
    "image-to-video": "makes a video that starts from an image (image_start)",
    "first-last-frame-to-video": "makes a video from a first and a last image (image_start, image_end)",
    "text-to-image": "makes images from a prompt",
    "image-editing": "makes an image from an input image and an instruction",
    "image-to-image": "makes an image that starts from an input image's noised latents (image_start, strength)",
    "text-to-audio": "makes audio from a prompt",
    "video-in": "takes a video as input",
    "mask-in": "takes a mask image as input",
    "video-matting": "separates a video's subject from its background",
    "audio-out": "its result carries audio tracks",
    "mattes-out": "its result carries alpha mattes",
}
