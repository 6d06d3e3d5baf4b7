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
