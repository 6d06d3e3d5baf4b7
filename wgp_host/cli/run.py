"""``wgp run``: validate a job at the door and run it in this process."""

from __future__ import annotations

from typing import Any

import click

from .common import CONFIG_OPTION, echo_json
from .options import EVENTS_OPTION, PROGRESS_OPTION, GenerationCommand, generation_options, job_options


@click.command(cls=GenerationCommand)
@generation_options
@PROGRESS_OPTION
@EVENTS_OPTION
@click.option("--dry-run", is_flag=True, help="Print the assembled request as JSON and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@CONFIG_OPTION
@click.pass_context
def run(ctx: click.Context, progress: str | None, events_file: str | None, dry_run: bool, as_json: bool,
        config_file: str | None, **kw: Any) -> None:
    """Generate with MODEL from PROMPT and write the outputs."""
    from ..interface import PluginFacingHost, print_warnings

    options = job_options(kw)
    if not dry_run:
        ctx.exit(PluginFacingHost().run_job(options, config_file=config_file, progress=progress,
                                            events_file=events_file, as_json=as_json))
    from ..plugins import get_host
    from ..runtime import initialize_runtime
    from ..submit import build_job

    job, warnings = build_job(get_host(), initialize_runtime(config_file), options)
    print_warnings(warnings)
    echo_json(job.to_dict() if as_json else job.request.to_dict())
