"""Named points in a job's commit where a test can freeze the process, then ``kill -9`` it.

``WGP_TEST_PAUSE_AT=NAME`` (comma-separated for several) makes the process stop itself
with SIGSTOP when it reaches point NAME; the test sees it stopped, checks the files and
sends SIGKILL (or SIGCONT).  Crash consistency can then be tested at exact instants
instead of at whatever step a timer happened to hit.  Unset, a point costs one lookup.

Points (in commit order): ``artifact.linked`` (a file has its final name, its temporary
still exists, no ``artifact`` event yet), ``artifact.recorded`` (after the event),
``writers.done`` (every writer ran, the manifest holds the job's lines; not yet
finished), ``job.completed`` (the queue marked the job finished), and in recovery
``recover.discarded`` (the dead attempt's records are removed, its files not yet).
"""

from __future__ import annotations

import os
import signal

PAUSE_ENV = "WGP_TEST_PAUSE_AT"
POINTS = ("artifact.linked", "artifact.recorded", "writers.done", "job.completed", "recover.discarded")


def pause_point(name: str) -> None:
    """Stop this process (SIGSTOP) when ``WGP_TEST_PAUSE_AT`` names ``name``."""
    wanted = os.environ.get(PAUSE_ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGSTOP)
