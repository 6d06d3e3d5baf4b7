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
``wgp.queue.control`` logger.

Anyone on the machine can connect, so a connection earns resources only by
authenticating.  Until its first request with the right token a connection is
*pending*: one thread watches every pending connection (a selector, not a thread
each), answers their refusals, drops any that has not authenticated within
``auth_timeout`` (:data:`AUTH_TIMEOUT_S`) of connecting, and keeps at most
:data:`MAX_PENDING` (a new one pushes out the oldest).  An authenticated
connection gets a thread of its own, one of :data:`MAX_CLIENTS`, and is dropped
after ``read_timeout`` without a whole line.  Only token holders can fill those
slots; when they are full the refusal says ``"busy": true`` and clients fall
back to the database.  Lines longer than :data:`MAX_LINE` get an error reply and
the connection is closed.  Requests and replies are strict JSON: ``NaN``,
``Infinity`` and numbers too large for a float are refused, never echoed.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import selectors
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from wgp_hookspecs import UserError

from ..liveness import process_alive, process_identity

log = logging.getLogger("wgp.queue.control")

PORT_FILE = "control.port"
TOKEN_FILE = "control.token"
MAX_LINE = 64 * 1024
READ_TIMEOUT_S = 10.0
#: Seconds a connection has, from connecting, to send a request with the right token.
AUTH_TIMEOUT_S = 2.0
#: Authenticated connections served at once (a thread each).
MAX_CLIENTS = 32
#: Connections waiting to authenticate; beyond this the oldest is dropped.
MAX_PENDING = 256
BUSY_ERROR = "too many connections"
COMMANDS = ("status", "pause", "resume", "cancel", "clear")


class WorkerUnavailable(UserError):
    """No worker answers on the control channel (no port file, or nobody listening)."""


class WorkerBusy(WorkerUnavailable):
    """The worker answered, but every slot for authenticated clients is taken: use the database."""


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
    if not reply["ok"] and reply.get("busy") is True:
        raise WorkerBusy(f"the worker on {host}:{port} is busy ({reply.get('error')})")
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
        auth_timeout: float = AUTH_TIMEOUT_S,
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
        self.auth_timeout = auth_timeout
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
        except WorkerBusy:
            pass  # it answered: it lives
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

    def forget_socket(self) -> None:
        """In a process forked from the server's (a backend's pool process): close this process's
        copy of the listening socket.  Never ``shutdown``: that would stop the server's own."""
        self._stopped.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> QueueControlServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        """Accept connections and hold them, in this one thread, until they authenticate."""
        sock = self._sock
        assert sock is not None
        sock.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        pending: OrderedDict[socket.socket, _Pending] = OrderedDict()  # oldest first: deadlines in order
        try:
            while not self._stopped.is_set():
                wait = 0.5
                if pending:
                    wait = min(wait, max(0.0, next(iter(pending.values())).deadline - time.monotonic()))
                for key, _ in selector.select(wait):
                    if key.fileobj is sock:
                        if not self._accept_all(sock, selector, pending):
                            return
                    else:
                        self._read_pending(key.fileobj, selector, pending)  # type: ignore[arg-type]
                now = time.monotonic()
                while pending:
                    conn, state = next(iter(pending.items()))
                    if state.deadline > now:
                        break
                    if not state.draining:
                        log.debug("control: %s did not authenticate within %.1f s; closing", _peer(state.addr), self.auth_timeout)
                        _send_now(conn, _encode({"ok": False, "error": "read timeout"}))
                    _drop(conn, selector, pending)
        finally:
            for conn in list(pending):
                _drop(conn, selector, pending)
            selector.close()

    def _accept_all(self, sock: socket.socket, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> bool:
        """Accept every waiting connection; False when the listening socket is gone."""
        while True:
            try:
                conn, addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return not self._stopped.is_set()
            conn.setblocking(False)
            if len(pending) >= MAX_PENDING:
                # The oldest goes, not the newest: a flood cannot keep a fresh client from its turn.
                _drop(next(iter(pending)), selector, pending)
            pending[conn] = _Pending(addr, time.monotonic() + self.auth_timeout)
            selector.register(conn, selectors.EVENT_READ)

    def _read_pending(self, conn: socket.socket, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
        state = pending.get(conn)
        if state is None:
            return
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            _drop(conn, selector, pending)
            return
        if state.draining:  # refused for a long line: read what it still sends, so it gets our reply
            if not chunk:
                _drop(conn, selector, pending)
            return
        if chunk:
            state.buf += chunk
            *lines, tail = bytes(state.buf).split(b"\n")
            state.buf = bytearray(tail)
        else:
            lines, state.buf = [bytes(state.buf)], bytearray()  # a last request without its newline
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            if len(line) > self.max_line:
                self._refuse_long(conn, state)
                return
            request, reply = self._authenticate(line, state.addr)
            if request is None:
                if not _send_now(conn, _encode(reply)):
                    _drop(conn, selector, pending)  # it does not read its replies: nothing is owed
                    return
                continue
            # Authenticated: the connection leaves this thread for one of its own.
            pending.pop(conn, None)
            selector.unregister(conn)
            rest = b"".join(later + b"\n" for later in lines[index + 1 :]) + bytes(state.buf)
            self._admit(conn, state.addr, request, reply, rest, eof=not chunk)
            return
        if not chunk:
            _drop(conn, selector, pending)
        elif len(state.buf) > self.max_line:
            self._refuse_long(conn, state)

    def _refuse_long(self, conn: socket.socket, state: _Pending) -> None:
        log.warning("control: %s sent a line over %d bytes; closing", _peer(state.addr), self.max_line)
        _send_now(conn, _encode({"ok": False, "error": f"message too large (limit {self.max_line} bytes per line)"}))
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        state.draining, state.buf = True, bytearray()

    def _admit(self, conn: socket.socket, addr: Any, request: dict[str, Any], reply: dict[str, Any], rest: bytes, eof: bool) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("control: all %d client slots are taken; refused %s", MAX_CLIENTS, _peer(addr))
            _send_now(conn, _encode({**reply, "ok": False, "error": BUSY_ERROR, "busy": True}))
            conn.close()
            return
        try:
            threading.Thread(target=self._serve, args=(conn, addr, request, reply, rest, eof),
                             name="wgp-control-client", daemon=True).start()
        except BaseException:
            self._slots.release()
            conn.close()
            raise

    def _serve(self, conn: socket.socket, addr: Any, request: dict[str, Any], reply: dict[str, Any], rest: bytes, eof: bool) -> None:
        """One authenticated connection: its first request, then line after line until it goes quiet."""
        try:
            conn.settimeout(self.read_timeout)  # blocking again, never for ever
            conn.sendall(_encode(self._execute(request, reply)))
            buf = bytearray(rest)
            # Each line must arrive whole within read_timeout: a client trickling
            # one byte at a time cannot hold a connection slot for ever.
            deadline = time.monotonic() + self.read_timeout
            while not self._stopped.is_set():
                newline = buf.find(b"\n")
                if newline < 0:
                    if eof:
                        if buf.strip():  # a last request without its newline
                            conn.sendall(_encode(self.handle(bytes(buf), addr)))
                        return
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
                    eof = not chunk
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
        request, reply = self._authenticate(line, addr)
        return reply if request is None else self._execute(request, reply)

    def _authenticate(self, line: bytes, addr: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """``(request, reply so far)`` for a request with the right token, else ``(None, refusal)``.

        Runs no command: the pending connections' thread calls it for anyone's requests.
        """
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return None, {"ok": False, "error": "request is not UTF-8"}
        try:
            request = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
        except ValueError as exc:
            return None, {"ok": False, "error": f"invalid JSON: {exc}"}
        except RecursionError:
            return None, {"ok": False, "error": "invalid JSON: nested too deeply"}
        if not isinstance(request, dict):
            return None, {"ok": False, "error": "a request must be a JSON object"}
        reply: dict[str, Any] = {}
        if "id" in request and isinstance(request["id"], (str, int, float, bool, type(None))):
            reply["id"] = request["id"]
        token = request.get("token")
        if not isinstance(token, str) or not token:
            log.warning("control: refused a request without a token from %s", _peer(addr))
            return None, {**reply, "ok": False, "error": "missing token"}
        if not self.token or not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self.token.encode("utf-8")):
            log.warning("control: refused a request with a bad token from %s", _peer(addr))
            return None, {**reply, "ok": False, "error": "bad token"}
        return request, reply

    def _execute(self, request: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
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


@dataclass
class _Pending:
    """A connection that has not sent a request with the right token yet."""

    addr: Any
    deadline: float
    buf: bytearray = field(default_factory=bytearray)
    draining: bool = False


def _drop(conn: socket.socket, selector: selectors.BaseSelector, pending: dict[socket.socket, _Pending]) -> None:
    pending.pop(conn, None)
    try:
        selector.unregister(conn)
    except (KeyError, ValueError):
        pass
    conn.close()


def _send_now(conn: socket.socket, data: bytes) -> bool:
    """Send a short reply without waiting (the pending connections' thread never blocks); False if it did not fit."""
    try:
        return conn.send(data) == len(data)
    except OSError:
        return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _encode(reply: dict[str, Any]) -> bytes:
    """One strict JSON line (RFC 8259: no NaN or Infinity; such values become null)."""
    try:
        text = json.dumps(reply, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(reply), default=str, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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
