"""JSON-lines progress sink: one event per line to stdout or to ``--events FILE``."""

from __future__ import annotations

import json
import os
from typing import IO, Any

from wgp_hookspecs import ProgressEvent, ProgressSink, SinkOptions, hookimpl


class JsonlSink(ProgressSink):
    name = "jsonl"
    description = "Events as JSON lines (stdout, or a file with --events FILE)"

    def __init__(self, options: SinkOptions) -> None:
        super().__init__(options)
        target = options.target
        self._owned = isinstance(target, (str, os.PathLike))
        self._stream: IO[str] = open(target, "a", encoding="utf-8") if self._owned else target  # noqa: SIM115

    def emit(self, event: ProgressEvent) -> None:
        # One write per line keeps lines whole when several processes append.
        self._stream.write(json.dumps(event.to_dict(), default=str) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()


@hookimpl
def register_progress_sinks(register: Any) -> None:
    register(JsonlSink)
