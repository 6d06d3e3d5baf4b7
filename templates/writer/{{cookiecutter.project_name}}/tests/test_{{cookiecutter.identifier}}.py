"""{{ cookiecutter.project_name }} on the host's pytest fixtures (wgp_host.testing, loaded automatically),
with the torch-free ``echo`` family making the jobs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from wgp_echo import plugin as echo

from wgp_host.testing import heavy_imports, run_wgp
from {{ cookiecutter.package }} import plugin

NAME = "{{ cookiecutter.plugin_name }}"


def job(wgp_cli, tmp_path: Path, *writers: str):
    args = [arg for writer in writers for arg in ("--writer", writer)]
    return wgp_cli("run", "-m", "echo", "-p", "a red fox", "--frames", "5", "--json", "--output-dir", str(tmp_path), *args)


def test_registration_imports_nothing_heavy():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_registers_the_writer(wgp_env):
    proc = run_wgp("writers", "--json")  # the real CLI, every installed plugin loaded
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows[NAME]["kinds"] == ["artifacts"] and rows[NAME]["plugin"] == NAME


def test_checksums_match_the_files_the_job_wrote(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(plugin, echo)
    result = job(wgp_cli, tmp_path / "out", "video", "audio", NAME)
    assert result.exit_code == 0, result.output
    artifacts = json.loads(result.stdout)["artifacts"]
    assert [a["role"] for a in artifacts] == ["video", "audio", "checksums"]
    listed = dict(reversed(line.split("  ")) for line in Path(artifacts[-1]["path"]).read_text().splitlines())
    assert listed == {Path(a["path"]).name: hashlib.sha256(Path(a["path"]).read_bytes()).hexdigest() for a in artifacts[:2]}


def test_without_media_it_writes_nothing(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(plugin, echo)
    result = job(wgp_cli, tmp_path / "out", NAME)
    assert result.exit_code == 2 and "no writer produced output" in result.output
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
