"""The loopback control channel of a worker: newline-delimited JSON over TCP.

Request (one line)::

    {"token": "...", "command": "status"}
    {"token": "...", "command": "cancel", "job": "3f2a9c0e1b7d", "id": 7}

Reply (one line): ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a
request's ``id`` is echoed back.  Commands: ``status``, ``pause``, ``resume``,
``cancel`` (``job``), ``clear``.

Security: the server binds 127.0.0.1 unless told otherwise (a non-loopback
address needs ``allow_remote``); every request carries the token the worker
writes at start to ``<state_dir>/control.token`` (mode 0600), compared in
constant time; a missing or wrong token is refused and logged on the
``wgp.queue.control`` logger.  Lines longer than :data:`MAX_LINE` get an error
reply and the connection is closed; a client that sends nothing is dropped after
``read_timeout``; each connection has its own thread (at most
:data:`MAX_CLIENTS`), so a slow client never blocks the others.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import time
import secrets
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from wgp_hookspecs import UserError

from ..liveness import process_alive, process_identity

log = logging.getLogger("wgp.queue.control")

PORT_FILE = "control.port"
TOKEN_FILE = "control.token"
MAX_LINE = 64 * 1024
READ_TIMEOUT_S = 10.0
MAX_CLIENTS = 32
COMMANDS = ("status", "pause", "resume", "cancel", "clear")


class WorkerUnavailable(UserError):
    """No worker answers on the control channel (no port file, or nobody listening)."""


class ControlError(UserError):
    """The worker answered with an error."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` with mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case the umask was unusual
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_endpoint(state_dir: Path) -> tuple[str, int, str]:
    """``(host, port, token)`` of the worker serving ``state_dir``; WorkerUnavailable when there is none."""
    try:
        lines = (state_dir / PORT_FILE).read_text(encoding="utf-8").split()
        token = (state_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
        port = int(lines[0])
    except FileNotFoundError:
        raise WorkerUnavailable("no worker is running (no control port file)") from None
    except (OSError, ValueError, IndexError) as exc:
        raise WorkerUnavailable(f"cannot read the control files in {state_dir}: {exc}") from None
    host = lines[1] if len(lines) > 1 else "127.0.0.1"
    # The port file names its worker (pid, and the process identity that tells a
    # recycled pid apart): a port file left by a killed worker must not make
    # clients hand the token to whatever listens on that port now.  Files from
    # older versions carry no identity; the pid alone is checked then.
    if len(lines) > 2 and lines[2].isdigit() and not process_alive(int(lines[2]), lines[3] if len(lines) > 3 else None):
        raise WorkerUnavailable(f"no worker is running (the worker {lines[2]} that wrote {PORT_FILE} is gone)")
    return host, port, token


def send_command(command: str, state_dir: str | os.PathLike[str] | None = None, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """Send one command to the worker and return its reply.

    Raises :class:`WorkerUnavailable` when no worker answers and
    :class:`ControlError` when it answers with an error.
    """
    if state_dir is None:
        from ..runtime import ensure_runtime_initialized

        state_dir = ensure_runtime_initialized().state_dir
    host, port, token = read_endpoint(Path(state_dir))
    request = json.dumps({"token": token, "command": command, **args}).encode("utf-8") + b"\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            line = _read_line(sock, limit=16 * 1024 * 1024)
    except OSError as exc:
        raise WorkerUnavailable(f"no worker answers on {host}:{port} ({exc.strerror or exc})") from None
    try:
        reply = json.loads(line)
    except ValueError:
        raise WorkerUnavailable(f"the process on {host}:{port} is not a wgp worker") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise WorkerUnavailable(f"the process on {host}:{port} is not a wgp worker")
    if not reply["ok"]:
        raise ControlError(str(reply.get("error") or "the worker refused the command"))
    return reply


def _read_line(sock: socket.socket, limit: int) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if not buf:
                raise ConnectionResetError("connection closed without a reply")
            break
        buf += chunk
        if len(buf) > limit:
            raise ConnectionError("reply too large")
    return bytes(buf.split(b"\n", 1)[0])


class QueueControlServer:
    """Serves the control channel for one :class:`~wgp_host.queue.QueueController`."""

    def __init__(
        self,
        controller: Any,
        state_dir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        read_timeout: float = READ_TIMEOUT_S,
        max_line: int = MAX_LINE,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise UserError(f"the control channel may only bind a loopback address; binding {host} needs --allow-remote")
        if not 0 <= int(port) <= 65535:
            raise UserError(f"control port must be 0..65535 (got {port})")
        self.controller = controller
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = int(port)
        self.read_timeout = read_timeout
        self.max_line = max_line
        self.token = ""
        self._sock: socket.socket | None = None
        self._stopped = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "status": lambda req: self.controller.status(),
            "pause": lambda req: {"paused": True, "changed": self.controller.pause(), "worker": self.controller.worker},
            "resume": lambda req: {"paused": False, "changed": self.controller.resume(), "worker": self.controller.worker},
            "cancel": self._cancel,
            "clear": lambda req: {"cleared": self.controller.clear()},
        }

    # ------------------------------------------------------------------ life cycle

    def start(self) -> int:
        """Bind, write the token and port files, serve in a daemon thread; returns the port."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token = self._shared_token() or secrets.token_urlsafe(32)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family, backlog=64)
        except OSError as exc:
            raise UserError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._sock = sock
        self.port = sock.getsockname()[1]
        _write_private(self.state_dir / TOKEN_FILE, self.token + "\n")
        identity = process_identity(os.getpid()) or ""
        _write_private(self.state_dir / PORT_FILE, f"{self.port}\n{self._connect_host()}\n{os.getpid()}\n{identity}\n")
        self._thread = threading.Thread(target=self._accept_loop, name="wgp-control", daemon=True)
        self._thread.start()
        return self.port

    def _connect_host(self) -> str:
        if self.host in ("0.0.0.0", "", "localhost"):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host

    def _shared_token(self) -> str | None:
        """Keep the token of another live worker on this state dir, so both stay reachable."""
        try:
            send_command("status", self.state_dir, timeout=1.0)
        except UserError:
            return None
        try:
            return (self.state_dir / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def stop(self) -> None:
        self._stopped.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread (Linux)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        port_file = self.state_dir / PORT_FILE
        try:
            if port_file.read_text(encoding="utf-8").split()[0] == str(self.port):
                port_file.unlink()  # only our own: a later worker may have replaced it
        except (OSError, IndexError):
            pass

    def __enter__(self) -> QueueControlServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        sock.settimeout(0.5)
        while not self._stopped.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    return
                continue
            if not self._slots.acquire(blocking=False):
                self._refuse(conn, "too many connections")
                continue
            threading.Thread(target=self._serve, args=(conn, addr), name="wgp-control-client", daemon=True).start()

    def _refuse(self, conn: socket.socket, error: str) -> None:
        try:
            conn.settimeout(1.0)
            conn.sendall(_encode({"ok": False, "error": error}))
        except OSError:
            pass
        finally:
            conn.close()

    def _serve(self, conn: socket.socket, addr: Any) -> None:
        try:
            buf = bytearray()
            # Each line must arrive whole within read_timeout: a client trickling
            # one byte at a time cannot hold a connection slot for ever.
            deadline = time.monotonic() + self.read_timeout
            while not self._stopped.is_set():
                newline = buf.find(b"\n")
                if newline < 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        log.debug("control: %s did not finish a line within %.0f s; closing", _peer(addr), self.read_timeout)
                        conn.sendall(_encode({"ok": False, "error": "read timeout"}))
                        return
                    conn.settimeout(remaining)
                    if len(buf) > self.max_line:
                        log.warning("control: %s sent a line over %d bytes; closing", _peer(addr), self.max_line)
                        conn.sendall(_encode({"ok": False, "error": f"message too large (limit {self.max_line} bytes per line)"}))
                        _linger_close(conn)
                        return
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        log.debug("control: %s sent nothing for %.0f s; closing", _peer(addr), self.read_timeout)
                        conn.sendall(_encode({"ok": False, "error": "read timeout"}))
                        return
                    if not chunk:
                        if buf.strip():  # a last request without its newline
                            conn.sendall(_encode(self.handle(bytes(buf), addr)))
                        return
                    buf += chunk
                    continue
                line, buf = bytes(buf[:newline]), buf[newline + 1 :]
                deadline = time.monotonic() + self.read_timeout
                if not line.strip():
                    continue
                if len(line) > self.max_line:
                    conn.sendall(_encode({"ok": False, "error": f"message too large (limit {self.max_line} bytes per line)"}))
                    _linger_close(conn)
                    return
                conn.sendall(_encode(self.handle(line, addr)))
        except OSError:
            pass
        finally:
            try:
                conn.close()
            finally:
                self._slots.release()

    def handle(self, line: bytes, addr: Any = None) -> dict[str, Any]:
        """Answer one request line; never raises."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return {"ok": False, "error": "request is not UTF-8"}
        try:
            request = json.loads(text)
        except ValueError as exc:
            return {"ok": False, "error": f"invalid JSON: {exc}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request must be a JSON object"}
        reply: dict[str, Any] = {}
        if "id" in request and isinstance(request["id"], (str, int, float, bool, type(None))):
            reply["id"] = request["id"]
        token = request.get("token")
        if not isinstance(token, str) or not token:
            log.warning("control: refused a request without a token from %s", _peer(addr))
            return {**reply, "ok": False, "error": "missing token"}
        if not self.token or not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self.token.encode("utf-8")):
            log.warning("control: refused a request with a bad token from %s", _peer(addr))
            return {**reply, "ok": False, "error": "bad token"}
        command = request.get("command")
        handler = self._handlers.get(command) if isinstance(command, str) else None
        if handler is None:
            return {**reply, "ok": False, "error": f"unknown command {command!r}; commands: {', '.join(COMMANDS)}"}
        try:
            return {**reply, "ok": True, "command": command, **handler(request)}
        except UserError as exc:
            return {**reply, "ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - one bad command must not stop the server
            log.exception("control: %s failed", command)
            return {**reply, "ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _cancel(self, request: dict[str, Any]) -> dict[str, Any]:
        job = request.get("job")
        if not isinstance(job, str) or not job:
            raise UserError("cancel needs a job id: {\"command\": \"cancel\", \"job\": \"ID\"}")
        return {"job": job, "state": self.controller.cancel(job)}


def _encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, default=str).encode("utf-8") + b"\n"


def _linger_close(conn: socket.socket) -> None:
    """Close after the client has read our reply: stop sending, discard what it still sends."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(1.0)
        discarded = 0
        while discarded < 8 * 1024 * 1024:
            chunk = conn.recv(65536)
            if not chunk:
                break
            discarded += len(chunk)
    except OSError:
        pass


def _peer(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)
