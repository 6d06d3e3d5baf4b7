"""The real parts, once per session: a wgp home, ``wgp serve``'s app on uvicorn on a free loopback
port (in a thread of this process), a real ``wgp queue work`` worker subprocess on the same home,
and an httpx client.  The models are the torch-free echo family's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

#: The test server's body limit: small, so the 413 test sends little.
MAX_BODY = 64 * 1024


class Api:
    """The running server: its URL, the token file, a client that sends the current token."""

    def __init__(self, url: str, token_file: Path, home: Path, service: Any) -> None:
        self.url, self.token_file, self.home, self.service = url, token_file, home, service

        self.worker: subprocess.Popen | None = None

    def start_worker(self) -> None:
        """A real ``wgp queue work`` on the home; returns once its control channel is up."""
        port_file = self.service.state_dir / "control.port"
        port_file.unlink(missing_ok=True)
        self.worker = worker = subprocess.Popen(
            [sys.executable, "-m", "wgp_host", "queue", "work", "--poll-interval", "0.05", "--progress", "none",
             "--control-port", "0"],
            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert worker.poll() is None, f"wgp queue work exited: {worker.stderr.read() if worker.stderr else ''}"
            assert time.monotonic() < deadline, "the worker did not start within 30 s"
            time.sleep(0.05)

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        worker, self.worker = self.worker, None
        if worker is None:
            return
        os.kill(worker.pid, sig)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    @property
    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30.0, **kwargs)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60.0, **kwargs)


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from wgp_host import plugins, runtime
    from wgp_host.interface import PluginFacingHost

    from wgp_http.app import TokenFile, create_app
    from wgp_http.server import ServerThread, ensure_token
    from wgp_http.service import JobService

    home = tmp_path_factory.mktemp("wgp-http") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WGP_HOME", str(home))
        for name in ("WGP_CONFIG", "WGP_LOAD_PLUGINS", "WGP_DISABLED_PLUGINS", "WGP_STRICT_PLUGINS", "WGP_QUEUE_BACKEND"):
            mp.delenv(name, raising=False)
        plugins.reset_host()
        runtime._RUNTIME = None
        home.mkdir(parents=True)
        # The worker calls webhooks (the sink of this plugin), with short backoffs for the tests.
        (home / "wgp_config.json").write_text(json.dumps({"progress_sinks": ["webhook"]}))
        mp.setenv("WGP_WEBHOOK_BACKOFF_S", "0.05")
        service = JobService(PluginFacingHost())
        service.watch()  # as `wgp serve` does
        token_file = ensure_token(service.state_dir)
        tokens = TokenFile(token_file)
        server = ServerThread(create_app(service, tokens.get, MAX_BODY)).start()
        api = Api(server.url, token_file, home, service)
        try:
            api.start_worker()
            yield api
        finally:
            server.stop()
            api.stop_worker()
            service.close()
            plugins.reset_host()
            runtime._RUNTIME = None


@pytest.fixture
def client(api: Api) -> Iterator[httpx.Client]:
    with api.client() as c:
        yield c


def read_sse(response: httpx.Response) -> list[dict[str, Any]]:
    """The events of an SSE stream, to its end: ``{"id", "event", "data"}`` each (data parsed)."""
    import json

    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            current[key] = json.loads(value) if key == "data" else (int(value) if key == "id" else value)
    if current:
        events.append(current)
    return events
