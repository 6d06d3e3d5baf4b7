"""The ``wgp`` command line.

Importing this module is cheap (click and the hookspecs only): command bodies
import the runner, PyAV or plugins when they run, so ``wgp --help`` stays fast
and never imports torch.  Every error the user can fix is one line on stderr and
exit status 2; a cancelled job exits with 130.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

from wgp_hookspecs import UserError

from . import __version__
from .plugins import PluginError

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_CANCELLED = 130


class WgpGroup(click.Group):
    """Root group: plugin commands are added on first listing or lookup, errors are one line."""

    def _plugin_commands(self) -> None:
        from .plugins import get_host

        get_host().register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            self._plugin_commands()
            cmd = super().get_command(ctx, cmd_name)
        return cmd

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        try:
            rv = super().main(args=args, prog_name=prog_name or "wgp", standalone_mode=False, **extra)
        except click.exceptions.Abort:
            print("wgp: aborted", file=sys.stderr)
            sys.exit(EXIT_CANCELLED)
        except click.ClickException as exc:
            sys.exit(_one_line_error(exc))
        except UserError as exc:
            print(f"wgp: error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        except PluginError as exc:  # only raised with WGP_STRICT_PLUGINS
            print(f"wgp: error: {exc}", file=sys.stderr)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            print("wgp: interrupted", file=sys.stderr)
            sys.exit(EXIT_CANCELLED)
        except BrokenPipeError:
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback (WGP_DEBUG shows it)
            if os.environ.get("WGP_DEBUG"):
                raise
            print(f"wgp: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line_error(exc: click.ClickException) -> int:
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "wgp"
    hint = f" (see '{where} --help')" if isinstance(exc, click.UsageError) and ctx is not None else ""
    print(f"{where}: error: {message}{hint}", file=sys.stderr)
    return exc.exit_code


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=WgpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="wgp", message="%(prog)s %(version)s")
def cli() -> None:
    """wgp: a headless host for generative video, image and matting models.

    Models, writers, progress sinks and queue backends are plugins; see
    `wgp plugins` and `wgp models`.  Configuration: `wgp config path`.
    """


# --------------------------------------------------------------------------- run

def generation_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags shared by `wgp run` and `wgp queue add`."""
    options = [
        click.option("-m", "--model", "model", metavar="MODEL", help="Model id (see `wgp models`)."),
        click.option("-p", "--prompt", help="Text prompt."),
        click.option("-n", "--negative-prompt", help="What to avoid."),
        click.option("--seed", type=int, help="Seed; -1 or omitted picks one (recorded in the output)."),
        click.option("--steps", type=int, help="Denoising steps."),
        click.option("--guidance", type=float, help="Classifier-free guidance scale."),
        click.option("--width", type=int, help="Width in pixels."),
        click.option("--height", type=int, help="Height in pixels."),
        click.option("--resolution", metavar="WxH", help="Width and height, e.g. 832x480."),
        click.option("--frames", type=int, help="Number of frames."),
        click.option("--fps", type=float, help="Frames per second of the output video."),
        click.option("--image-start", type=click.Path(dir_okay=False), help="Start image (image-to-video)."),
        click.option("--image-end", type=click.Path(dir_okay=False), help="End image (first-last-frame models)."),
        click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE", help="Family-specific parameter; repeatable."),
        click.option("--settings", type=click.Path(dir_okay=False), help="JSON file of parameters (or a request)."),
        click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Re-run the request recorded in an output file or sidecar."),
        click.option("--output-dir", type=click.Path(file_okay=False), help="Where outputs go (default: config output_dir)."),
        click.option("--writer", "writers", multiple=True, metavar="NAME", help="Writer to run; repeatable (default: config writers)."),
        click.option("--metadata-mode", type=click.Choice(["embedded", "json", "none"]), help="Where the generation record goes."),
        click.option("--video-codec", type=click.Choice(["h264", "h265", "vp9", "prores", "ffv1"]), help="Video codec: h264 (mp4), h265 (mp4), vp9 (webm), prores (mov), ffv1 (lossless RGB mkv)."),
        click.option("--crf", type=click.IntRange(0, 51), help="Quality for h264/h265 (lower is better)."),
        click.option("--model-path", metavar="DIR_OR_REPO", help="Weights folder or repo id overriding the default."),
        click.option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps."),
        click.option("--dtype", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), help="Compute dtype."),
        click.option("--offload", type=click.Choice(["none", "model", "group", "sequential"]), help="Offloading strategy."),
        click.option("--vae-tiling/--no-vae-tiling", default=None, help="Decode in tiles (default: auto for large frames)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


class GenerationCommand(click.Command):
    """A command with the generation flags plus the options that adapters contribute.

    Adapter options (``--lora``, ``--enhance-prompt``, ...) come from plugins, so
    they are added when the command's parameters are first asked for.
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not getattr(self, "_adapter_params_added", False):
            self._adapter_params_added = True
            from .plugins import get_host

            taken = {o for p in self.params for o in getattr(p, "opts", [])}
            for opt in get_host().adapter_options():
                if set(opt.flags) & taken:
                    continue  # a flag two adapters both claim: the first keeps it
                taken |= set(opt.flags)
                self.params.append(
                    click.Option([*opt.flags, opt.name], help=opt.help, multiple=opt.multiple,
                                 is_flag=opt.is_flag, default=False if opt.is_flag else None, metavar=opt.metavar)
                )
                ADAPTER_OPTION_NAMES.add(opt.name)
        return super().get_params(ctx)


#: Names of the options added by adapters (filled as commands learn them).
ADAPTER_OPTION_NAMES: set[str] = set()


def submit_options(kw: dict[str, Any]) -> Any:
    from .submit import FLAG_PARAMS, SubmitOptions

    adapter_options = {k: kw.pop(k) for k in list(kw) if k in ADAPTER_OPTION_NAMES}
    return SubmitOptions(
        adapter_options=adapter_options,
        model=kw.pop("model"),
        params={k: kw.pop(k) for k in list(kw) if k in FLAG_PARAMS},
        set_items=kw.pop("set_items"),
        resolution=kw.pop("resolution"),
        settings=kw.pop("settings"),
        from_file=kw.pop("from_file"),
        output_dir=kw.pop("output_dir"),
        writers=kw.pop("writers"),
        metadata_mode=kw.pop("metadata_mode"),
        model_path=kw.pop("model_path"),
        device=kw.pop("device"),
        dtype=kw.pop("dtype"),
        offload=kw.pop("offload"),
        vae_tiling=kw.pop("vae_tiling"),
        writer_options={"video_codec": kw.pop("video_codec"), "crf": kw.pop("crf")},
    )


@cli.command(cls=GenerationCommand)
@generation_options
@click.option("--progress", type=click.Choice(["auto", "console", "jsonl", "none"]), default=None, help="Progress display (auto: a bar on a terminal).")
@click.option("--events", "events_file", type=click.Path(dir_okay=False), help="Append JSONL events to FILE.")
@click.option("--dry-run", is_flag=True, help="Print the assembled request as JSON and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
@click.pass_context
def run(ctx: click.Context, progress: str | None, events_file: str | None, dry_run: bool, as_json: bool, config_file: str | None, **kw: Any) -> None:
    """Generate with MODEL from PROMPT and write the outputs."""
    from .plugins import get_host
    from .runtime import initialize_runtime
    from .submit import build_job

    opts = submit_options(kw)
    runtime = initialize_runtime(config_file)
    host = get_host()
    job, warnings = build_job(host, runtime, opts)
    for warning in warnings:
        print(f"wgp: warning: {warning}", file=sys.stderr)
    if dry_run:
        _echo_json(job.to_dict() if as_json else job.request.to_dict())
        return
    ctx.exit(run_job(host, runtime, job, progress or runtime.get("progress", "auto"), events_file, as_json))


def run_job(host: Any, runtime: Any, job: Any, progress: str, events_file: str | None, as_json: bool) -> int:
    """Run one job in-process as a one-job queue, with Ctrl-C as cancel; returns the exit status.

    Public: plugin commands (``wgp matanyone``) run their jobs through it, so
    there is one code path for every way a job starts.
    """
    import signal

    from .queue import QueueController
    from .runner import Runner
    from .submit import make_channel

    channel = make_channel(host, progress, events_file, runtime.get("progress_sinks", []))
    backend = host.registry.queue_backends.get("memory")
    if backend is None:
        raise UserError("the in-process queue backend 'memory' is disabled; wgp run needs it")
    controller = QueueController(backend({}), Runner(host, runtime.get("model_paths", {})), channel)
    controller.submit(job)

    def on_sigint(signum: int, frame: Any) -> None:
        if not controller.cancel_current("interrupted (Ctrl-C)"):
            raise KeyboardInterrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = controller.run_next()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        channel.close()
    assert outcome is not None
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), default=str))
    if outcome.state == "finished":
        if not as_json:
            for artifact in outcome.artifacts:
                click.echo(f"wrote {artifact.path} ({artifact.role}, {_size(artifact.bytes)})")
        return 0
    if outcome.state == "cancelled":
        print("wgp: cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"wgp: error: {outcome.error}", file=sys.stderr)
    return EXIT_USAGE if outcome.user_error else EXIT_FAILED


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


# --------------------------------------------------------------------------- plugins, models, writers

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Include the host's default plugins and disabled ones.")
def plugins(as_json: bool, show_all: bool) -> None:
    """List installed plugins, their hooks and their status."""
    from .plugins import get_host

    host = get_host()
    host.register_commands(cli)  # so command-name collisions show up here too
    infos = [i for i in host.plugins.values() if show_all or (not i.default and i.status != "disabled")]
    if as_json:
        _echo_json([i.to_dict() for i in infos])
        return
    if not infos:
        click.echo("no plugins installed (wgp plugins --all shows the host's defaults)")
    for info in infos:
        line = f"{info.name:<20} {info.distribution} {info.version:<10} {info.status:<8} {', '.join(sorted(info.hooks))}"
        click.echo(line.rstrip())
        if info.error:
            click.echo(f"{'':<20} error: {info.error}")


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List model ids with their family, capabilities, defaults and constraints."""
    if ctx.invoked_subcommand is not None:
        return
    from .plugins import get_host

    host = get_host()
    rows = []
    for model_id, (family, spec) in sorted(host.registry.models.items()):
        rows.append(
            {
                "id": model_id,
                "family": family.name,
                "plugin": host.registry.owner.get(("model", model_id)),
                "description": spec.description,
                "capabilities": sorted(spec.capabilities),
                "weights": spec.weights,
                "defaults": spec.defaults(),
                "params": [p.describe() for p in spec.params],
                "tiny": family.build_tiny is not None,
            }
        )
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no models: install a model plugin (see `wgp plugins --all`)")
    for row in rows:
        d = row["defaults"]
        size = f"{d['width']}x{d['height']}" if d.get("width") else ""
        frames = f"{d['frames']} frames" if d.get("frames") else ""
        click.echo(f"{row['id']:<22} {row['family']:<10} {', '.join(row['capabilities']):<40} {size} {frames}".rstrip())


@models.command("tiny")
@click.argument("model_id")
@click.argument("folder", type=click.Path(file_okay=False))
def models_tiny(model_id: str, folder: str) -> None:
    """Write a random-weight copy of MODEL_ID to FOLDER (for tests and demos)."""
    from .plugins import get_host
    from .tiny import build_tiny

    family, spec = get_host().model(model_id)
    path = build_tiny(family, spec, folder)
    click.echo(f"wrote tiny {model_id} to {path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def writers(as_json: bool) -> None:
    """List the available writers and the result kinds they accept."""
    from .plugins import get_host

    host = get_host()
    rows = [
        {
            "name": name,
            "kinds": sorted(w.kinds),
            "description": w.description,
            "plugin": host.registry.owner.get(("writer", name)),
        }
        for name, w in sorted(host.registry.writers.items())
    ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']:<12} {','.join(row['kinds']):<22} {row['description']}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def inspect(file: str) -> None:
    """Print the generation record embedded in FILE or in its JSON sidecar."""
    from .records import read_record

    _echo_json(read_record(file))


# --------------------------------------------------------------------------- config

@cli.group()
def config() -> None:
    """Show the effective configuration and where it lives."""


@config.command("show")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
def config_show(config_file: str | None) -> None:
    """Print the effective configuration (file < WGP_* environment) as JSON."""
    from .runtime import initialize_runtime

    runtime = initialize_runtime(config_file)
    _echo_json({"path": str(runtime.config_path), "config": runtime.config, "sources": runtime.sources})


@config.command("path")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
def config_path_cmd(config_file: str | None) -> None:
    """Print the path of the config file in use."""
    from .runtime import config_path

    click.echo(str(config_path(config_file)))


from .queue.cli import queue as _queue_group; cli.add_command(_queue_group)  # noqa: E402, E702


def main() -> None:
    cli.main()
