"""``wgp run``: validate a job at the door and run it in this process."""

from __future__ import annotations

from typing import Any

import click

from .common import CONFIG_OPTION, echo_json
from .options import EVENTS_OPTION, PROGRESS_OPTION, SWEEP_OPTION, GenerationCommand, generation_options, job_options


@click.command(cls=GenerationCommand)
@generation_options
@PROGRESS_OPTION
@EVENTS_OPTION
@click.option("--dry-run", is_flag=True, help="Print the assembled request and the adapters' payloads as JSON and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@SWEEP_OPTION
@CONFIG_OPTION
@click.pass_context
def run(ctx: click.Context, progress: str | None, events_file: str | None, dry_run: bool, as_json: bool,
        sweeps: tuple[str, ...], config_file: str | None, **kw: Any) -> None:
    """Generate with MODEL from PROMPT and write the outputs."""
    from ..interface import PluginFacingHost, print_warnings

    options = job_options(kw)
    if sweeps:
        ctx.exit(_run_sweep(options, sweeps, progress, events_file, dry_run, as_json, config_file))
    if not dry_run:
        ctx.exit(PluginFacingHost().run_job(options, config_file=config_file, progress=progress,
                                            events_file=events_file, as_json=as_json))
    from ..plugins import get_host
    from ..runtime import initialize_runtime
    from ..submit import build_job

    job, warnings = build_job(get_host(), initialize_runtime(config_file), options)
    print_warnings(warnings)
    # The adapters' payloads (the LoRA files with their hashes, an enhanced prompt) change
    # the output as much as the request does: a dry run that hid them would not say what runs.
    adapters = {name: dict(payload) for name, payload in job.adapters.items()}
    echo_json(job.to_dict() if as_json else {**job.request.to_dict(), "adapters": adapters})


def _run_sweep(options: Any, sweeps: tuple[str, ...], progress: str | None, events_file: str | None, dry_run: bool,
               as_json: bool, config_file: str | None) -> int:
    """``wgp run --sweep``: every job validated first, then run here one after another, the model kept loaded."""
    from ..batch import build_batch
    from ..inprocess import run_batch
    from ..interface import print_warnings
    from ..plugins import get_host
    from ..runtime import initialize_runtime

    host, runtime = get_host(), initialize_runtime(config_file)
    _, jobs, warnings = build_batch(host, runtime, options, sweeps)
    print_warnings(warnings)
    if dry_run:
        echo_json([job.to_dict() if as_json else job.request.to_dict() for job in jobs])
        return 0
    return run_batch(host, runtime, jobs, progress or runtime.get("progress", "auto"), events_file, as_json)
