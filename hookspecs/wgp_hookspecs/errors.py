"""The exceptions a plugin raises or catches.  Cheap to import: the CLI needs them on every start."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: the CLI prints one line and exits with status 2."""


class ParameterError(UserError):
    """A parameter failed validation; the message names the parameter and the rule."""

    def __init__(self, param: str, rule: str) -> None:
        super().__init__(f"{param}: {rule}")
        self.param = param
        self.rule = rule


class JobCancelled(Exception):
    """Raised inside a job when its cancel token is set; the job writes nothing."""


class QueueOperationNotSupported(UserError):
    """A queue backend cannot perform an operation (the CLI prints one line, exit status 2)."""

    def __init__(self, backend: str, what: str) -> None:
        super().__init__(f"queue backend {backend!r} does not support {what}")
        self.backend = backend
        self.what = what
