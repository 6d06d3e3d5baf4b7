"""Console progress sink: a rich progress bar on an interactive terminal."""

from __future__ import annotations

import sys
from typing import Any

from wgp_hookspecs import ProgressEvent, ProgressSink, SinkOptions, hookimpl


class ConsoleSink(ProgressSink):
    name = "console"
    description = "Progress bar on the terminal (stderr); only used on a TTY with --progress auto"

    def __init__(self, options: SinkOptions) -> None:
        super().__init__(options)
        self._progress: Any = None
        self._task: Any = None
        self._stream = options.target or sys.stderr

    def _bar(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(file=self._stream, force_terminal=self.options.tty or None)
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console, transient=True,
            )
            self._progress.start()
        return self._progress

    def emit(self, event: ProgressEvent) -> None:
        f = event.fields
        if event.event == "model.loading":
            self._print(f"loading {f.get('model')} from {f.get('weights') or 'built-in'}")
        elif event.event == "step":
            bar = self._bar()
            if self._task is None:
                self._task = bar.add_task(f"job {event.job}", total=f.get("total"))
            bar.update(self._task, completed=f.get("step"), total=f.get("total"))
        elif event.event in ("job.finished", "job.failed", "job.cancelled"):
            self.close()
            if event.event != "job.finished":
                self._print(f"{event.event.split('.')[1]}: {f.get('error') or f.get('reason') or ''}".rstrip(": "))
        elif event.event == "job.warning":
            self._print(f"warning: {f.get('message')}")

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(f"wgp: {text}", file=self._stream)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None


@hookimpl
def register_progress_sinks(register: Any) -> None:
    register(ConsoleSink)
