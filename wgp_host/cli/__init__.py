"""The ``wgp`` command line, as a package.

``wgp_host.cli`` holds the root group and wiring; each command lives in its own
module (``run``, ``info``, ``config``, ``queue``, ``plugin``) and imports only click and
:mod:`.common`/:mod:`.options` (``plugin`` also :mod:`wgp_host.scaffold`, for its list of
kinds), never this module, so there are no import cycles.  Importing the package is cheap: command bodies import the runner,
PyAV or plugins when they run.  Plugin commands come from ``wgp.commands``
entry points (:mod:`.lazy`), listed from metadata, so ``wgp --help`` imports no
plugin module and never torch.  Every error the user can fix is one line on
stderr and exit status 2; a cancelled job exits with 130.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from wgp_hookspecs import UserError

from .. import __version__
from ..plugin_env import PluginError
from ..commands import LazyCommand, lazy_commands
from .common import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE

#: The built-in commands: name -> (module of this package, attribute, the one-line help that
#: ``wgp --help`` shows without importing the module; a test keeps it equal to the command's).
BUILTINS = {
    "config": ("config", "config", "Show the effective configuration and where it lives."),
    "inspect": ("info", "inspect", "Print the generation record embedded in FILE or in its JSON sidecar."),
    "models": ("info", "models", "List model ids with their family, capabilities, defaults and constraints."),
    "plugin": ("plugin", "plugin", "Create a plugin project from a template: wgp plugin new NAME --kind KIND."),
    "plugins": ("info", "plugins", "List installed plugins, their hooks, their commands and their status."),
    "profiles": ("info", "profiles", "List the profiles (--profile NAME) of every model, or of MODEL: what each sets and its source."),
    "queue": ("queue", "queue", "Persistent job queue: add jobs, run a worker that keeps models loaded, control it."),
    "run": ("run", "run", "Generate with MODEL from PROMPT and write the outputs."),
    "writers": ("info", "writers", "List the available writers and the result kinds they accept."),
}


class BuiltinCommand(click.Command):
    """A built-in command's name and help, standing in until the command is looked up (then its
    module is imported): the names are taken for collision checks, and ``--help`` imports nothing."""

    def __init__(self, name: str, module: str, attribute: str, summary: str) -> None:
        super().__init__(name, help=summary)
        self.target = (module, attribute)

    def load(self) -> click.Command:
        import importlib

        module, attribute = self.target
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)


class WgpGroup(click.Group):
    """Root group: built-in commands, lazily imported plugin commands, one-line errors."""

    _lazy: dict[str, LazyCommand] | None = None

    def lazy(self) -> dict[str, LazyCommand]:
        """Plugin commands declared in metadata that are not loaded yet (a built-in name wins)."""
        if self._lazy is None:
            self._lazy = {}
            for entry in lazy_commands():
                if entry.name in self.commands:
                    print(f"wgp: warning: {entry.distribution}: command name {entry.name!r} is already taken; "
                          "the plugin's command is ignored", file=sys.stderr)
                    continue
                self._lazy[entry.name] = entry
        return self._lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, BuiltinCommand):
            cmd = self.commands[cmd_name] = cmd.load()
        if cmd is not None:
            return cmd
        entry = self.lazy().get(cmd_name)
        if entry is not None:
            try:
                cmd = entry.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin command is one line, never a traceback
                from ..failure import failure_text

                raise UserError(f"command {cmd_name!r} of {entry.distribution} failed to load: {failure_text(exc)}") from None
            self.add_command(cmd, cmd_name)
            return cmd
        # Commands registered through the register_commands hook need the plugins loaded.
        from ..plugins import get_host

        get_host().register_commands(self)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list without importing plugin commands: their distribution's summary stands in."""
        limit = formatter.width - 6 - max((len(name) for name in self.list_commands(ctx)), default=0)
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is not None:
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
            else:
                entry = self.lazy()[name]
                rows.append((name, _shorten(f"{entry.summary} [{entry.distribution}]".strip(), limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
            from ..failure import debug, failure_text

            if debug():
                raise
            print(f"wgp: error: {failure_text(exc)}", file=sys.stderr)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else 0)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 1)].rstrip() + "..."


def _one_line_error(exc: click.ClickException) -> int:
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "wgp"
    hint = f" (see '{where} --help')" if isinstance(exc, click.UsageError) and ctx is not None else ""
    print(f"{where}: error: {message}{hint}", file=sys.stderr)
    return exc.exit_code


@click.group(cls=WgpGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="wgp", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """wgp: a headless host for generative video, image and matting models.

    Models, writers, progress sinks and queue backends are plugins; see
    `wgp plugins` and `wgp models`.  Configuration: `wgp config path`.
    """
    if ctx.obj is None:
        from ..interface import PluginFacingHost

        # Plugin commands take the host interface with @click.pass_obj.
        ctx.obj = PluginFacingHost()


for _name, (_module, _attribute, _help) in BUILTINS.items():
    cli.add_command(BuiltinCommand(_name, _module, _attribute, _help))


def main() -> None:
    cli.main()


__all__ = ["WgpGroup", "cli", "main"]
