"""wgp host: plugin manager, runtime, config assembly, runner, queue, CLI."""

__version__ = "0.1.0"
