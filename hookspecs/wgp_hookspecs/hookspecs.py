"""The hooks a wgp plugin can implement.

Every hook is a registration hook: the host calls it once at start-up with a
``register`` callback (or the click group, for commands).  Implementations must
be cheap: register small descriptors and import torch, diffusers or
transformers only inside the callables that run when a model is actually
loaded.  ``wgp --help`` and ``wgp plugins`` call these hooks and must stay fast.

Hooks grow by adding arguments, never by changing existing ones.  The host calls
each implementation on its own, so a plugin whose hook raises is isolated and
reported by ``wgp plugins`` instead of breaking every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .host import Host
    from .types import Adapter, ModelFamily, PlanOption, ProgressSink, QueueBackend, Writer

PROJECT_NAME = "wgp"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_model_families(register: Callable[[ModelFamily], None]) -> None:
    """Register model families.

    Call ``register(family)`` with a :class:`~wgp_hookspecs.ModelFamily` for each
    family the plugin provides.  Model ids must be unique across all plugins; a
    duplicate id is reported as an error of the plugin that registered it second.
    """


@hookspec
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register adapters that shape a job or a loaded model.

    Call ``register(adapter_class)`` with a subclass of
    :class:`~wgp_hookspecs.Adapter`.  The host instantiates it once per process.
    """


@hookspec
def register_progress_sinks(register: Callable[[type[ProgressSink]], None]) -> None:
    """Register progress sinks: places where job events go.

    Call ``register(sink_class)`` with a subclass of
    :class:`~wgp_hookspecs.ProgressSink`.  The host creates one instance per run
    for each active sink, passing :class:`~wgp_hookspecs.SinkOptions`.
    """


@hookspec
def register_writers(register: Callable[[Writer], None]) -> None:
    """Register output writers.

    Call ``register(writer)`` with an instance of :class:`~wgp_hookspecs.Writer`.
    Writers are selected per deployment (config ``writers`` or ``--writer``) and
    write only through the :class:`~wgp_hookspecs.OutputContext` they are given.
    """


@hookspec
def register_queue_backends(register: Callable[[type[QueueBackend]], None]) -> None:
    """Register queue backends.

    Call ``register(backend_class)`` with a subclass of
    :class:`~wgp_hookspecs.QueueBackend`.  The config key ``queue_backend``
    chooses which one ``wgp queue`` uses.
    """


@hookspec
def register_plan_options(register: Callable[[PlanOption], None]) -> None:
    """Register load-plan options shared by every family of an option group.

    Call ``register(option)`` with a :class:`~wgp_hookspecs.PlanOption`.  The host
    adds its flags to ``wgp run`` and ``wgp queue add``, validates values against
    ``option.param`` at the door, refuses them for families outside
    ``option.group``, and hands them to the family as ``plan.options``.  Names and
    flags must be unique across plugins.
    """


@hookspec
def register_commands(cli: Any, host: Host) -> None:
    """Add click commands to the ``wgp`` command group.

    ``cli`` is the root :class:`click.Group`.  Use ``cli.command()`` or
    ``cli.add_command()``; a name that is already taken is an error and the
    plugin that tried to take it is isolated.  ``host`` is the
    :class:`~wgp_hookspecs.Host` (also the click context's ``obj``).

    Commands registered here are known only once plugins are loaded, so they are
    not listed by ``wgp --help``.  Prefer the ``wgp.commands`` entry-point group
    (``name = "package.module:command"``): those are listed from package metadata
    and imported only when invoked.
    """
