"""The progress channel: typed events fanned out to every active sink."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable

from wgp_hookspecs import ProgressEvent, ProgressSink

Listener = Callable[[ProgressEvent], None]


class ProgressChannel:
    """Sends each event to the sinks and listeners; a failing sink is dropped, not fatal."""

    def __init__(self, sinks: Iterable[ProgressSink] = (), listeners: Iterable[Listener] = ()) -> None:
        self.sinks = list(sinks)
        self.listeners = list(listeners)

    def emit(self, event: str, job: str | None = None, **fields: Any) -> ProgressEvent:
        ev = ProgressEvent(event=event, job=job, fields=fields)
        for listener in list(self.listeners):
            listener(ev)
        for sink in list(self.sinks):
            try:
                sink.emit(ev)
            except Exception as exc:  # noqa: BLE001 - a display problem must not fail the job
                self.sinks.remove(sink)
                print(f"wgp: warning: progress sink {sink.name!r} disabled: {exc}", file=sys.stderr)
        return ev

    def bind(self, job: str) -> Callable[..., ProgressEvent]:
        """An ``emit`` with the job id filled in, as handed to families and writers."""

        def emit(event: str, **fields: Any) -> ProgressEvent:
            return self.emit(event, job, **fields)

        return emit

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # noqa: BLE001
                pass
