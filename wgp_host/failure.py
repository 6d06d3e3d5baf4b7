"""How a failure that is not the user's reads: one line that names the exception.

A plugin's bug often raises an exception without a message (a bare ``assert``, a
``KeyError()``); its class is then all there is to say, with how to see where it came from.
Imports nothing but :mod:`os`: the CLI's last-resort handler uses it.
"""

from __future__ import annotations

import os

#: The environment variable that makes wgp show the traceback of a failure (and re-raise it).
DEBUG_ENV = "WGP_DEBUG"


def debug() -> bool:
    """Whether ``WGP_DEBUG`` asks for tracebacks."""
    return bool(os.environ.get(DEBUG_ENV))


def failure_text(exc: BaseException) -> str:
    """``Class: message``; for an exception without a message, the class and how to see the traceback."""
    message = str(exc).strip()
    if message:
        return f"{type(exc).__name__}: {message}"
    where = "its traceback is above" if debug() else f"run with {DEBUG_ENV}=1 to see the traceback"
    return f"{type(exc).__name__} (no message; {where})"


__all__ = ["DEBUG_ENV", "debug", "failure_text"]
