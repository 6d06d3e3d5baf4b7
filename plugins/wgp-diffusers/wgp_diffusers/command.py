"""``wgp calibrate MODEL``: measure a model's MagCache ratios once, for later ``--cache magcache`` runs.

Declared as a ``wgp.commands`` entry point, so ``wgp --help`` lists it without
importing this module; the host interface arrives as the click context's object.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from wgp_hookspecs import CancelToken, GenerationContext, Host, JobOptions, UserError

#: What the calibration run draws when no prompt is given: an ordinary scene with motion,
#: like the prompts MagCache's authors calibrated on (ratios vary little with the prompt).
CALIBRATION_PROMPT = "A cat walks along a sunlit garden wall, the camera slowly following it"


@click.command()
@click.argument("model_id", metavar="MODEL")
@click.option("--steps", type=click.IntRange(min=2), help="Denoising steps to calibrate for (default: the model's).")
@click.option("-p", "--prompt", default=CALIBRATION_PROMPT, show_default=False, help="Prompt of the calibration run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration run.")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE", help="Another model parameter (size, frames, ...); repeatable.")
@click.option("--model-path", metavar="DIR_OR_REPO", help="Weights folder or repo id overriding the default.")
@click.option("--device", help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--dtype", help="Compute dtype (as wgp run --dtype).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored calibration as JSON.")
@click.pass_obj
def calibrate(host: Host, model_id: str, steps: int | None, prompt: str, seed: int, set_items: tuple[str, ...],
              model_path: str | None, device: str | None, dtype: str | None, config_file: str | None, as_json: bool) -> None:
    """Measure MODEL's MagCache ratios (one plain run) and store them for --cache magcache."""
    from . import calibration
    from .options import OPTION_GROUP

    family, spec = host.model(model_id)
    if OPTION_GROUP not in family.option_groups:
        raise UserError(f"wgp calibrate: {spec.id} is not a diffusers model; MagCache applies to diffusers transformers")
    params: dict[str, Any] = {"prompt": prompt, "seed": seed}
    if steps is not None:
        params["steps"] = steps
    request, plan, warnings = host.prepare_job(
        JobOptions(model=spec.id, params=params, set_items=set_items, model_path=model_path, device=device,
                   plan_options={"dtype": dtype} if dtype else {}),
        config_file=config_file,
    )
    for warning in warnings:
        click.echo(f"wgp: warning: {warning}", err=True)
    if plan.cache_dir is None:
        raise UserError("wgp calibrate: no cache_dir configured to store the calibration in")
    total = int(request.params["steps"])

    def emit(event: str, **fields: Any) -> None:
        if event == "step" and not as_json:
            click.echo(f"\rcalibrating {spec.id}: step {fields['step']}/{fields['total']}", err=True, nl=fields["step"] == fields["total"])
        elif event == "job.warning":
            click.echo(f"wgp: warning: {fields['message']}", err=True)

    model = family.load(spec, plan)
    try:
        result = calibration.calibrate_magcache(model, request, GenerationContext(job="calibrate", cancel=CancelToken(), emit=emit, plan=plan))
    finally:
        model.unload()
    path = calibration.save_calibration(
        plan.cache_dir, spec.id, model.weights_revision, total, result["mag_ratios"],
        prompt=request.params["prompt"], seed=request.params.get("seed"), contexts=result["contexts"],
        params={k: request.params[k] for k in ("width", "height", "frames") if k in request.params},
        diffusers=_diffusers_version(),
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps({**data, "path": str(path)}, indent=2))
        return
    click.echo(f"stored {spec.id}'s MagCache ratios for {total} steps ({model.weights_revision or 'unknown revision'}) in {path}")
    click.echo(f"use them with: wgp run -m {spec.id} --cache magcache --steps {total} ...", file=sys.stdout)


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__
