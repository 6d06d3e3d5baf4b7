"""Multiplier schedules in the syntax WanGP users know.

- ``0.8``: one weight for every step;
- ``1.0,0.8,0.5``: values spread evenly over the steps (the first third of the
  steps at 1.0, and so on);
- ``1;0``: phases separated by ``;`` for two-expert models (Wan 2.2 A14B): the
  first applies to the high-noise expert, the second to the low-noise one.
"""

from __future__ import annotations

import math

from wgp_hookspecs import UserError

Phases = list[list[float]]
MAX_PHASES = 2


def parse_multiplier(text: str, lora: str = "") -> Phases:
    where = f" for LoRA {lora!r}" if lora else ""
    phases = []
    for phase in str(text).split(";"):
        values = []
        for item in phase.split(","):
            try:
                value = float(item.strip())
            except ValueError:
                raise UserError(f"bad LoRA multiplier {text!r}{where}: {item.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise UserError(f"bad LoRA multiplier {text!r}{where}: values must be finite")
            values.append(value)
        phases.append(values)
    if len(phases) > MAX_PHASES:
        raise UserError(f"bad LoRA multiplier {text!r}{where}: at most {MAX_PHASES} phases (high;low noise expert)")
    return phases


def weight_at(phases: Phases, expert: int, step: int, total: int) -> float:
    """The weight of one LoRA on ``expert`` (0 = high noise) at ``step`` (0-based) of ``total``."""
    values = phases[min(expert, len(phases) - 1)]
    if len(values) == 1 or total <= 0:
        return values[0]
    return values[min(len(values) - 1, step * len(values) // total)]


def is_per_step(phases: Phases) -> bool:
    return any(len(values) > 1 for values in phases)
