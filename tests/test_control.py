"""The control channel: token, limits, hostile input, and a server that keeps answering.

An in-process worker (QueueController.work in a thread, real SQLite, the echo
family) behind a real QueueControlServer on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wgp_hookspecs import UserError

READ_TIMEOUT = 1.0


class Worker:
    def __init__(self, home: Path) -> None:
        from wgp_host.defaults.sqlite_queue import SqliteQueue
        from wgp_host.plugins import get_host
        from wgp_host.progress import ProgressChannel
        from wgp_host.queue import QueueController
        from wgp_host.queue.control import QueueControlServer
        from wgp_host.runner import Runner
        from wgp_host.runtime import initialize_runtime

        self.runtime = initialize_runtime()
        self.state_dir = self.runtime.state_dir
        self.backend = SqliteQueue({"state_dir": str(self.state_dir)})
        self.events: list = []
        self.controller = QueueController(self.backend, Runner(get_host()), ProgressChannel(listeners=[self.events.append]))
        self.server = QueueControlServer(self.controller, self.state_dir, read_timeout=READ_TIMEOUT)
        self.port = self.server.start()
        self.thread = threading.Thread(target=self.controller.work, kwargs={"poll_interval": 0.02, "handle_signals": False})
        self.thread.start()

    def add(self, **params) -> str:
        from wgp_hookspecs import JobOptions

        from wgp_host.plugins import get_host
        from wgp_host.submit import build_job

        flags = {"prompt": "c", "steps": 1, "width": 8, "height": 8, "frames": 1, **params}
        extra = tuple(f"{k}={flags.pop(k)}" for k in list(flags) if k in ("step_seconds", "audio"))
        job, _ = build_job(get_host(), self.runtime, JobOptions(model="echo", params=flags, set_items=extra,
                                                                writers=("video",)))
        return self.controller.submit(job)

    def close(self) -> None:
        self.controller.shutdown()
        self.thread.join(timeout=15)
        self.server.stop()
        self.backend.close()


@pytest.fixture
def worker(wgp_env):
    w = Worker(wgp_env)
    yield w
    w.close()


def exchange(port: int, payload: bytes, timeout: float = 5.0) -> list[dict]:
    """Send raw bytes, then read replies until the server closes or goes quiet."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
        except OSError:
            pass
        sock.shutdown(socket.SHUT_WR)
        buf = b""
        try:
            while chunk := sock.recv(65536):
                buf += chunk
        except OSError:
            pass
    for line in buf.splitlines():
        replies.append(strict_json(line))
    return replies


def strict_json(raw: bytes | str):
    """RFC 8259 JSON only: Python's own parser would also take NaN and Infinity."""
    def refuse(name):
        raise AssertionError(f"{name} in a reply is not JSON: {raw[:200]!r}")

    return json.loads(raw, parse_constant=refuse)


def request(worker: Worker, **fields) -> dict:
    replies = exchange(worker.port, json.dumps(fields).encode() + b"\n")
    assert len(replies) == 1, replies
    return replies[0]


def wait_for(what, check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_files_token_and_status(worker):
    from wgp_host.liveness import process_identity
    from wgp_host.queue.control import send_command

    token_file, port_file = worker.state_dir / "control.token", worker.state_dir / "control.port"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert port_file.read_text().split() == [str(worker.port), "127.0.0.1", str(os.getpid()), process_identity(os.getpid())]
    assert token_file.read_text().strip() == worker.server.token and len(worker.server.token) >= 32
    status = send_command("status", worker.state_dir)
    assert status["ok"] and status["state"] == "idle" and status["pid"] > 0
    assert status["counts"] == dict.fromkeys(("queued", "running", "finished", "failed", "cancelled", "interrupted"), 0)


def test_refusals_are_error_replies_and_logged(worker, caplog):
    token = worker.server.token
    caplog.set_level(logging.WARNING, logger="wgp.queue.control")
    cases = [
        ({"command": "status"}, "missing token"),
        ({"token": 123, "command": "status"}, "missing token"),
        ({"token": "x" * 43, "command": "status", "id": 9}, "bad token"),
        ({"token": token, "command": "reboot"}, "unknown command 'reboot'"),
        ({"token": token}, "unknown command None"),
        ({"token": token, "command": "cancel"}, "needs a job id"),
        ({"token": token, "command": "cancel", "job": "nosuch"}, "no job 'nosuch'"),
    ]
    for fields, needle in cases:
        reply = request(worker, **fields)
        assert reply["ok"] is False and needle in reply["error"], (fields, reply)
    assert request(worker, token="wrong", command="status", id=9)["id"] == 9
    for raw, needle in ((b"{not json\n", "invalid JSON"), (b"[1, 2]\n", "must be a JSON object"),
                        (b"\xff\xfe\n", "not UTF-8"), (b'"status"\n', "must be a JSON object")):
        [reply] = exchange(worker.port, raw)
        assert reply["ok"] is False and needle in reply["error"]
    refused = [r.getMessage() for r in caplog.records if r.name == "wgp.queue.control"]
    assert sum("bad token" in m for m in refused) == 2 and sum("without a token" in m for m in refused) == 2
    assert request(worker, token=token, command="status")["ok"]


def test_one_megabyte_line_gets_an_error_and_the_server_keeps_serving(worker):
    big = b'{"token": "' + b"a" * (1 << 20) + b'"}\n'
    replies = exchange(worker.port, big)
    assert len(replies) == 1 and "message too large" in replies[0]["error"]
    no_newline = exchange(worker.port, b"x" * (1 << 20))
    assert "message too large" in no_newline[0]["error"]
    assert request(worker, token=worker.server.token, command="status")["ok"]


def test_slow_clients_do_not_block_others(worker):
    from wgp_host.queue.control import QueueControlServer, send_command

    # A second server on the same worker whose read timeout outlasts the requests' own
    # timeout: were connections served one at a time, the requests below would wait
    # behind the silent clients and fail.
    patient_dir = Path(worker.state_dir).parent / "patient"
    patient = QueueControlServer(worker.controller, patient_dir, read_timeout=120, auth_timeout=120)
    port = patient.start()
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    held[0].sendall(b'{"token": ')  # half a request
    try:
        for _ in range(5):
            assert send_command("status", patient_dir, timeout=5)["ok"]
        for sock in held:  # still open and still waiting: neither answered nor dropped
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in held:
            sock.close()
        patient.stop()

    # The read timeout: a silent client, and one that sends a byte now and then, are both cut off.
    silent = socket.create_connection(("127.0.0.1", worker.port))
    dripping = socket.create_connection(("127.0.0.1", worker.port))
    dripping.sendall(b'{"token": ')
    try:
        assert send_command("status", worker.state_dir, timeout=5)["ok"]
        silent.settimeout(READ_TIMEOUT + 5)
        reply = json.loads(silent.recv(4096).splitlines()[0])
        assert reply == {"ok": False, "error": "read timeout"}
        assert silent.recv(4096) == b""  # closed after the timeout
        # the deadline is per line, not per byte: were it per byte, this client would never
        # be cut off and the loop would end without a reply
        started = time.monotonic()
        dripping.settimeout(0.2)
        reply = b""
        while time.monotonic() - started < READ_TIMEOUT + 5 and not reply:
            try:
                dripping.sendall(b" ")
                reply = dripping.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
        assert b"read timeout" in reply
    finally:
        silent.close()
        dripping.close()


def test_pause_clear_resume_and_cancel_over_tcp(worker):
    from wgp_host.queue.control import send_command

    d = worker.state_dir
    running = worker.add(steps=500, step_seconds=0.01)
    wait_for("the job to run", lambda: (s := send_command("status", d))["current"] and s["current"]["step"])
    assert send_command("pause", d)["changed"] is True
    assert send_command("pause", d)["changed"] is False
    queued = [worker.add(), worker.add()]
    assert send_command("status", d)["state"] == "paused"
    assert send_command("cancel", d, job=running) == {"ok": True, "command": "cancel", "job": running, "state": "cancelling"}
    wait_for("the running job to end", lambda: worker.backend.get(running).state != "running")
    assert worker.backend.get(running).state == "cancelled"  # it stopped before its 500 steps were done
    assert send_command("clear", d)["cleared"] == 2
    assert all(worker.backend.get(j) is None for j in queued)
    assert send_command("resume", d)["changed"] is True
    done = worker.add(audio="true")
    wait_for("the job to finish", lambda: worker.backend.get(done).state == "finished")
    status = send_command("status", d)
    assert status["state"] == "idle" and status["recent"][0]["id"] == done
    assert status["recent"][0]["audio_tracks"] == 1  # the mp4 carries the echo tone
    assert status["loaded_model"] == "echo"
    names = [e.event for e in worker.events]
    assert names.count("queue.paused") == 1 and names.count("queue.resumed") == 1


def test_remote_binding_needs_allow_remote(worker):
    from wgp_host.queue.control import QueueControlServer, send_command

    with pytest.raises(UserError, match="needs --allow-remote"):
        QueueControlServer(worker.controller, worker.state_dir, host="0.0.0.0")
    other = Path(worker.state_dir).parent / "other-state"
    server = QueueControlServer(worker.controller, other, host="0.0.0.0", allow_remote=True)
    server.start()
    try:
        assert (other / "control.port").read_text().split()[1] == "127.0.0.1"
        assert send_command("status", other)["ok"]
    finally:
        server.stop()
    assert not (other / "control.port").exists()


def test_no_worker_or_a_stale_port_file_is_unavailable(tmp_path):
    from wgp_host.queue.control import WorkerUnavailable, send_command

    with pytest.raises(WorkerUnavailable, match="no worker is running"):
        send_command("status", tmp_path)
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "control.port").write_text(f"{port}\n")
    (tmp_path / "control.token").write_text("t\n")
    with pytest.raises(WorkerUnavailable, match="no worker answers"):
        send_command("status", tmp_path, timeout=1)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
COMMAND = st.sampled_from(["status", "pause", "resume", "cancel", "clear", "", "STATUS", "status\x00"]) | JSON
MESSAGES = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ")),
    st.text(max_size=300).map(lambda t: t.replace("\n", " ").encode("utf-8", "surrogatepass")),
    st.builds(lambda v: json.dumps(v).encode(), JSON),
    st.builds(lambda c, j, extra, good: json.dumps({**extra, "token": "TOKEN" if good else "nope", "command": c, "job": j}).encode(),
              COMMAND, JSON, st.dictionaries(st.text(max_size=8), JSON, max_size=3), st.booleans()),
)


def test_200_random_messages_never_stop_the_server(worker):
    from wgp_host.queue.control import send_command

    token = worker.server.token.encode()

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(messages=st.lists(MESSAGES, min_size=1, max_size=3))
    def one_connection(messages):
        payload = b"".join(m.replace(b"TOKEN", token) + b"\n" for m in messages)
        replies = exchange(worker.port, payload)
        assert len(replies) == sum(1 for m in messages if m.strip())  # blank lines are skipped
        assert all(isinstance(r, dict) and isinstance(r["ok"], bool) for r in replies)
        assert all(r["ok"] or r["error"] for r in replies)

    one_connection()
    # after all that, the server still answers status correctly
    send_command("resume", worker.state_dir)
    job = worker.add()
    wait_for("the job", lambda: worker.backend.get(job).state == "finished")
    status = send_command("status", worker.state_dir)
    assert (status["state"], status["paused"], status["recent"][0]["id"]) == ("idle", False, job)
    assert status["counts"]["finished"] == 1 and status["counts"]["running"] == 0


def test_a_stale_port_file_never_leaks_the_token(tmp_path):
    """A worker killed with -9 leaves control.port behind; a client must not send the token to
    whatever listens on that port now."""
    import socket as socket_module

    from wgp_host.queue.control import PORT_FILE, TOKEN_FILE, WorkerUnavailable, send_command

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    listener = socket_module.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    (tmp_path / PORT_FILE).write_text(f"{listener.getsockname()[1]}\n127.0.0.1\n{gone.pid}\n")
    (tmp_path / TOKEN_FILE).write_text("secret-token\n")
    with pytest.raises(WorkerUnavailable, match="is gone"):
        send_command("status", tmp_path)
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody connected, so nothing was sent
    # A live pid is not enough: the port file also names the process, and a recycled pid
    # (here: this test process, with an identity from another process) is not its worker.
    from wgp_host.liveness import process_identity

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        identity = process_identity(other.pid)
    finally:
        other.kill()
        other.wait()
    assert identity is not None and identity != process_identity(os.getpid())
    (tmp_path / PORT_FILE).write_text(f"{listener.getsockname()[1]}\n127.0.0.1\n{os.getpid()}\n{identity}\n")
    with pytest.raises(WorkerUnavailable, match="is gone"):
        send_command("status", tmp_path)
    with pytest.raises(TimeoutError):
        listener.accept()
    # ... while the right identity (or none, as older versions wrote) gets through to the listener.
    (tmp_path / PORT_FILE).write_text(f"{listener.getsockname()[1]}\n127.0.0.1\n{os.getpid()}\n{process_identity(os.getpid())}\n")
    outcome: list = []

    def client() -> None:
        try:
            send_command("status", tmp_path, timeout=5)
        except UserError as exc:  # the listener is no worker: it closes without a reply
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    listener.settimeout(30)
    conn, _ = listener.accept()
    assert b"secret-token" in conn.recv(4096)
    conn.close()
    thread.join(timeout=30)
    assert len(outcome) == 1 and "no worker answers" in str(outcome[0])
    listener.close()


# --------------------------------------------------------------------------- floods and saturation

FLOOD = r"""
import random, socket, sys, time
port, idle_count = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(7)
junk = [b'{"token": "nope", "command": "cancel", "job": "x"}\n', b"\xff\xfe garbage\n", b'{"token": ',
        b"[1, 2]\n" * 50, b'{"id": 1e999, "token": "nope"}\n', b"\n\n\n", b"x" * 70000]


def dropped(sock):
    try:
        sock.recv(4096)  # a reply or EOF: the server let go of it
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


idle, ready = [], False
while True:
    # Idle connections that never send a byte, re-opened as soon as the server drops one.
    kept = [s for s in idle if not dropped(s)]
    for s in set(idle) - set(kept):
        s.close()
    idle = kept
    while len(idle) < idle_count:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            break
        sock.setblocking(False)
        idle.append(sock)
    if len(idle) >= idle_count and not ready:
        print("ready", flush=True)
        ready = True
    for _ in range(5):  # and junk: connect, send something, go
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(rng.choice(junk))
        except OSError:
            pass
    time.sleep(0.02)
"""


def test_a_flood_of_idle_and_junk_connections_cannot_lock_out_the_token_holder(worker):
    from wgp_host.queue.control import send_command

    d = worker.state_dir
    running = worker.add(steps=400, step_seconds=0.05)
    wait_for("the job to run", lambda: (s := send_command("status", d))["current"] and s["current"]["step"])
    # More idle connections than the server keeps waiting (MAX_PENDING, 256): the oldest are pushed out.
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(worker.port), "300"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_for("the flood to hold its connections", lambda: select.select([flood.stdout], [], [], 0.1)[0])
        assert flood.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the flood in full swing: idle connections re-opened, junk arriving
        for _ in range(3):
            started = time.monotonic()
            assert send_command("status", d, timeout=1.0)["current"]["id"] == running
            assert time.monotonic() - started < 1.0
        started = time.monotonic()
        reply = send_command("cancel", d, job=running, timeout=1.0)
        assert (reply["state"], time.monotonic() - started < 1.0) == ("cancelling", True)
        wait_for("the job to stop", lambda: worker.backend.get(running).state == "cancelled")
        assert flood.poll() is None  # the flood went on all along
    finally:
        flood.kill()
        flood.wait(timeout=10)


def test_a_saturated_channel_sends_the_cli_to_the_database(worker, wgp_cli):
    from wgp_host.queue.control import MAX_CLIENTS, send_command

    d = worker.state_dir
    send_command("pause", d)
    job = worker.add()
    token = worker.server.token
    held = []
    try:
        for _ in range(MAX_CLIENTS):  # token holders, each keeping its slot after one request
            sock = socket.create_connection(("127.0.0.1", worker.port), timeout=5)
            sock.sendall(json.dumps({"token": token, "command": "status"}).encode() + b"\n")
            assert strict_json(sock.makefile("rb").readline())["ok"]
            held.append(sock)
        status = wgp_cli("queue", "status", "--json")
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)["via"] == "database"
        cancelled = wgp_cli("queue", "cancel", job)
        assert cancelled.exit_code == 0, cancelled.output
        assert worker.backend.get(job).state == "cancelled"
        [reply] = exchange(worker.port, json.dumps({"token": token, "command": "status", "id": 3}).encode() + b"\n")
        assert reply == {"id": 3, "ok": False, "error": "too many connections", "busy": True}
        from wgp_host.queue.control import WorkerBusy

        with pytest.raises(WorkerBusy, match="busy"):
            send_command("status", d, timeout=1.0)
        # An authenticated client that then says nothing still loses its slot after read_timeout.
        held[0].settimeout(READ_TIMEOUT + 5)
        assert strict_json(held[0].recv(4096).splitlines()[0]) == {"ok": False, "error": "read timeout"}
    finally:
        for sock in held:
            sock.close()
    wait_for("a free slot", lambda: _answers(d))


def _answers(state_dir) -> bool:
    from wgp_host.queue.control import WorkerBusy, send_command

    try:
        return send_command("status", state_dir, timeout=1.0)["ok"]
    except WorkerBusy:
        return False


@pytest.mark.parametrize("raw", [b'{"token": "TOKEN", "command": "status", "id": 1e999}',
                                 b'{"token": "TOKEN", "command": "status", "id": NaN}',
                                 b'{"token": "TOKEN", "command": "status", "id": -Infinity}'])
def test_requests_with_nan_or_infinity_are_refused_in_strict_json(worker, raw):
    [reply] = exchange(worker.port, raw.replace(b"TOKEN", worker.server.token.encode()) + b"\n")
    assert reply["ok"] is False and "invalid JSON" in reply["error"] and "id" not in reply


def test_a_reply_value_that_is_not_finite_goes_out_as_null():
    from wgp_host.queue.control import _encode

    assert strict_json(_encode({"ok": True, "value": float("inf"), "nested": [float("nan")]})) == \
        {"ok": True, "value": None, "nested": [None]}
