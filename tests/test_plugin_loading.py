"""Plugin discovery and isolation, with real distributions installed by pip."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wgp_host.testing import run_wgp

BROKEN = {
    "wgp-broken-import": "raise ImportError('needs the missing package nosuchdep')\n",
    "wgp-broken-register": textwrap.dedent(
        """
        from wgp_hookspecs import hookimpl

        @hookimpl
        def register_model_families(register):
            raise RuntimeError('registration exploded')
        """
    ),
    "wgp-bad-hook": textwrap.dedent(
        """
        from wgp_hookspecs import hookimpl

        @hookimpl
        def register_modle_families(register):
            pass
        """
    ),
    "wgp-collide": textwrap.dedent(
        """
        import click
        from wgp_hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="run")
            def run():
                click.echo("hijacked")
        """
    ),
    "wgp-lazy-cmd": textwrap.dedent(
        """
        import sys
        import click

        print("LAZY MODULE IMPORTED", file=sys.stderr)

        @click.command()
        @click.pass_obj
        def lazy_hello(host):
            click.echo(f"lazy hello, {len(host.families())} families")
        """
    ),
    "wgp-lazy-broken": "raise ImportError('the command module needs nosuchdep')\n",
    "wgp-good-extra": textwrap.dedent(
        """
        import click
        from wgp_hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")
        """
    ),
}


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """Build and pip-install the distributions above into one folder (a site dir)."""
    src = tmp_path_factory.mktemp("dists")
    site = tmp_path_factory.mktemp("site")
    paths = []
    for dist, code in BROKEN.items():
        mod = dist.replace("-", "_")
        root = src / dist
        (root / mod).mkdir(parents=True)
        (root / mod / "__init__.py").write_text(code)
        if dist.startswith("wgp-lazy"):  # a command only, declared in metadata
            entry_points = f'[project.entry-points."wgp.commands"]\n{dist[4:]} = "{mod}:lazy_hello"'
        else:
            entry_points = f'[project.entry-points.wgp]\n{mod} = "{mod}"'
        (root / "pyproject.toml").write_text(textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "{dist}"
            version = "1.2.3"
            description = "summary of {dist}"
            [tool.setuptools]
            packages = ["{mod}"]
        """) + entry_points + "\n")
        paths.append(str(root))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), *paths],
        check=True, capture_output=True,
    )
    return site


@pytest.fixture
def env_with_plugins(home_env, plugin_site):
    return {**home_env, "PYTHONPATH": str(plugin_site)}


def test_help_lists_plugin_commands_from_metadata_without_importing_any_plugin(env_with_plugins):
    proc = run_wgp("--help", env=env_with_plugins)
    assert proc.returncode == 0
    assert proc.stderr == ""  # no plugin module was imported, so the broken ones cannot even warn
    assert "lazy-cmd" in proc.stdout and "summary of wgp-lazy-cmd [wgp-lazy-cmd]" in proc.stdout
    assert "matanyone" in proc.stdout and "loras" in proc.stdout  # first-party commands too
    disabled = run_wgp("--help", env={**env_with_plugins, "WGP_DISABLED_PLUGINS": "wgp-lazy-cmd"})
    assert "lazy-cmd" not in disabled.stdout


def test_a_metadata_command_is_imported_when_it_runs_and_gets_the_host(env_with_plugins):
    proc = run_wgp("lazy-cmd", env=env_with_plugins)
    assert proc.returncode == 0, proc.stderr
    assert "LAZY MODULE IMPORTED" in proc.stderr
    assert proc.stdout.strip().startswith("lazy hello, ") and proc.stdout.strip() != "lazy hello, 0 families"
    broken = run_wgp("lazy-broken", env=env_with_plugins)
    assert broken.returncode == 2
    assert broken.stderr.strip().splitlines()[-1] == (
        "wgp: error: command 'lazy-broken' of wgp-lazy-broken failed to load: ImportError: the command module needs nosuchdep"
    )


def test_broken_plugins_cannot_stop_a_hook_registered_command(env_with_plugins):
    proc = run_wgp("hello", env=env_with_plugins)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "hello from a plugin"  # the good plugin's command is there
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 4, proc.stderr  # one line per broken plugin
    assert all(line.startswith("wgp: warning: plugin") for line in warnings)


def test_plugins_json_reports_each_failure(env_with_plugins):
    proc = run_wgp("plugins", "--json", env=env_with_plugins)
    assert proc.returncode == 0
    by_dist = {p["distribution"]: p for p in json.loads(proc.stdout)}
    assert by_dist["wgp-broken-import"]["status"] == "error"
    assert "nosuchdep" in by_dist["wgp-broken-import"]["error"]
    assert "registration exploded" in by_dist["wgp-broken-register"]["error"]
    assert "register_modle_families" in by_dist["wgp-bad-hook"]["error"]
    assert "'run' is already taken" in by_dist["wgp-collide"]["error"]
    assert by_dist["wgp-good-extra"]["status"] == "ok"
    assert by_dist["wgp-good-extra"]["version"] == "1.2.3"
    assert by_dist["wgp-good-extra"]["hooks"] == ["register_commands"]
    assert by_dist["wgp-echo"]["hooks"] == ["register_model_families"]


def test_other_commands_keep_working(env_with_plugins, tmp_path):
    proc = run_wgp("run", "-m", "echo", "-p", "still works", "--frames", "3", "--output-dir", str(tmp_path),
                   env=env_with_plugins)
    assert proc.returncode == 0, proc.stderr
    assert "hijacked" not in proc.stdout and list(tmp_path.glob("*.mp4"))
    assert run_wgp("hello", env=env_with_plugins).stdout.strip() == "hello from a plugin"


def test_strict_mode_raises(env_with_plugins):
    proc = run_wgp("models", env={**env_with_plugins, "WGP_STRICT_PLUGINS": "1"})
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "wgp: error: plugin" in proc.stderr
    assert "Traceback" not in proc.stderr


def _json(proc: subprocess.CompletedProcess) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_disabled_plugins_block_installed_ones(home_env):
    proc = run_wgp("models", "--json", env={**home_env, "WGP_DISABLED_PLUGINS": "wgp-echo"})
    assert "echo" not in [m["id"] for m in _json(proc)]


def test_allow_list_restricts_installed_distributions_only(home_env):
    env = {**home_env, "WGP_LOAD_PLUGINS": "wgp-echo"}
    by_name = {p["name"]: p for p in _json(run_wgp("plugins", "--json", "--all", env=env))}
    assert by_name["echo"]["status"] == "ok"
    assert by_name["manifest"]["status"] == "disabled"  # installed, not on the list
    defaults = [p for p in by_name.values() if p["default"]]
    assert defaults and {p["status"] for p in defaults} == {"ok"}
    # an empty allow-list loads no installed plugin, and still every default
    by_name = {p["name"]: p for p in _json(run_wgp("plugins", "--json", "--all", env={**home_env, "WGP_LOAD_PLUGINS": ""}))}
    assert {p["status"] for p in by_name.values() if not p["default"]} == {"disabled"}
    assert {p["status"] for p in by_name.values() if p["default"]} == {"ok"}


def test_allow_listed_family_runs_with_the_default_writers(home_env, tmp_path):
    env = {**home_env, "WGP_LOAD_PLUGINS": "wgp-echo"}
    writers = {w["name"] for w in _json(run_wgp("writers", "--json", env=env))}
    assert writers == {"video", "image", "audio", "mattes"}  # manifest's writers are not allowed
    out = tmp_path / "out"
    proc = run_wgp("run", "-m", "echo", "-p", "allowed", "--frames", "3", "--output-dir", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert list(out.glob("*.mp4"))


def test_disabling_a_default_removes_only_that_one(home_env):
    every = {w["name"] for w in _json(run_wgp("writers", "--json", env=home_env))}
    assert {"video", "image", "audio", "mattes"} <= every
    env = {**home_env, "WGP_DISABLED_PLUGINS": "video-writer"}
    assert {w["name"] for w in _json(run_wgp("writers", "--json", env=env))} == every - {"video"}
    # the host's distribution name disables all of its defaults, installed writers stay
    env = {**home_env, "WGP_DISABLED_PLUGINS": "wgp-host"}
    left = {w["name"] for w in _json(run_wgp("writers", "--json", env=env))}
    assert left and not left & {"video", "image", "audio", "mattes"}


def test_make_wgp_host_keeps_two_modules_named_plugin(make_wgp_host, wgp_cli):
    from importlib.metadata import version

    import wgp_echo.plugin
    import wgp_manifest.plugin

    assert wgp_echo.plugin.__name__.rsplit(".", 1)[-1] == wgp_manifest.plugin.__name__.rsplit(".", 1)[-1]
    host = make_wgp_host(wgp_echo.plugin, wgp_manifest.plugin)
    assert "echo" in host.registry.models and "manifest" in host.registry.writers
    result = wgp_cli("plugins", "--json")
    assert result.exit_code == 0, result.output
    listed = {p["name"]: (p["distribution"], p["version"], p["status"]) for p in json.loads(result.stdout)}
    assert listed == {
        "echo": ("wgp-echo", version("wgp-echo"), "ok"),
        "manifest": ("wgp-manifest", version("wgp-manifest"), "ok"),
    }
    text = wgp_cli("plugins").stdout
    rows = {line.split()[0]: line.split()[1:3] for line in text.splitlines()}
    assert rows["echo"] == ["wgp-echo", version("wgp-echo")] and "plugin" not in rows


def test_make_wgp_host_refuses_a_duplicate_plugin(make_wgp_host):
    import wgp_echo.plugin

    from wgp_host.plugins import PluginError

    with pytest.raises(PluginError, match="given twice"):
        make_wgp_host(wgp_echo.plugin, wgp_echo.plugin)
    # the same module as an installed entry point is a clash, not a second copy
    with pytest.raises(PluginError, match="clashes"):
        make_wgp_host(wgp_echo.plugin, entry_points=True)


def test_an_object_from_no_distribution_is_named_after_its_module(make_wgp_host):
    from wgp_hookspecs import hookimpl

    class Local:
        @hookimpl
        def register_writers(self, register):
            pass

    info = make_wgp_host(Local()).plugins["Local"]
    assert (info.status, info.distribution, info.version) == ("ok", __name__, "0")


def test_trace_prints_hook_calls(home_env):
    proc = run_wgp("models", env={**home_env, "WGP_TRACE_PLUGINS": "1"})
    assert proc.returncode == 0
    assert "trace: register_model_families -> echo" in proc.stderr
    assert "registered [echo]" in proc.stderr


def test_help_and_plugins_never_import_torch(home_env):
    for args in (["--help"], ["plugins", "--json"], ["models", "--help"], ["run", "--help"]):
        code = (
            "import sys; from wgp_host.cli import cli\n"
            f"try:\n    cli.main({args!r})\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers', 'av', 'celery', 'kombu', 'redis', 'starlette', 'uvicorn', 'httpx', 'mcp'))\n"
            "print('HEAVY', bad, file=sys.stderr)"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**__import__("os").environ, **home_env})
        assert "HEAVY []" in proc.stderr, (args, proc.stderr[-500:])


#: distribution -> (hooks, commands declared as wgp.commands entry points)
FIRST_PARTY = {
    "wgp-echo": (["register_model_families"], []),
    "wgp-diffusers": (["register_plan_options"], ["calibrate"]),
    "wgp-wan": (["register_model_families"], []),
    "wgp-flux": (["register_model_families"], []),
    "wgp-ltx": (["register_model_families"], []),
    "wgp-matanyone": (["register_model_families"], ["matanyone"]),
    "wgp-manifest": (["register_writers"], []),
    "wgp-lora": (["register_adapters"], ["loras"]),
    "wgp-prompt-enhancer": (["register_adapters"], ["prompt-enhancer"]),
    "wgp-celery": (["register_queue_backends"], []),
    "wgp-hunyuan": (["register_model_families"], []),
    "wgp-qwen": (["register_model_families"], []),
    "wgp-zimage": (["register_model_families"], []),
    "wgp-minimax": (["register_model_families"], []),
    "wgp-http": (["register_progress_sinks"], ["mcp", "serve"]),
}


def test_plugins_json_lists_every_first_party_plugin_with_its_hooks(home_env):
    proc = run_wgp("plugins", "--json", env=home_env)
    assert proc.returncode == 0 and proc.stderr == ""
    by_dist = {p["distribution"]: p for p in json.loads(proc.stdout)}
    for dist, (hooks, commands) in FIRST_PARTY.items():
        assert by_dist[dist]["status"] == "ok", by_dist[dist]
        assert by_dist[dist]["hooks"] == hooks, dist
        assert by_dist[dist]["commands"] == commands, dist


def test_a_plugin_that_exits_or_registers_junk_is_isolated(make_wgp_host):
    from wgp_hookspecs import Adapter, hookimpl

    class Exits:
        @hookimpl
        def register_model_families(self, register):
            raise SystemExit(3)

    class BadAdapter(Adapter):
        name = "bad"
        options = ("--x",)

    class Junk:
        @hookimpl
        def register_adapters(self, register):
            register(BadAdapter)

        @hookimpl
        def register_writers(self, register):
            register(object())

    host = make_wgp_host(Exits(), Junk())
    assert host.plugins["Exits"].status == "error" and "SystemExit" in host.plugins["Exits"].error
    assert host.plugins["Junk"].status == "error"
    assert "bad" not in host.registry.adapters and host.adapter_options() == []
    assert set(host.registry.writers) >= {"video", "image", "audio"}


def test_unexpected_errors_are_one_line(tmp_path, home_env):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)))
    proc = run_wgp("inspect", str(garbage), env=home_env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"queue_options": 5}))
    proc = run_wgp("run", "-m", "echo", "-p", "x", "--config", str(cfg), env=home_env)
    assert proc.returncode == 2 and "'queue_options' must be a JSON object" in proc.stderr
    blocker = tmp_path / "afile"
    blocker.write_text("")
    proc = run_wgp("run", "-m", "echo", "-p", "x", "--events", str(blocker / "ev.jsonl"),
                   "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode in (1, 2) and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
