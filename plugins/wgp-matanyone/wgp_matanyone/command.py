"""``wgp matanyone``: a matting job from friendly flags, run like ``wgp run``.

The flags become a normal job that the host runs (``Host.run_job``) through the
same in-process queue path as ``wgp run``: validation at the door, progress
events, cancel, writers, manifest and exit codes.  Declared as a ``wgp.commands``
entry point; only click and wgp_hookspecs are imported here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from wgp_hookspecs import METADATA_MODES, PROGRESS_MODES, Host, JobOptions, ParameterError, UserError

OUTPUTS = ("foreground", "alpha", "rgba", "rgba_video", "greenscreen", "audio")
DEFAULT_OUTPUTS = "foreground,alpha,audio"
#: Writers that write media; the others in the config (manifest, sidecar, ...) are kept.
MEDIA_WRITERS = ("video", "image", "audio", "mattes")
#: Parameters set by this command's flags, so a refused value names the flag the user typed.
FLAG_PARAMS = ("video", "mask", "start_frame", "end_frame", "erode", "dilate", "warmup", "invert")


def parse_outputs(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in OUTPUTS]
    if unknown or not items:
        raise UserError(f"--outputs: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(OUTPUTS)}")
    return items


def plan_outputs(outputs: list[str], config_writers: list[str], extra_writers: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """(writers, matte_outputs) for the requested outputs."""
    mattes = [name for name, key in (("alpha", "alpha"), ("rgba", "rgba"), ("rgba_video", "rgba_video")) if name in outputs]
    writers = []
    if "foreground" in outputs or "greenscreen" in outputs:
        writers.append("video")
    if mattes:
        writers.append("mattes")
    if "audio" in outputs:
        writers.append("audio")
    for name in [*config_writers, *extra_writers]:
        if name not in MEDIA_WRITERS and name not in writers:
            writers.append(name)
    return tuple(writers), mattes


@click.command("matanyone")
@click.option("--video", required=True, type=click.Path(dir_okay=False), help="Source video (its audio tracks are kept).")
@click.option("--mask", required=True, type=click.Path(dir_okay=False), help="PNG mask of the object in the start frame (white = object).")
@click.option("--start-frame", type=click.IntRange(min=0), default=0, show_default=True, help="First frame to process.")
@click.option("--end-frame", type=click.IntRange(min=1), help="Frame to stop before (exclusive; default: the end).")
@click.option("--erode", type=click.IntRange(0, 255), default=10, show_default=True, help="Mask erosion kernel size (0: off).")
@click.option("--dilate", type=click.IntRange(0, 255), default=10, show_default=True, help="Mask dilation kernel size (0: off).")
@click.option("--warmup", type=click.IntRange(0, 200), default=10, show_default=True, help="First-frame refinement passes.")
@click.option("--invert", is_flag=True, help="Matte the background instead of the object.")
@click.option("--outputs", default=DEFAULT_OUTPUTS, show_default=True, metavar="LIST",
              help=f"Comma-separated: {', '.join(OUTPUTS)}.")
@click.option("--alpha-codec", type=click.Choice(["h264", "ffv1"]), help="Alpha video: ffv1 (lossless 16-bit, default) or h264.")
@click.option("--model-path", metavar="PATH", help="MatAnyone weights: folder with model.safetensors, or a .safetensors file.")
@click.option("--device", metavar="DEVICE", help="auto, cpu, cuda or cuda:N.")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Where outputs go (default: config output_dir).")
@click.option("--writer", "writers", multiple=True, metavar="NAME", help="Extra writer to run (e.g. manifest); repeatable.")
@click.option("--metadata-mode", type=click.Choice(METADATA_MODES), help="Where the generation record goes.")
@click.option("--progress", type=click.Choice(PROGRESS_MODES), default=None, help="Progress display (auto: a bar on a terminal).")
@click.option("--events", "events_file", type=click.Path(dir_okay=False), help="Append JSONL events to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file to use.")
@click.pass_context
def matanyone(ctx: click.Context, video: str, mask: str, start_frame: int, end_frame: int | None, erode: int, dilate: int,
              warmup: int, invert: bool, outputs: str, alpha_codec: str | None, model_path: str | None, device: str | None,
              output_dir: str | None, writers: tuple[str, ...], metadata_mode: str | None, progress: str | None,
              events_file: str | None, as_json: bool, config_file: str | None) -> None:
    """Video matting with MatAnyone: foreground, alpha, RGBA and audio from a video and a mask."""
    host: Host = ctx.obj
    wanted = parse_outputs(outputs)
    config = host.config(config_file)
    job_writers, matte_outputs = plan_outputs(wanted, list(config.get("writers") or []), writers)
    settings = {
        "video": video, "mask": mask, "start_frame": start_frame, "end_frame": end_frame, "erode": erode,
        "dilate": dilate, "warmup": warmup, "invert": invert, "foreground": "foreground" in wanted,
        "greenscreen": "greenscreen" in wanted, "prompt": Path(video).stem,
    }
    options = JobOptions(
        model="matanyone",
        set_items=tuple(f"{key}={value}" for key, value in settings.items() if value is not None),
        output_dir=output_dir,
        writers=job_writers,
        metadata_mode=metadata_mode,
        model_path=model_path,
        device=device,
        writer_options={"alpha_codec": alpha_codec, "matte_outputs": matte_outputs or None},
    )
    _log_info_to_stderr()
    try:
        # The host opens and verifies --video and --mask (schema types video and image) at the door.
        code = host.run_job(options, config_file=config_file, progress=progress, events_file=events_file, as_json=as_json)
    except ParameterError as exc:
        if exc.param not in FLAG_PARAMS:
            raise
        raise ParameterError("--" + exc.param.replace("_", "-"), exc.rule) from None
    ctx.exit(code)


def _log_info_to_stderr() -> None:
    """Show the runner's INFO line per kept audio track (path, rate, duration, language, channels, codec)."""
    import logging

    logger = logging.getLogger("wgp.runner")
    if not any(getattr(h, "_wgp_matanyone", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("wgp: %(levelname)s: %(message)s"))
        handler._wgp_matanyone = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
