"""Binding and running: a socket we bind (port 0 works, the port is known before serving) handed to uvicorn."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

#: The control channel's token file in the state dir (wgp_host.queue.control.TOKEN_FILE).
TOKEN_FILE = "control.token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_token(state_dir: Path) -> Path:
    """The control token's file, created (mode 0600) when no worker has written one yet."""
    path = Path(state_dir) / TOKEN_FILE
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32))
        os.replace(tmp, path)
    return path


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Responses go out as headers then body: without this, Nagle and delayed ACKs add 40 ms to each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def make_server(app: Any) -> Any:
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that SIGINT/SIGTERM stop it and the process then exits 0
        (uvicorn re-raises the signal after shutting down)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            stop = lambda signum, frame: setattr(self, "should_exit", True)  # noqa: E731
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    return Server(config)


def run_server(app: Any, sock: socket.socket) -> None:
    make_server(app).run(sockets=[sock])


class ServerThread:
    """The app served from a thread, for tests and benchmarks: ``url`` once started; ``stop()`` ends it."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.sock = bind(host, 0)
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        self.server = make_server(app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        import time

        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
