"""The errors a plugin author meets first read as one line that says what to do.

A plugin's exception without a message names its class and how to see the traceback
(``WGP_DEBUG=1``), wherever the host reports it: a failed job, a command, a plugin that
failed to register.  A value from ``--resolution`` that breaks a rule names ``--resolution``.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelFamily, ModelSpec, Param, hookimpl

from wgp_host.cli import cli
from wgp_host.failure import failure_text

HINT = "(no message; run with WGP_DEBUG=1 to see the traceback)"

SPEC = ModelSpec(
    id="strict-toy",
    capabilities=frozenset({"text-to-video"}),
    params=(
        Param("prompt", "str", required=True), SEED_PARAM,
        Param("width", "int", 64, minimum=16, multiple_of=16), Param("height", "int", 64, minimum=16, multiple_of=16),
    ),
)


class SilentFailure:
    def generate(self, request, context):
        raise AssertionError()  # what a bare `assert` raises in a plugin (pytest rewrites the ones in tests)

    def unload(self):
        pass


class StrictToyPlugin:
    @hookimpl
    def register_model_families(self, register):
        register(ModelFamily(name="strict-toy", models=(SPEC,), load=lambda spec, plan: SilentFailure()))

    @hookimpl
    def register_commands(self, cli):
        @cli.command("explode")
        def explode():
            raise KeyError()


class BrokenRegistrationPlugin:
    @hookimpl
    def register_writers(self, register):
        raise ValueError()


def test_failure_text_names_the_class_and_the_way_to_the_traceback(monkeypatch):
    monkeypatch.delenv("WGP_DEBUG", raising=False)
    assert failure_text(RuntimeError("disk on fire")) == "RuntimeError: disk on fire"
    assert failure_text(AssertionError()) == f"AssertionError {HINT}"
    assert failure_text(KeyError("")) == "KeyError: ''"  # a KeyError's message is its key, shown as repr
    assert failure_text(OSError("  ")) == f"OSError {HINT}"
    monkeypatch.setenv("WGP_DEBUG", "1")
    assert failure_text(AssertionError()) == "AssertionError (no message; its traceback is above)"


def test_a_job_failing_without_a_message_says_how_to_see_the_traceback(make_wgp_host, wgp_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("WGP_DEBUG", raising=False)
    make_wgp_host(StrictToyPlugin())
    result = wgp_cli("run", "-m", "strict-toy", "-p", "x", "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip() == f"wgp: error: AssertionError {HINT}"


def test_with_wgp_debug_the_traceback_comes_first(make_wgp_host, wgp_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WGP_DEBUG", "1")
    make_wgp_host(StrictToyPlugin())
    result = wgp_cli("run", "-m", "strict-toy", "-p", "x", "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output and "raise AssertionError()" in result.output
    assert result.output.strip().splitlines()[-1] == "wgp: error: AssertionError (no message; its traceback is above)"


def test_a_command_failing_without_a_message_says_how_to_see_the_traceback(make_wgp_host, wgp_cli, monkeypatch):
    monkeypatch.delenv("WGP_DEBUG", raising=False)
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # the plugin's command goes with the test
    make_wgp_host(StrictToyPlugin())
    result = wgp_cli("explode")
    assert result.exit_code == 1 and result.output.strip() == f"wgp: error: KeyError {HINT}"


def test_a_plugin_failing_to_register_without_a_message_is_named(make_wgp_host, monkeypatch):
    monkeypatch.delenv("WGP_DEBUG", raising=False)
    host = make_wgp_host(BrokenRegistrationPlugin())
    [info] = [i for i in host.plugins.values() if not i.default]
    assert info.status == "error" and info.error == f"register_writers failed: ValueError {HINT}"


def test_a_resolution_that_breaks_a_rule_names_resolution(make_wgp_host, wgp_cli):
    make_wgp_host(StrictToyPlugin())
    for value, message in (
        ("33x32", "--resolution: width must be a multiple of 16 (got 33; nearest valid: 32 or 48)"),
        ("32x8", "--resolution: height must be at least 16 (got 8)"),
    ):
        result = wgp_cli("run", "-m", "strict-toy", "-p", "x", "--resolution", value, "--dry-run")
        assert result.exit_code == 2 and result.output.strip() == f"wgp: error: {message}"
    # --width is still named as --width, and --set as the parameter it sets.
    assert wgp_cli("run", "-m", "strict-toy", "-p", "x", "--width", "33", "--dry-run").output.strip() == (
        "wgp: error: --width: must be a multiple of 16 (got 33; nearest valid: 32 or 48)")
    overridden = wgp_cli("run", "-m", "strict-toy", "-p", "x", "--resolution", "32x32", "--set", "width=40", "--dry-run")
    assert overridden.exit_code == 2 and "--resolution" not in overridden.output, overridden.output
