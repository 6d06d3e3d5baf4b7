"""Fixtures with the real parts: a redis-server child process on a unix socket, wgp configured
for the ``celery`` backend with short leases, real Celery workers (in-process or subprocesses).

redis-server (Debian's ``redis-server`` package) and celery are requirements of these tests:
a missing one fails them, it never skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from celery_testing import FAST


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A fresh redis-server for one test, as a ``unix://`` URL; stopped (SIGTERM, by pid) afterwards."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (apt-get install -y redis-server); these tests need it"
    # A short folder: unix socket paths are limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="wgp-redis-", dir="/tmp"))
    sock = folder / "redis.sock"
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
                             "--save", "", "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {proc.returncode}")
            try:
                if sock.exists() and redis.Redis(unix_socket_path=str(sock)).ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not answer within 10 s")
            time.sleep(0.01)
        yield f"unix://{sock}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def celery_options(redis_url: str) -> dict[str, Any]:
    return {"url": redis_url, **FAST}


@pytest.fixture
def celery_env(wgp_env: Path, celery_options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """wgp (this process and its subprocesses) on the celery backend, through the config file of
    ``WGP_HOME``; returns the subprocess environment."""
    wgp_env.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"queue_backend": "celery", "queue_options": celery_options}))
    monkeypatch.delenv("WGP_QUEUE_BACKEND", raising=False)
    return {"WGP_HOME": str(wgp_env), "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def backend(celery_env: dict[str, str], celery_options: dict[str, Any]) -> Iterator[Any]:
    from wgp_celery.backend import CeleryQueue

    queue = CeleryQueue({"state_dir": "unused", **celery_options})
    yield queue
    queue.close()
