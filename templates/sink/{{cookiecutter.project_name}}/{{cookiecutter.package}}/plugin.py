"""The ``{{ cookiecutter.plugin_name }}`` progress sink: one summary line per job.

The host creates one instance per run with :class:`~wgp_hookspecs.SinkOptions`, calls
``emit`` for every event and ``close`` at the end.  A sink that raises is dropped for the
rest of the run with a warning, and the job goes on: a sink must never decide a job's fate.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from wgp_hookspecs import ProgressEvent, ProgressSink, SinkOptions, hookimpl

#: The events that end a job.
ENDINGS = {"job.finished": "finished", "job.failed": "failed", "job.cancelled": "cancelled"}


class {{ cookiecutter.class_name }}Sink(ProgressSink):
    name = "{{ cookiecutter.plugin_name }}"
    description = "One summary line per job (stderr, or the target file)"

    def __init__(self, options: SinkOptions) -> None:
        super().__init__(options)
        self.started: dict[str, float] = {}
        self.steps: dict[str, int] = {}

    def emit(self, event: ProgressEvent) -> None:
        job = event.job or "-"
        if event.event == "job.started":
            self.started[job] = event.ts
        elif event.event == "step":
            self.steps[job] = int(event.fields["step"])
        elif event.event in ENDINGS:
            seconds = event.ts - self.started.pop(job, event.ts)
            files = len(event.fields.get("artifacts") or [])
            self.write(f"{job} {ENDINGS[event.event]}: {self.steps.pop(job, 0)} steps, {files} files, {seconds:.1f} s")

    def write(self, line: str) -> None:
        """To ``options.target`` (a stream, or a file path to append to), else stderr."""
        target: Any = self.options.target or sys.stderr
        if isinstance(target, (str, Path)):
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        else:
            stream: TextIO = target
            stream.write(line + "\n")
            stream.flush()


@hookimpl
def register_progress_sinks(register: Callable[[type[ProgressSink]], None]) -> None:
    register({{ cookiecutter.class_name }}Sink)
