"""Step reports for every diffusers pipeline, with or without ``callback_on_step_end``.

Most pipelines call ``callback_on_step_end(pipe, i, t, kwargs)`` once per denoising step;
some (HunyuanVideo 1.5's) take no callback at all.  Those still call ``pipe.scheduler.step``
exactly once per step, so :func:`reporting_steps` wraps that call for the duration of one run
and reports from it.  Either way the callback is :func:`wgp_diffusers.diffusion.step_callback`'s:
progress per step, and a cancelled job raises out of the step, which stops the pipeline before
its VAE decode (nothing is written).  Torch-free.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any


def takes_step_callback(pipe: Any) -> bool:
    """Whether ``pipe``'s ``__call__`` has a ``callback_on_step_end`` argument (or takes ``**kwargs``)."""
    parameters = inspect.signature(type(pipe).__call__).parameters
    return "callback_on_step_end" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


@contextlib.contextmanager
def reporting_steps(pipe: Any, on_step_end: Callable[[Any, int, Any, dict], dict]) -> Iterator[dict[str, Any]]:
    """The extra call arguments that make ``pipe`` report each step to ``on_step_end``.

    ``{"callback_on_step_end": on_step_end}`` when the pipeline takes one (or has no scheduler to
    report from, so it fails as before); otherwise ``{}``, with the pipeline's scheduler's ``step``
    wrapped until the block ends (then restored)::

        with reporting_steps(pipe, callback) as extra:
            output = pipe(**kwargs, generator=generator, **extra)
    """
    if takes_step_callback(pipe) or getattr(pipe, "scheduler", None) is None:
        yield {"callback_on_step_end": on_step_end}
        return
    scheduler = pipe.scheduler
    step = scheduler.step
    calls = {"i": 0}

    def reported_step(model_output: Any, timestep: Any, *args: Any, **kwargs: Any) -> Any:
        out = step(model_output, timestep, *args, **kwargs)
        index = calls["i"]
        calls["i"] += 1
        on_step_end(pipe, index, timestep, {})
        return out

    scheduler.step = reported_step  # an instance attribute: the class's method is untouched
    try:
        yield {}
    finally:
        del scheduler.step


__all__ = ["reporting_steps", "takes_step_callback"]
