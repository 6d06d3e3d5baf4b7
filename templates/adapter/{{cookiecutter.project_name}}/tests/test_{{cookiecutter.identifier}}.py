"""{{ cookiecutter.project_name }} on the host's pytest fixtures (wgp_host.testing, loaded automatically),
with the torch-free ``echo`` family, whose frames follow from prompt and seed, making the jobs."""

from __future__ import annotations

import json

from wgp_echo import plugin as echo

from wgp_host.testing import InProcessQueue, heavy_imports, run_wgp
from {{ cookiecutter.package }} import plugin

NAME = "{{ cookiecutter.plugin_name }}"
REQUEST = {"prompt": "a red fox", "seed": 7, "frames": 5}


def test_registration_imports_nothing_heavy():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_adds_the_flag(wgp_env):
    proc = run_wgp("run", "--help")  # the real CLI, every installed plugin loaded
    assert proc.returncode == 0, proc.stderr
    assert "--{{ cookiecutter.plugin_name }} TEXT" in proc.stdout


def test_the_payload_is_frozen_into_the_job_and_the_model_sees_the_new_prompt(make_wgp_host, tmp_path):
    make_wgp_host(plugin, echo)
    queue = InProcessQueue()
    job = queue.submit(model="echo", params=REQUEST, adapter_options={plugin.OPTION: "at dusk"}, output_dir=str(tmp_path))
    assert job.adapters == {NAME: {"text": "at dusk"}}
    assert job.request.prompt == "a red fox"  # the job keeps what was asked; transform runs in the worker
    [adapted] = queue.drain()
    direct = queue.run(model="echo", params={**REQUEST, "prompt": "a red fox, at dusk"}, output_dir=str(tmp_path / "d"))
    assert adapted.state == direct.state == "finished"
    assert adapted.metadata["key"] == direct.metadata["key"]  # echo's frames follow from prompt and seed


def test_without_the_flag_the_job_has_no_payload(make_wgp_host, tmp_path):
    make_wgp_host(plugin, echo)
    job = InProcessQueue().submit(model="echo", params=REQUEST, output_dir=str(tmp_path))
    assert job.adapters == {}


def test_wgp_run_takes_the_flag(make_wgp_host, wgp_cli):
    make_wgp_host(plugin, echo)
    result = wgp_cli("run", "-m", "echo", "-p", "a red fox", "--{{ cookiecutter.plugin_name }}", "at dusk", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["adapters"] == {NAME: {"text": "at dusk"}}
