"""Plugin discovery, isolation and the registry of what plugins registered.

Plugins come from the ``wgp`` entry-point group; the host's own default plugins
(writers, sinks, the queue backends) are registered through the same hooks and
the same block-list.  A plugin that fails to import, fails to register,
implements an unknown hook or takes a command name that is already used is
isolated: one warning on stderr, its error shown by ``wgp plugins``, everything
else works.

Environment:

- ``WGP_LOAD_PLUGINS``: comma-separated allow-list of distribution or plugin
  names that restricts the *installed* (entry-point) plugins only; set but
  empty loads no installed plugin.  The host's defaults stay loaded whatever
  it says, so ``WGP_LOAD_PLUGINS=wgp-echo`` still has writers and sinks.
- ``WGP_DISABLED_PLUGINS``: comma-separated block-list of distribution or
  plugin names, applied to every plugin: ``video-writer`` drops that default,
  ``wgp-host`` drops all of the host's defaults.
- ``WGP_TRACE_PLUGINS``: print every hook call, its implementations and results.
- ``WGP_STRICT_PLUGINS``: raise instead of isolating a broken plugin.
"""

from __future__ import annotations

import importlib
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import pluggy

from wgp_hookspecs import SEED_PARAM, STANDARD_FLAGS, Adapter, AdapterOption, ProgressSink, QueueBackend, Writer, hookspecs

from .failure import failure_text
from .plugin_env import PluginError, blocked, entry_point_allowed, env_flag, norm

HOST_DISTRIBUTION = "wgp-host"

#: The host's default plugins: name -> module.  Registered like any other plugin.
DEFAULT_PLUGINS = {
    "video-writer": "wgp_host.defaults.video",
    "image-writer": "wgp_host.defaults.image",
    "audio-writer": "wgp_host.defaults.audio",
    "mattes-writer": "wgp_host.defaults.mattes",
    "console-progress": "wgp_host.defaults.console",
    "jsonl-progress": "wgp_host.defaults.jsonl",
    "memory-queue": "wgp_host.defaults.memory_queue",
    "sqlite-queue": "wgp_host.defaults.sqlite_queue",
}

REGISTRATION_HOOKS = (
    "register_model_families",
    "register_adapters",
    "register_progress_sinks",
    "register_writers",
    "register_queue_backends",
    "register_plan_options",
)


@dataclass
class PluginInfo:
    """What ``wgp plugins`` reports about one plugin."""

    name: str
    distribution: str
    version: str
    default: bool = False
    status: str = "ok"  # ok | error | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    module: str = ""
    #: Where the plugin came from: ``default`` (the host's own), ``entry-point``
    #: (an installed distribution) or ``extra`` (handed to ``load`` by the caller).
    #: ``WGP_LOAD_PLUGINS`` only filters ``entry-point`` plugins.
    source: str = "entry-point"
    #: Commands the distribution declares as ``wgp.commands`` entry points (imported only when run).
    commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": sorted(self.hooks),
            "commands": sorted(self.commands),
            "status": self.status,
            "error": self.error,
            "default": self.default,
        }


class Registry:
    """Everything the plugins registered, each item tagged with its plugin name."""

    def __init__(self) -> None:
        self.families: dict[str, Any] = {}
        self.models: dict[str, tuple[Any, Any]] = {}  # model id -> (family, spec)
        self.adapters: dict[str, type] = {}
        self.sinks: dict[str, type] = {}
        self.writers: dict[str, Any] = {}
        self.queue_backends: dict[str, type] = {}
        self.plan_options: dict[str, Any] = {}
        self.owner: dict[tuple[str, str], str] = {}  # (kind, name) -> plugin

    def _add(self, kind: str, table: dict[str, Any], name: str, item: Any, plugin: str) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{kind} registered without a name: {item!r}")
        if name in table:
            raise PluginError(f"{kind} {name!r} is already registered by {self.owner[(kind, name)]}")
        table[name] = item
        self.owner[(kind, name)] = plugin

    def register_family(self, family: Any, plugin: str) -> None:
        from wgp_hookspecs import ModelFamily

        if not isinstance(family, ModelFamily):
            raise PluginError(f"register_model_families expects ModelFamily, got {type(family).__name__}")
        for spec in family.models:
            if spec.id in self.models:
                raise PluginError(f"model {spec.id!r} is already registered by {self.owner[('model', spec.id)]}")
            seed = spec.param("seed")
            if seed is not None and seed != SEED_PARAM:
                # The host owns the seed rule; a family's own copy would disagree with it.
                raise PluginError(f"model {spec.id!r} declares its own seed parameter; use wgp_hookspecs.SEED_PARAM")
            for param in spec.params:
                if param.flag and param.flag in STANDARD_FLAGS.values():
                    raise PluginError(f"model {spec.id!r}: parameter {param.name} claims the host's flag {param.flag}")
        self._add("family", self.families, family.name, family, plugin)
        for spec in family.models:
            self.models[spec.id] = (family, spec)
            self.owner[("model", spec.id)] = plugin

    def register_plan_option(self, option: Any, plugin: str) -> None:
        from wgp_hookspecs import PlanOption

        if not isinstance(option, PlanOption):
            raise PluginError(f"register_plan_options expects PlanOption, got {type(option).__name__}")
        taken = {flag for other in self.plan_options.values() for flag in _flag_names(other.flags)}
        clash = sorted(set(_flag_names(option.flags)) & taken)
        if clash:
            raise PluginError(f"plan option {option.name!r}: flag {', '.join(clash)} is already registered")
        self._add("plan option", self.plan_options, option.name, option, plugin)

    def remove_plugin(self, plugin: str) -> None:
        """Drop everything one plugin registered (used when it fails half-way)."""
        tables = {
            "family": self.families,
            "model": self.models,
            "adapter": self.adapters,
            "sink": self.sinks,
            "writer": self.writers,
            "queue backend": self.queue_backends,
            "plan option": self.plan_options,
        }
        for (kind, name), owner in list(self.owner.items()):
            if owner == plugin:
                tables[kind].pop(name, None)
                del self.owner[(kind, name)]


class PluginHost:
    """Loads plugins once and keeps the registry; one per process (see :func:`get_host`)."""

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.registry = Registry()
        self.strict = env_flag("WGP_STRICT_PLUGINS")
        self.trace = env_flag("WGP_TRACE_PLUGINS")
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))
        self.commands_registered = False
        self._adapter_instances: dict[str, Any] = {}

    # ------------------------------------------------------------------ loading

    def _allowed(self, name: str, distribution: str) -> bool:
        # _register_module records the info before asking, so its source is known
        # here; an unknown name is treated as installed (the stricter rule).
        info = self.plugins.get(name)
        if info is not None and info.source != "entry-point":
            # The allow-list narrows which installed distributions run; the host's
            # defaults and explicitly passed plugins are not "installed", and
            # dropping the defaults would leave a run with no writer at all.
            return not blocked(name, distribution)
        # The same rule as for lazily listed plugin commands, so the two never disagree.
        return entry_point_allowed(name, distribution)

    def _fail(self, info: PluginInfo, stage: str, exc: BaseException) -> None:
        info.status = "error"
        info.error = f"{stage}: {failure_text(exc)}"
        plugin = self.pm.get_plugin(info.name)
        if plugin is not None:
            self.pm.unregister(plugin, name=info.name)
        self.registry.remove_plugin(info.name)
        if self.strict:
            raise PluginError(f"plugin {info.name} ({info.distribution}): {info.error}") from exc
        self._warn(f"wgp: warning: plugin {info.name!r} ({info.distribution}) disabled: {info.error}")

    def _register_module(self, info: PluginInfo, load: Callable[[], Any]) -> None:
        self.plugins[info.name] = info
        if not self._allowed(info.name, info.distribution):
            info.status = "disabled"
            return
        try:
            module = load()
        except BaseException as exc:  # noqa: BLE001 - any import failure is isolated
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(info, "import failed", exc)
            return
        info.module = getattr(module, "__name__", repr(module))
        try:
            self.pm.register(module, name=info.name)
        except Exception as exc:  # noqa: BLE001
            self._fail(info, "register failed", exc)
            return
        try:
            # check_pending() walks every plugin, so an unknown hook is attributed
            # to the one just registered: earlier ones already passed this check.
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._fail(info, "unknown hook", exc)
            return
        info.hooks = [h.name for h in self.pm.get_hookcallers(module) or []]

    def load(
        self,
        entry_points: bool = True,
        extra: Mapping[str, Any] | Iterable[Any] | None = None,
    ) -> None:
        """Register default plugins, entry-point plugins and ``extra`` ones, then run registration hooks.

        ``extra`` holds modules or objects with hook implementations (the test
        fixture uses it to build a host around a few plugins), either as a
        sequence, named by :func:`_extra_identity`, or as a mapping of plugin
        name to plugin.  Either way the distribution and version come from
        package metadata where the plugin's module belongs to an installed
        distribution.  Two extras with the same name, or one whose name an
        earlier plugin already holds, raise :class:`PluginError`: silently
        dropping one would make a test pass without the plugin it meant to load.
        """
        started = time.perf_counter()
        extras = _identify_extras(extra)
        for name, modname in DEFAULT_PLUGINS.items():
            info = PluginInfo(name, HOST_DISTRIBUTION, _host_version(), default=True, source="default")
            self._register_module(info, lambda m=modname: importlib.import_module(m))
        for ep, dist_name, version in _entry_points() if entry_points else ():
            info = PluginInfo(ep.name, dist_name, version)
            if ep.name in self.plugins:
                info.name = f"{dist_name}:{ep.name}"
            self._register_module(info, ep.load)
        if entry_points:
            self._note_commands()
        for info, plugin in extras:
            if info.name in self.plugins:
                taken = self.plugins[info.name]
                raise PluginError(
                    f"extra plugin {info.name!r} ({info.distribution}) clashes with the already loaded "
                    f"plugin {taken.name!r} ({taken.distribution})"
                )
            self._register_module(info, lambda p=plugin: p)
        self._run_registration_hooks()
        if self.trace:
            self._warn(f"wgp: trace: plugins loaded in {1000 * (time.perf_counter() - started):.1f} ms")

    def _note_commands(self) -> None:
        """Attach each ``wgp.commands`` entry point to its distribution's info (metadata only)."""
        from .commands import lazy_commands

        by_dist = {norm(i.distribution): i for i in self.plugins.values() if i.source == "entry-point"}
        for entry in lazy_commands():
            info = by_dist.get(norm(entry.distribution))
            if info is None:  # a distribution with commands only
                info = PluginInfo(entry.distribution, entry.distribution, entry.version)
                self.plugins[info.name] = by_dist[norm(entry.distribution)] = info
            info.commands.append(entry.name)

    def _each_impl(self, hook_name: str) -> Iterable[tuple[PluginInfo, Any]]:
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is not None and info.status == "ok":
                yield info, impl

    def _run_registration_hooks(self) -> None:
        reg = self.registry
        adders: dict[str, Callable[[Any, str], None]] = {
            "register_model_families": reg.register_family,
            "register_adapters": lambda a, p: reg._add("adapter", reg.adapters, _checked_adapter(a), a, p),
            "register_progress_sinks": lambda s, p: reg._add("sink", reg.sinks, _checked(s, ProgressSink, True), s, p),
            "register_writers": lambda w, p: reg._add("writer", reg.writers, _checked_writer(w), w, p),
            "register_queue_backends": lambda b, p: reg._add(
                "queue backend", reg.queue_backends, _checked(b, QueueBackend, True), b, p
            ),
            "register_plan_options": reg.register_plan_option,
        }
        for hook_name in REGISTRATION_HOOKS:
            add = adders[hook_name]
            for info, impl in list(self._each_impl(hook_name)):
                registered: list[Any] = []

                def register(item: Any, _info: PluginInfo = info, _out: list[Any] = registered) -> None:
                    add(item, _info.name)
                    _out.append(item)

                self._call(info, impl, hook_name, {"register": register}, registered)

    def _call(self, info: PluginInfo, impl: Any, hook_name: str, kwargs: dict[str, Any], out: Any) -> None:
        try:
            impl.function(**{k: kwargs[k] for k in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - not even sys.exit() in a plugin may break the host
            self._fail(info, f"{hook_name} failed", exc)
            return
        if self.trace:
            self._warn(f"wgp: trace: {hook_name} -> {info.name} ({impl.plugin.__name__}) registered {_describe(out)}")

    def register_commands(self, cli: Any) -> None:
        """Let plugins add click commands; a name collision isolates the plugin."""
        if self.commands_registered:
            return
        self.commands_registered = True
        for info, impl in list(self._each_impl("register_commands")):
            before = dict(cli.commands)
            guard = _CollisionGuard(cli, info.name)
            arguments = {"cli": guard, "host": _host_interface()}
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001
                cli.commands.clear()
                cli.commands.update(before)
                self._fail(info, "register_commands failed", exc)
                continue
            if self.trace:
                added = sorted(set(cli.commands) - set(before))
                self._warn(f"wgp: trace: register_commands -> {info.name} added {added}")

    # ------------------------------------------------------------------ queries

    def model(self, model_id: str) -> tuple[Any, Any]:
        from wgp_hookspecs import UserError

        try:
            return self.registry.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.registry.models)) or "none (no model plugin is loaded)"
            raise UserError(f"unknown model {model_id!r}; available: {known}") from None

    def adapter(self, name: str) -> Any:
        """The process-wide instance of an adapter (adapters keep caches between jobs)."""
        from wgp_hookspecs import UserError

        if name not in self._adapter_instances:
            if name not in self.registry.adapters:
                raise UserError(f"job needs adapter {name!r}, which no loaded plugin provides")
            self._adapter_instances[name] = self.registry.adapters[name]()
        return self._adapter_instances[name]

    def adapter_options(self) -> list[Any]:
        """Every CLI option the registered adapters add to ``wgp run``."""
        return [opt for cls in self.registry.adapters.values() for opt in getattr(cls, "options", ())]

    def writer(self, name: str) -> Any:
        from wgp_hookspecs import UserError

        try:
            return self.registry.writers[name]
        except KeyError:
            known = ", ".join(sorted(self.registry.writers)) or "none"
            raise UserError(f"unknown writer {name!r}; available: {known}") from None


def _checked(item: Any, base: type, is_class: bool) -> str:
    """The name of a registered item, after checking it is what the hook expects."""
    ok = isinstance(item, type) and issubclass(item, base) if is_class else isinstance(item, base)
    if not ok:
        kind = f"a subclass of {base.__name__}" if is_class else f"an instance of {base.__name__}"
        raise PluginError(f"expected {kind}, got {item!r}")
    return getattr(item, "name", None)


def _checked_writer(writer: Any) -> str:
    name = _checked(writer, Writer, False)
    if not isinstance(getattr(writer, "kinds", None), (set, frozenset)) or not isinstance(getattr(writer, "order", 0), int):
        raise PluginError(f"writer {name!r} needs a set of kinds and an int order")
    return name


def _checked_adapter(adapter: Any) -> str:
    name = _checked(adapter, Adapter, True)
    if not all(isinstance(opt, AdapterOption) for opt in getattr(adapter, "options", ())):
        raise PluginError(f"adapter {name!r}: options must be AdapterOption instances")
    return name


class _CollisionGuard:
    """Wraps the root group for one plugin so a taken command name is an error."""

    def __init__(self, cli: Any, plugin: str) -> None:
        self._cli = cli
        self._plugin = plugin

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        name = name or cmd.name
        if name in self._cli.commands:
            raise PluginError(f"command name {name!r} is already taken")
        self._cli.add_command(cmd, name)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        import click

        def decorator(f: Callable[..., Any]) -> Any:
            cmd = click.command(*args, **kwargs)(f)
            self.add_command(cmd)
            return cmd

        return decorator

    def group(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        import click

        def decorator(f: Callable[..., Any]) -> Any:
            grp = click.group(*args, **kwargs)(f)
            self.add_command(grp)
            return grp

        return decorator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cli, name)


def _flag_names(flags: Iterable[str]) -> list[str]:
    """``--vae-tiling/--no-vae-tiling`` -> both names."""
    return [name.strip() for flag in flags for name in flag.split("/") if name.strip()]


def _describe(items: Any) -> str:
    names = [getattr(i, "name", None) or getattr(i, "__name__", repr(i)) for i in items or []]
    return "[" + ", ".join(str(n) for n in names) + "]"


def _host_interface() -> Any:
    from .interface import PluginFacingHost

    return PluginFacingHost()


def _host_version() -> str:
    from wgp_host import __version__

    return __version__


def _identify_extras(extra: Mapping[str, Any] | Iterable[Any] | None) -> list[tuple[PluginInfo, Any]]:
    """A :class:`PluginInfo` for each extra plugin, checked for duplicates before anything loads."""
    if extra is None:
        return []
    if isinstance(extra, Mapping):
        pairs = [(name, plugin) for name, plugin in extra.items()]
    else:
        pairs = [(None, plugin) for plugin in extra]
    out: list[tuple[PluginInfo, Any]] = []
    seen: dict[str, Any] = {}
    for given, plugin in pairs:
        name, distribution, version = _extra_identity(plugin)
        name = given or name
        if name in seen or any(plugin is other for other in seen.values()):
            what = f"name {name!r}" if name in seen else f"plugin {plugin!r}"
            raise PluginError(f"extra plugins must be distinct: {what} is given twice")
        seen[name] = plugin
        out.append((PluginInfo(name, distribution, version, source="extra"), plugin))
    return out


def _extra_identity(plugin: Any) -> tuple[str, str, str]:
    """``(plugin name, distribution, version)`` of a plugin handed to :meth:`PluginHost.load`.

    A module from an installed distribution is named as that distribution's
    entry point names it (``wgp_echo.plugin`` -> ``echo``), else by its full
    dotted name: the last component alone is ``plugin`` for every first-party
    family.  Any other object keeps its class (or own) name, which tests use to
    look it up.  The distribution is found from the top-level package; an object
    from no installed distribution is reported as its module with version ``"0"``.
    """
    if isinstance(plugin, types.ModuleType):
        modname = plugin.__name__
        name = modname
    else:
        modname = getattr(plugin, "__module__", None) or type(plugin).__module__
        name = plugin.__name__ if isinstance(plugin, type) else type(plugin).__name__
    dist = _distribution_of(modname)
    if dist is None:
        return name, modname, "0"
    if isinstance(plugin, types.ModuleType):
        for ep in _dist_entry_points(dist):
            if ep.module == modname and not ep.attr:
                name = ep.name
                break
    return name, dist.metadata["Name"] or modname, dist.version


def _distribution_of(modname: str) -> Any | None:
    """The installed distribution that provides module ``modname``, if any."""
    from importlib.metadata import PackageNotFoundError, distribution, packages_distributions

    top = modname.split(".", 1)[0]
    # One top-level name can be listed twice for the same distribution (seen with
    # editable installs); of distinct owners (a namespace package) the one whose
    # wgp entry point is this very module is the right one.
    found = []
    for dist_name in dict.fromkeys(packages_distributions().get(top, [])):
        try:
            found.append(distribution(dist_name))
        except PackageNotFoundError:
            continue
    for dist in found:
        if any(ep.module == modname for ep in _dist_entry_points(dist)):
            return dist
    return found[0] if found else None


def _dist_entry_points(dist: Any) -> list[Any]:
    try:
        return [ep for ep in dist.entry_points if ep.group == "wgp"]
    except Exception:  # noqa: BLE001 - unreadable metadata means no entry points
        return []


def _entry_points() -> list[tuple[Any, str, str]]:
    """Entry points of the ``wgp`` group with their distribution name and version.

    Read from package metadata only: nothing is imported until a plugin is allowed.
    """
    from importlib.metadata import distributions

    found = []
    seen: set[tuple[str, str]] = set()
    for dist in distributions():
        try:
            eps = [ep for ep in dist.entry_points if ep.group == "wgp"]
        except Exception:  # noqa: BLE001 - unreadable metadata is skipped
            continue
        if not eps:
            continue
        dist_name = dist.metadata["Name"] or "?"
        for ep in eps:
            key = (norm(dist_name), ep.name)
            if key in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(key)
            found.append((ep, dist_name, dist.version))
    found.sort(key=lambda item: (item[1], item[0].name))
    return found


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        host = PluginHost()
        host.load()
        _HOST = host
    return _HOST


def reset_host(host: PluginHost | None = None) -> None:
    """Forget the loaded plugins, or install ``host`` as the process-wide one (tests)."""
    global _HOST
    _HOST = host
