"""{{ cookiecutter.project_name }} on the host's pytest fixtures (wgp_host.testing, loaded automatically),
with the torch-free ``echo`` family making the jobs."""

from __future__ import annotations

import io
import re

from wgp_echo import plugin as echo
from wgp_hookspecs import SinkOptions

from wgp_host.testing import InProcessQueue, heavy_imports
from {{ cookiecutter.package }} import plugin

NAME = "{{ cookiecutter.plugin_name }}"


def test_registration_imports_nothing_heavy():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_registers_the_sink():
    from importlib.metadata import entry_points

    [entry] = [ep for ep in entry_points(group="wgp") if ep.name == NAME]
    assert entry.load() is plugin
    sinks = []
    plugin.register_progress_sinks(sinks.append)
    assert sinks == [plugin.{{ cookiecutter.class_name }}Sink]


def test_one_line_per_job_from_the_events_of_real_jobs(make_wgp_host, tmp_path):
    make_wgp_host(plugin, echo)
    queue = InProcessQueue()
    done = queue.run(model="echo", params={"prompt": "a red fox", "steps": 3}, output_dir=str(tmp_path))
    failed = queue.run(model="echo", params={"prompt": "x", "steps": 2, "width": 64}, output_dir=str(tmp_path / "f"),
                       writers=("image",))  # echo makes a video: no writer takes it, so the job fails
    out = io.StringIO()
    sink = plugin.{{ cookiecutter.class_name }}Sink(SinkOptions(target=out))
    for event in queue.events:
        sink.emit(event)
    sink.close()
    lines = out.getvalue().splitlines()
    assert re.fullmatch(rf"{done.job} finished: 3 steps, 2 files, \d+\.\d s", lines[0]), lines
    assert re.fullmatch(rf"{failed.job} failed: 2 steps, 0 files, \d+\.\d s", lines[1]), lines


def test_config_progress_sinks_turns_it_on(make_wgp_host, wgp_cli, monkeypatch, tmp_path):
    make_wgp_host(plugin, echo)
    monkeypatch.setenv("WGP_PROGRESS_SINKS", NAME)  # the config key progress_sinks, from the environment
    result = wgp_cli("run", "-m", "echo", "-p", "a red fox", "--steps", "2", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert re.search(r"^\w+ finished: 2 steps, 2 files, \d+\.\d s$", result.output, re.MULTILINE), result.output
