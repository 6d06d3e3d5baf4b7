"""Is a process still running, and is it still the process we remember?

One helper for everything in the host that records a pid and later asks
whether its owner lives: queue workers (``workers`` table of the SQLite
backend), the control channel's port file, and the temporary files of atomic
writes.  Built on psutil, so it works wherever psutil does, not only on Linux.

A pid alone is not a process: pids are reused, within one boot and across
reboots.  :func:`process_identity` gives a token for one *incarnation* of a
pid, made of the machine's boot time and the process's start time measured
from boot; a recycled pid (same boot, later start) or a reboot gives another
token.  Store the token next to the pid and pass it back to
:func:`process_alive`.

Rules, in :func:`process_alive`:

- a pid that does not exist, or is a zombie (exited, not yet reaped by its
  parent), is dead;
- with an identity: the process must have started the same time after boot as
  the one we remember, and that one must not have started before the current
  boot (a reboot).  Anything else is another process, so the one we remember
  is dead.  A string that is not an identity (an old format, garbage) never
  matches;
- a process we may not inspect (another user's, on some systems) counts as
  alive: declaring a live process dead is the worse mistake (a job would run
  twice), so the helper errs towards "alive".

The start is measured from boot, so setting the clock backwards, or forwards
by less than the time from boot to the process's start, does not make a live
process look dead.  :func:`boot_identity` does change when the clock is
stepped; callers use it only to decide that two records come from the same
boot, and fall back to a slower, safe rule (heartbeats) when they do not.
"""

from __future__ import annotations

import psutil

__all__ = ["boot_identity", "process_alive", "process_identity"]


def boot_identity() -> str:
    """A token for the current boot of this machine: the boot time in whole seconds since the epoch.

    Equal for every process of one boot; a reboot gives a later one.  Stepping
    the system clock changes it too, so a mismatch means "maybe another boot".
    """
    return f"{psutil.boot_time():.0f}"


def process_identity(pid: int) -> str | None:
    """A token naming this incarnation of ``pid`` (``"<boot>:<seconds from boot to start>"``).

    None when no such process runs, it is a zombie, or it may not be inspected.
    The token of one process never changes while it runs; a later process with
    the same pid, in this boot or the next, has another.
    """
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return None
            return _identity(proc)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def process_alive(pid: int, identity: str | None = None) -> bool:
    """True while ``pid`` runs, is not a zombie and, when ``identity`` is given, is that incarnation.

    ``identity`` is a value :func:`process_identity` returned earlier; None
    checks the pid only.
    """
    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return False
            return identity is None or _same_process(identity, _identity(proc))
    except psutil.NoSuchProcess:  # includes psutil.ZombieProcess
        return False
    except psutil.AccessDenied:
        return True  # it exists; see the module docstring for why unknown means alive


#: Seconds of slack when comparing boot times: /proc/stat rounds the boot time to whole seconds.
_BOOT_SLACK_S = 1.0
#: Start times have 1/100 s resolution on Linux.
_START_SLACK_S = 0.006


def _identity(proc: psutil.Process) -> str:
    boot = psutil.boot_time()
    # psutil reports the start on the wall clock (boot time + start since boot);
    # taking the boot time off again gives the part the clock cannot move.  Two
    # decimals: Linux counts in 1/100 s ticks, and rounding keeps float noise
    # out of the string.
    return f"{boot:.0f}:{proc.create_time() - boot:.2f}"


def _same_process(remembered: str, current: str) -> bool:
    try:
        old_boot, old_start = (float(x) for x in remembered.split(":"))
        boot, start = (float(x) for x in current.split(":"))
    except ValueError:  # not an identity (e.g. a /proc start tick stored by an older wgp)
        return False
    if abs(start - old_start) > _START_SLACK_S:
        return False  # the pid was reused in this boot, or this is another boot
    # The same start after boot can be a coincidence across a reboot; the
    # remembered process cannot have started before the current boot began.
    return old_boot + old_start >= boot - _BOOT_SLACK_S
