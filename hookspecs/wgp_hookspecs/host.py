"""The host interface: what a plugin may ask of the host, without importing it.

The host hands a :class:`Host` to plugin commands (as the click context's
``obj``, and as the ``host`` argument of ``register_commands``).  It is the only
way a plugin reaches runtime state: the configuration, the runtime directories,
the registered models and adapters, and running a job through the one code path
every job takes (validation at the door, the in-process queue, progress sinks,
Ctrl-C as cancel, the writers and the exit codes of ``wgp run``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import QueueBackend
    from .types import Adapter, GenerationRequest, LoadPlan, ModelFamily, ModelSpec


@dataclass
class JobOptions:
    """Everything ``wgp run`` / ``wgp queue add`` accept, before validation.

    ``params`` are schema parameters by name (``prompt``, ``steps``, ...);
    ``set_items`` are ``KEY=VALUE`` strings typed by the schema; ``plan_options``
    are values of registered plan options by name (``dtype``, ``offload``, ...);
    ``adapter_options`` are adapters' own options by name (``lora``, ...);
    ``media_flags`` are files given with families' own input flags, by flag
    (``{"--control-video": ["in.mp4"]}``), resolved against the chosen model's schema.
    Anything left ``None`` comes from the settings file, the config or the
    family's defaults, in that order.
    """

    model: str | None = None
    profile: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    set_items: tuple[str, ...] = ()
    resolution: str | None = None
    settings: str | None = None
    from_file: str | None = None
    output_dir: str | None = None
    writers: tuple[str, ...] = ()
    metadata_mode: str | None = None
    model_path: str | None = None
    device: str | None = None
    plan_options: dict[str, Any] = field(default_factory=dict)
    writer_options: dict[str, Any] = field(default_factory=dict)
    adapter_options: dict[str, Any] = field(default_factory=dict)
    media_flags: dict[str, Any] = field(default_factory=dict)


class Host(ABC):
    """The host as a plugin sees it.  Every method is cheap until it is used:
    plugins are loaded, and the config read, on first need."""

    @abstractmethod
    def config(self, config_file: str | None = None) -> Mapping[str, Any]:
        """The effective configuration (defaults < config file < ``WGP_*`` environment).

        ``config_file`` is a ``--config`` given to the plugin's command; None uses
        the usual lookup (``WGP_CONFIG``, ``WGP_HOME``, the user config folder).
        """

    @abstractmethod
    def directory(self, name: str, config_file: str | None = None) -> Path:
        """A runtime directory by config key (``output_dir``, ``state_dir``, ``loras_root``,
        ``models_dir``), absolute and created."""

    @abstractmethod
    def model(self, model_id: str) -> tuple[ModelFamily, ModelSpec]:
        """The family and spec of a registered model id; a UserError names the known ids."""

    @abstractmethod
    def families(self) -> list[str]:
        """Names of the registered model families, sorted."""

    @abstractmethod
    def adapter(self, name: str) -> Adapter:
        """The process-wide instance of a registered adapter (adapters keep caches between jobs)."""

    @abstractmethod
    def prepare_job(self, options: JobOptions, *, config_file: str | None = None) -> tuple[GenerationRequest, LoadPlan, list[str]]:
        """Validate ``options`` exactly as ``wgp run`` does and return, without running anything,
        the request and the load plan as this machine's worker would load it (weights resolved
        through config ``model_paths``, ``cache_dir`` set), with the door's warnings.

        For commands that load a model themselves (``wgp calibrate``).  Bad input raises
        :class:`~wgp_hookspecs.UserError`.
        """

    @abstractmethod
    def run_job(
        self,
        options: JobOptions,
        *,
        config_file: str | None = None,
        progress: str | None = None,
        events_file: str | None = None,
        as_json: bool = False,
    ) -> int:
        """Validate ``options`` into a job and run it in-process as ``wgp run`` does.

        Bad input raises :class:`~wgp_hookspecs.UserError` before anything runs (the CLI
        prints one line, exit status 2).  Warnings print once on stderr; progress goes
        to ``progress`` (``auto``, ``console``, ``jsonl``, ``none``; default from the
        config) and ``events_file``; Ctrl-C or SIGTERM cancel.  Returns the exit
        status: 0 finished, 1 failed, 2 bad input found while running, 130 cancelled.
        """

    # The queue, for plugins that serve it (``wgp serve``): not abstract, so a Host written
    # before these existed still works; the host's own implementation provides them.

    def model_ids(self) -> list[str]:
        """Every registered model id, sorted."""
        raise NotImplementedError("this host does not list model ids")

    def queue(self, config_file: str | None = None) -> QueueBackend:
        """The configured persistent queue backend (config ``queue_backend``), opened for the
        caller, who closes it; a UserError when it is unavailable (as ``wgp queue``)."""
        raise NotImplementedError("this host has no queue")

    def queue_job(
        self,
        options: JobOptions,
        *,
        priority: int = 0,
        job_id: str | None = None,
        config_file: str | None = None,
    ) -> tuple[str, list[str]]:
        """Validate ``options`` exactly as ``wgp queue add`` does and queue the job; returns its id
        and the door's warnings.  ``job_id`` chooses the id (a caller that must know it before the
        job exists: idempotent submits).  Bad input raises :class:`~wgp_hookspecs.UserError`
        (a :class:`~wgp_hookspecs.ParameterError` names the parameter) and queues nothing."""
        raise NotImplementedError("this host has no queue")

    def queue_batch(
        self,
        options: JobOptions,
        sweeps: tuple[str, ...],
        *,
        priority: int = 0,
        batch_id: str | None = None,
        config_file: str | None = None,
    ) -> tuple[str, list[str], list[str]]:
        """Validate and queue a batch as ``wgp queue add --sweep`` does (``sweeps`` are its
        ``KEY=A..B`` / ``KEY=V1,V2`` items): every job validated before any is queued.  Returns the
        batch id (``batch_id`` when given), the job ids in run order and the warnings."""
        raise NotImplementedError("this host has no queue")

    def batch_status(self, batch_id: str, *, config_file: str | None = None) -> dict[str, Any] | None:
        """A batch rolled up as ``wgp queue status BATCH --json`` shows it (jobs per state, steps
        done of all, failed and cancelled ids, ``ids``); None when no job has that batch id."""
        raise NotImplementedError("this host has no queue")
