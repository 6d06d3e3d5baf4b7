"""{{ cookiecutter.project_name }}: the queue backend contract, and ``wgp queue`` running real jobs of
the torch-free ``echo`` family through it, on the host's pytest fixtures (wgp_host.testing,
loaded automatically)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from wgp_echo import plugin as echo

from wgp_host.testing import heavy_imports, run_wgp
from {{ cookiecutter.package }} import plugin

NAME = "{{ cookiecutter.plugin_name }}"
Queue = plugin.{{ cookiecutter.class_name }}Queue


def test_registration_imports_nothing_heavy():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_loads(wgp_env):
    proc = run_wgp("plugins", "--json")  # the real CLI, every installed plugin loaded
    assert proc.returncode == 0, proc.stderr
    [info] = [p for p in json.loads(proc.stdout) if p["name"] == NAME]
    assert info["status"] == "ok" and info["hooks"] == ["register_queue_backends"]


def test_claims_go_by_priority_then_age_and_never_twice(tmp_path):
    queue = Queue({"state_dir": str(tmp_path)})
    old, new, urgent = queue.add({"n": 1}), queue.add({"n": 2}), queue.add({"n": 3}, priority=5)
    claimed = [queue.claim("w1"), queue.claim("w2"), queue.claim("w1")]
    assert [record.id for record in claimed] == [urgent, old, new]
    assert all(record.state == "running" and record.attempts == 1 for record in claimed)
    assert queue.claim("w2") is None
    assert [r.id for r in Queue({"state_dir": str(tmp_path)}).list(["running"])] == [old, new, urgent]  # stored


def test_update_refuses_unknown_fields_and_states(tmp_path):
    queue = Queue({"state_dir": str(tmp_path)})
    job = queue.add({})
    with pytest.raises(ValueError):
        queue.update(job, colour="red")
    with pytest.raises(ValueError):
        queue.update(job, state="sleeping")
    queue.update("no-such-job", state="failed")  # ignored
    assert queue.get(job).state == "queued" and queue.get("no-such-job") is None


def test_flags_outlive_the_instance_and_clear_removes_only_waiting_jobs(tmp_path):
    queue = Queue({"state_dir": str(tmp_path)})
    queue.set_flag("paused", "1")
    running, waiting = queue.add({}), queue.add({})
    queue.claim("w")
    again = Queue({"state_dir": str(tmp_path)})
    assert again.get_flag("paused") == "1"
    assert again.clear() == 1 and [r.id for r in again.list()] == [running] and again.get(waiting) is None


CLAIMER = """
import sys
from {{ cookiecutter.package }}.plugin import {{ cookiecutter.class_name }}Queue
queue = {{ cookiecutter.class_name }}Queue({"state_dir": sys.argv[1]})
while (record := queue.claim(sys.argv[2])) is not None:
    print(record.id, flush=True)
"""


def test_two_processes_claiming_at_once_never_get_the_same_job(tmp_path):
    queue = Queue({"state_dir": str(tmp_path)})
    jobs = {queue.add({"n": n}) for n in range(40)}
    workers = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path), f"w{n}"], stdout=subprocess.PIPE, text=True)
               for n in range(2)]
    claimed = [line.strip() for worker in workers for line in worker.communicate(timeout=60)[0].splitlines()]
    assert sorted(claimed) == sorted(jobs)  # each job exactly once


def test_wgp_queue_runs_jobs_through_it(make_wgp_host, wgp_cli, monkeypatch, tmp_path):
    make_wgp_host(plugin, echo)
    monkeypatch.setenv("WGP_QUEUE_BACKEND", NAME)  # the config key queue_backend, from the environment
    ids = [wgp_cli("queue", "add", "-m", "echo", "-p", prompt, "--frames", "5", "--output-dir", str(tmp_path / "out"))
           for prompt in ("a red fox", "a grey wolf")]
    assert all(result.exit_code == 0 for result in ids), [result.output for result in ids]
    worked = wgp_cli("queue", "work", "--once")
    assert worked.exit_code == 0, worked.output
    listed = wgp_cli("queue", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert {result.stdout.strip() for result in ids} == set(rows)
    assert {row["state"] for row in rows.values()} == {"finished"}
