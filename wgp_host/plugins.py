"""Plugin discovery, isolation and the registry of what plugins registered.

Plugins come from the ``wgp`` entry-point group; the host's own default plugins
(writers, sinks, the memory queue) are registered through the same hooks and the
same filters.  A plugin that fails to import, fails to register, implements an
unknown hook or takes a command name that is already used is isolated: one
warning on stderr, its error shown by ``wgp plugins``, everything else works.

Environment:

- ``WGP_LOAD_PLUGINS``: comma-separated allow-list of distribution or plugin
  names; set but empty means no plugins at all (defaults included: name
  ``wgp-host`` to keep the host's defaults).
- ``WGP_DISABLED_PLUGINS``: comma-separated block-list, same names.
- ``WGP_TRACE_PLUGINS``: print every hook call, its implementations and results.
- ``WGP_STRICT_PLUGINS``: raise instead of isolating a broken plugin.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from wgp_hookspecs import Adapter, AdapterOption, ProgressSink, QueueBackend, Writer, hookspecs

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
)


class PluginError(Exception):
    """Raised in strict mode, or for a plugin problem the caller must see."""


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": sorted(self.hooks),
            "status": self.status,
            "error": self.error,
            "default": self.default,
        }


def _names(env: str) -> set[str] | None:
    raw = os.environ.get(env)
    if raw is None:
        return None
    return {_norm(n) for n in raw.split(",") if n.strip()}


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class Registry:
    """Everything the plugins registered, each item tagged with its plugin name."""

    def __init__(self) -> None:
        self.families: dict[str, Any] = {}
        self.models: dict[str, tuple[Any, Any]] = {}  # model id -> (family, spec)
        self.adapters: dict[str, type] = {}
        self.sinks: dict[str, type] = {}
        self.writers: dict[str, Any] = {}
        self.queue_backends: dict[str, type] = {}
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
        self._add("family", self.families, family.name, family, plugin)
        for spec in family.models:
            self.models[spec.id] = (family, spec)
            self.owner[("model", spec.id)] = plugin

    def remove_plugin(self, plugin: str) -> None:
        """Drop everything one plugin registered (used when it fails half-way)."""
        tables = {
            "family": self.families,
            "model": self.models,
            "adapter": self.adapters,
            "sink": self.sinks,
            "writer": self.writers,
            "queue backend": self.queue_backends,
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
        self.strict = _env_flag("WGP_STRICT_PLUGINS")
        self.trace = _env_flag("WGP_TRACE_PLUGINS")
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))
        self.commands_registered = False
        self._adapter_instances: dict[str, Any] = {}

    # ------------------------------------------------------------------ loading

    def _allowed(self, name: str, distribution: str) -> bool:
        names = {_norm(name), _norm(distribution)}
        allow = _names("WGP_LOAD_PLUGINS")
        if allow is not None and not names & allow:
            return False
        block = _names("WGP_DISABLED_PLUGINS") or set()
        return not names & block

    def _fail(self, info: PluginInfo, stage: str, exc: BaseException) -> None:
        info.status = "error"
        info.error = f"{stage}: {type(exc).__name__}: {exc}"
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

    def load(self, entry_points: bool = True, extra: dict[str, Any] | None = None) -> None:
        """Register default plugins, entry-point plugins and ``extra`` ones, then run registration hooks.

        ``extra`` maps plugin names to modules or objects with hook implementations
        (the test fixture uses it to build a host around one plugin).
        """
        started = time.perf_counter()
        for name, modname in DEFAULT_PLUGINS.items():
            info = PluginInfo(name, HOST_DISTRIBUTION, _host_version(), default=True)
            self._register_module(info, lambda m=modname: importlib.import_module(m))
        for ep, dist_name, version in _entry_points() if entry_points else ():
            info = PluginInfo(ep.name, dist_name, version)
            if ep.name in self.plugins:
                info.name = f"{dist_name}:{ep.name}"
            self._register_module(info, ep.load)
        for name, plugin in (extra or {}).items():
            self._register_module(PluginInfo(name, name, "0"), lambda p=plugin: p)
        self._run_registration_hooks()
        if self.trace:
            self._warn(f"wgp: trace: plugins loaded in {1000 * (time.perf_counter() - started):.1f} ms")

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
            try:
                impl.function(cli=guard)
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


def _describe(items: Any) -> str:
    names = [getattr(i, "name", None) or getattr(i, "__name__", repr(i)) for i in items or []]
    return "[" + ", ".join(str(n) for n in names) + "]"


def _host_version() -> str:
    from wgp_host import __version__

    return __version__


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
            key = (_norm(dist_name), ep.name)
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
