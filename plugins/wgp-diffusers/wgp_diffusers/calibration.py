"""MagCache calibration: ``wgp calibrate`` runs diffusers' own calibration once per model,
weights revision and step count, stores the ratios atomically under the plan's cache folder,
and later runs apply the ratios for their own step count (interpolated from the nearest when
that count was never calibrated, with a warning).  Split from :mod:`wgp_diffusers.levers`,
whose door check asks here whether a calibration exists."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wgp_hookspecs import LoadPlan, UserError

from . import levers


#: Under the plan's cache folder: ``magcache/<model>/<weights revision>/steps-<N>.json``.
CALIBRATION_DIR = "magcache"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text)


def calibration_file(cache_dir: str | os.PathLike[str], model_id: str, revision: str | None, steps: int) -> Path:
    """Where the calibration of ``model_id`` at ``revision`` for ``steps`` steps is kept."""
    return Path(cache_dir) / CALIBRATION_DIR / _safe(model_id) / _safe(revision or "unknown") / f"steps-{int(steps)}.json"


def calibrations(cache_dir: str | os.PathLike[str], model_id: str, revision: str | None = None,
                 any_revision: bool = False) -> dict[int, Path]:
    """Stored calibrations of ``model_id`` by steps: of ``revision``, or of any revision."""
    root = Path(cache_dir) / CALIBRATION_DIR / _safe(model_id)
    folders = sorted(p for p in root.glob("*") if p.is_dir()) if any_revision else [root / _safe(revision or "unknown")]
    found: dict[int, Path] = {}
    for folder in folders:
        for file in sorted(folder.glob("steps-*.json")):
            steps = file.stem.removeprefix("steps-")
            if steps.isdigit():
                found.setdefault(int(steps), file)
    return found


def save_calibration(cache_dir: str | os.PathLike[str], model_id: str, revision: str | None, steps: int,
                     ratios: list[float], **extra: Any) -> Path:
    """Write a calibration atomically (temp file, then rename): a reader never sees half of one."""
    import tempfile

    target = calibration_file(cache_dir, model_id, revision, steps)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {"model": model_id, "weights_revision": revision, "steps": int(steps), "mag_ratios": list(ratios), **extra}
    fd, temp = tempfile.mkstemp(prefix=".wgp-tmp-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def load_calibration(plan: LoadPlan, model_id: str, revision: str | None, steps: int) -> tuple[list[float], int, Path]:
    """The stored ratios for ``steps`` (else the nearest calibrated step count, which diffusers
    interpolates), their step count and file; a UserError says how to calibrate when there is none."""
    found = calibrations(plan.cache_dir, model_id, revision) if plan.cache_dir else {}
    if not found:
        raise UserError(f"magcache: no MagCache calibration of {model_id} for its weights ({revision or 'unknown revision'}); "
                        + levers.CALIBRATE_HINT.replace("MODEL", model_id))
    nearest = min(found, key=lambda n: (abs(n - int(steps)), -n))
    try:
        data = json.loads(found[nearest].read_text(encoding="utf-8"))
        ratios = [float(r) for r in data["mag_ratios"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"magcache: calibration {found[nearest]} is unreadable ({exc}); run `wgp calibrate {model_id}` again") from None
    return ratios, nearest, found[nearest]


def check_calibration(plan: LoadPlan, model_id: str, revision: str | None, pipe_index: Mapping[str, Any]) -> None:
    """At load, before any weight is read: calibrated MagCache has ratios for these weights, and one denoiser."""
    if levers._has_two_experts(pipe_index):
        raise UserError("magcache calibration covers one transformer; this model has two experts: pass "
                        "--cache-option mag_ratios=[...] or use another cache")
    load_calibration(plan, model_id, revision, 1)


def apply_calibrated_magcache(model: Any, steps: int) -> str | None:
    """Before a request: MagCache on every denoiser with the stored ratios for ``steps``
    (re-applied only when the step count changes); returns a warning when they were interpolated."""
    plan = model.plan
    if not levers.uses_calibration(plan) or getattr(model, "magcache_steps", None) == int(steps):
        return None
    ratios, calibrated, file = load_calibration(plan, model.spec.id, model.weights_revision, steps)
    options = {**levers.cache_options(plan), "mag_ratios": ratios, "num_inference_steps": int(steps)}
    config = levers.cache_config("magcache", options, {"current_timestep_callback": lambda: model.running_pipe.current_timestep})
    for _, module in levers.denoisers(model.pipe):
        if getattr(module, "is_cache_enabled", False):
            module.disable_cache()
        module.enable_cache(config)
    model.magcache_steps = int(steps)
    model.load_report["magcache_calibration"] = {"file": str(file), "steps": calibrated}
    if calibrated != int(steps):
        return f"magcache: ratios calibrated for {calibrated} steps, interpolated to {steps}"
    return None


def calibrate_magcache(model: Any, request: Any, context: Any) -> dict[str, Any]:
    """Run ``request`` once with diffusers' MagCache in calibration mode (it skips nothing and
    measures each step's residual magnitude ratio) and return the ratios it logs.

    With classifier-free guidance the transformer runs in two cache contexts (cond, uncond);
    diffusers logs ratios for each, and the first (cond) ones are the calibration.
    """
    import ast
    import logging

    import diffusers.hooks

    pipe = model.pipe
    if len(levers.denoisers(pipe)) != 1:
        raise UserError("wgp calibrate: this model has two experts (transformer and transformer_2); "
                        "MagCache calibration covers one transformer")
    steps = int(request.params["steps"])
    config = diffusers.hooks.MagCacheConfig(calibrate=True, num_inference_steps=steps)
    config.current_timestep_callback = lambda: model.running_pipe.current_timestep  # type: ignore[attr-defined]
    (_, transformer), = levers.denoisers(pipe)
    if getattr(transformer, "is_cache_enabled", False):
        transformer.disable_cache()
    transformer.enable_cache(config)
    results: list[list[float]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if text.startswith("MagCache Calibration Results:"):
                results.append([float(r) for r in ast.literal_eval(text.split(":", 1)[1].strip())])

    logger = logging.getLogger("diffusers.hooks.mag_cache")
    handler, level, propagate = Capture(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # captured here, not printed by diffusers' own handler
    try:
        # diffusers also prints the ratios; stdout is the command's own (--json) channel.
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            model.generate(request, context)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        transformer.disable_cache()
        model.magcache_steps = None
    if not results or len(results[0]) != steps:
        raise UserError(f"wgp calibrate: diffusers reported no MagCache ratios for {steps} steps "
                        f"(does {type(transformer).__name__} have MagCache's transformer blocks?)")
    return {"mag_ratios": results[0], "contexts": len(results), "steps": steps}
