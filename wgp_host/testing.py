"""Pytest fixtures for wgp and its plugin authors (``pytest -p wgp_host.testing``).

- ``wgp_env``: an isolated ``WGP_HOME`` (config, state, outputs, LoRA root) and
  ``HF_HUB_OFFLINE=1``; the process-wide plugin host and runtime are reset.
- ``make_wgp_host``: ``make_wgp_host(my_plugin_module, entry_points=False)``
  builds a host with the defaults plus the given plugins and installs it, so
  ``wgp_host.cli`` commands invoked in-process see exactly those plugins.
- ``wgp_cli``: run the ``wgp`` CLI in-process: ``result = wgp_cli("run", "-m", ...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from . import plugins, runtime


@pytest.fixture
def wgp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "wgp-home"
    monkeypatch.setenv("WGP_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("WGP_CONFIG", "WGP_LOAD_PLUGINS", "WGP_DISABLED_PLUGINS", "WGP_STRICT_PLUGINS", "WGP_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    plugins.reset_host()
    runtime._RUNTIME = None
    yield home
    plugins.reset_host()
    runtime._RUNTIME = None


@pytest.fixture
def make_wgp_host(wgp_env: Path) -> Callable[..., plugins.PluginHost]:
    def make(*extra: Any, entry_points: bool = False) -> plugins.PluginHost:
        host = plugins.PluginHost()
        named = {getattr(p, "__name__", type(p).__name__).rsplit(".", 1)[-1]: p for p in extra}
        host.load(entry_points=entry_points, extra=named)
        plugins.reset_host(host)
        return host

    return make


@pytest.fixture
def wgp_cli(wgp_env: Path) -> Callable[..., Any]:
    from click.testing import CliRunner

    from .cli import cli

    def invoke(*args: str, **kwargs: Any) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)

    return invoke
