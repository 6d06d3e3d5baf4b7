"""``wgp serve`` as users start it: the real command in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import Iterator

import httpx
import pytest

from conftest import Api
from wgp_host.testing import assert_one_line_error, run_wgp


def serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wgp_host", "serve", "--port", "0", *args],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=dict(os.environ))


@pytest.fixture
def stop() -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def started(proc: subprocess.Popen) -> tuple[str, list[str]]:
    """The URL the server announced, and the stderr lines up to that."""
    lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        found = re.search(r"wgp serve: (http://\S+)", line)
        if found:
            return found.group(1), lines
    raise AssertionError(f"wgp serve exited: {lines}")


def test_serve_on_loopback_with_the_control_token(api: Api, stop: list[subprocess.Popen]) -> None:
    proc = serve()
    stop.append(proc)
    url, lines = started(proc)
    assert url.startswith("http://127.0.0.1:") and "control.token" in lines[-1]
    assert not any("warning" in line for line in lines)
    assert httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {api.token}"}).status_code == 200
    assert httpx.get(url + "/v1/models").status_code == 401
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_beyond_loopback_needs_the_flag_and_warns(api: Api, stop: list[subprocess.Popen]) -> None:
    assert_one_line_error(run_wgp("serve", "--host", "0.0.0.0"), "--allow-remote")
    proc = serve("--host", "0.0.0.0", "--allow-remote")
    stop.append(proc)
    url, lines = started(proc)
    assert any("warning" in line and "anyone who can reach it" in line for line in lines), lines


def test_token_file_option(api: Api, tmp_path, stop: list[subprocess.Popen]) -> None:
    assert_one_line_error(run_wgp("serve", "--token-file", str(tmp_path / "none")), "--token-file")
    token = tmp_path / "token"
    token.write_text("operator-secret\n")
    proc = serve("--token-file", str(token))
    stop.append(proc)
    url, _ = started(proc)
    assert httpx.get(url + "/v1/queue", headers={"Authorization": "Bearer operator-secret"}).status_code == 200
    assert httpx.get(url + "/v1/queue", headers={"Authorization": f"Bearer {api.token}"}).status_code == 401
