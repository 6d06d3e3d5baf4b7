"""wgp_host.liveness with real processes: alive, killed, a zombie, a recycled pid, and its three callers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wgp_host.liveness import boot_identity, process_alive, process_identity


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def exited_unreaped(proc: subprocess.Popen) -> None:
    """Wait until ``proc`` has exited without reaping it: it stays a zombie."""
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)


def test_a_process_is_alive_until_killed_and_reaped():
    proc = sleeper()
    try:
        identity = process_identity(proc.pid)
        assert identity is not None and identity.startswith(boot_identity() + ":")
        assert process_alive(proc.pid) and process_alive(proc.pid, identity)
        assert process_identity(proc.pid) == identity  # the same token for as long as it runs
        assert identity != process_identity(os.getpid())  # another process, another token
    finally:
        proc.kill()
        proc.wait()
    assert not process_alive(proc.pid) and not process_alive(proc.pid, identity)
    assert process_identity(proc.pid) is None


def test_a_zombie_child_counts_as_dead():
    proc = sleeper()
    identity = process_identity(proc.pid)
    proc.send_signal(signal.SIGKILL)
    exited_unreaped(proc)
    try:
        os.kill(proc.pid, 0)  # the pid still exists (a zombie): a signal test alone would call it alive
        assert not process_alive(proc.pid) and not process_alive(proc.pid, identity)
        assert process_identity(proc.pid) is None
    finally:
        proc.wait()


def test_a_wrong_identity_is_another_process():
    pid, me = os.getpid(), process_identity(os.getpid())
    assert me is not None and process_alive(pid, me)
    boot, start = me.split(":")
    for wrong in (
        f"{boot}:{float(start) + 1:.2f}",  # this pid, reused one second later in this boot
        f"{int(boot) - 86400}:{start}",  # the same start after boot, but in a boot a day earlier
        "123456",  # a /proc start tick, as wgp stored before
        "",
        "garbage:x",
    ):
        assert not process_alive(pid, wrong), wrong
    # The clock set back an hour since `me` was taken: the boot time moves, the process does not.
    assert process_alive(pid, f"{int(boot) + 3600}:{start}")


def test_pids_that_cannot_be_processes():
    for pid in (0, -1, 2**40):
        assert not process_alive(pid) and process_identity(pid) is None


def test_temporary_files_name_a_live_or_dead_writer(tmp_path):
    from wgp_host.atomic import TMP_PREFIX, temp_owner_alive, temp_path_for

    mine = temp_path_for(tmp_path / "video.mp4")
    assert mine.name.startswith(f"{TMP_PREFIX}{os.getpid()}-") and temp_owner_alive(mine) is True
    proc = sleeper()
    theirs = tmp_path / f"{TMP_PREFIX}{proc.pid}-abc.mp4"
    assert temp_owner_alive(theirs) is True
    proc.kill()
    exited_unreaped(proc)
    assert temp_owner_alive(theirs) is False  # a zombie writes nothing more
    proc.wait()
    assert temp_owner_alive(theirs) is False
    assert temp_owner_alive(tmp_path / f"{TMP_PREFIX}notapid-x.mp4") is None


def test_the_dead_worker_rule_uses_the_identity(tmp_path):
    import socket
    import time

    from wgp_host.defaults.sqlite_queue import worker_dead

    proc = sleeper()
    try:
        row = {"host": socket.gethostname(), "boot_id": boot_identity(), "pid": proc.pid,
               "pid_start": process_identity(proc.pid), "heartbeat": 0.0}
        now = time.time()
        assert not worker_dead(row, now, 60)  # alive, however old its heartbeat
        assert worker_dead({**row, "pid_start": process_identity(os.getpid())}, now, 60)  # its pid, another process
        assert not worker_dead({**row, "boot_id": "another boot", "heartbeat": now}, now, 60)  # heartbeat rule
        assert worker_dead({**row, "boot_id": "another boot"}, now, 60)
    finally:
        proc.kill()
        proc.wait()
    assert worker_dead(row, time.time(), 60)


@pytest.mark.parametrize("lines", [3, 4])
def test_a_port_file_of_a_dead_worker_is_refused(tmp_path, lines):
    from wgp_host.queue.control import PORT_FILE, TOKEN_FILE, WorkerUnavailable, read_endpoint

    proc = sleeper()
    identity = process_identity(proc.pid)
    fields = ["12345", "127.0.0.1", str(proc.pid), str(identity)][:lines]
    Path(tmp_path / PORT_FILE).write_text("\n".join(fields) + "\n")
    (tmp_path / TOKEN_FILE).write_text("t\n")
    try:
        assert read_endpoint(tmp_path) == ("127.0.0.1", 12345, "t")
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(WorkerUnavailable, match="is gone"):
        read_endpoint(tmp_path)
