"""The generation flags of ``wgp run`` and ``wgp queue add``, and the choice lists behind them.

Each choice list is defined once, here or where its rule lives (``METADATA_MODES``
in wgp_hookspecs, plan options' choices in their :class:`~wgp_hookspecs.Param`),
and used both by click and by validation.  Adapter options and plan options come
from plugins, so :class:`GenerationCommand` adds them when its parameters are
first asked for (``wgp --help`` never does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

from wgp_hookspecs import METADATA_MODES, PROGRESS_MODES, STANDARD_FLAGS

if TYPE_CHECKING:  # pragma: no cover
    from wgp_hookspecs import JobOptions

PROGRESS_OPTION = click.option(
    "--progress", type=click.Choice(PROGRESS_MODES), default=None, help="Progress display (auto: a bar on a terminal)."
)
EVENTS_OPTION = click.option("--events", "events_file", type=click.Path(dir_okay=False), help="Append JSONL events to FILE.")
METADATA_OPTION = click.option("--metadata-mode", type=click.Choice(METADATA_MODES), help="Where the generation record goes.")
SWEEP_OPTION = click.option("--sweep", "sweeps", multiple=True, metavar="KEY=VALUES",
                            help="One job per value: KEY=A..B (integers) or KEY=V1,V2,...; repeatable (every combination); one batch.")

#: Flags whose values are schema parameters (flag dest = parameter name).
FLAG_PARAMS = tuple(STANDARD_FLAGS)
#: The click destination of a family's own input flag: ``--control-video`` -> ``media__control_video``.
MEDIA_DEST = "media__"


def generation_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags shared by `wgp run` and `wgp queue add` (plugins add theirs on top)."""
    from ..defaults.video import CRF_RANGE

    options = [
        click.option("-m", "--model", "model", metavar="MODEL", help="Model id (see `wgp models`)."),
        click.option("--profile", metavar="NAME", help="Named bundle of parameters and levers (see `wgp profiles MODEL`)."),
        click.option("-p", "--prompt", help="Text prompt."),
        click.option("-n", "--negative-prompt", help="What to avoid."),
        click.option("--seed", type=int, help="Seed; -1 or omitted picks one (recorded in the output)."),
        click.option("--steps", type=int, help="Denoising steps."),
        click.option("--guidance", type=float, help="Classifier-free guidance scale."),
        click.option("--width", type=int, help="Width in pixels."),
        click.option("--height", type=int, help="Height in pixels."),
        click.option("--resolution", metavar="WxH", help="Width and height, e.g. 832x480."),
        click.option("--frames", type=int, help="Number of frames."),
        click.option("--fps", type=float, help="Frames per second of the output video."),
        click.option("--image-start", type=click.Path(dir_okay=False), help="Start image (image-to-video)."),
        click.option("--image-end", type=click.Path(dir_okay=False), help="End image (first-last-frame models)."),
        click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE", help="Family-specific parameter; repeatable."),
        click.option("--settings", type=click.Path(dir_okay=False), help="JSON file of parameters (or a request)."),
        click.option("--from", "from_file", type=click.Path(dir_okay=False), help="Re-run the request recorded in an output file or sidecar."),
        click.option("--output-dir", type=click.Path(file_okay=False), help="Where outputs go (default: config output_dir)."),
        click.option("--writer", "writers", multiple=True, metavar="NAME", help="Writer to run; repeatable (default: config writers)."),
        METADATA_OPTION,
        click.option("--crf", type=click.IntRange(*CRF_RANGE), help="Quality for h264/h265 (lower is better)."),
        click.option("--model-path", metavar="DIR_OR_REPO", help="Weights folder or repo id overriding the default."),
        click.option("--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


class GenerationCommand(click.Command):
    """A command with the generation flags plus the options that plugins contribute:
    adapters' (``--lora``, ``--enhance-prompt``), plan options (``--dtype``,
    ``--offload``, ...) and ``--video-codec``, whose choices the video writer owns.
    They are added when the parameters are first asked for."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        from ..plugins import get_host

        host = get_host()
        if getattr(self, "_options_host", None) is not host:
            # Rebuilt per plugin host, so a process that swaps hosts (tests) sees the right flags.
            self._base_params = getattr(self, "_base_params", None) or list(self.params)
            self.params = [*self._base_params, *_plugin_options(host, self._base_params)]
            self._options_host = host
        return super().get_params(ctx)


def _plugin_options(host: Any, base: list[click.Parameter]) -> list[click.Option]:
    """Click options whose choices plugins own: the video writer's codecs, plan options, adapters' options."""
    from ..defaults.video import CODECS

    out: list[click.Option] = [
        click.Option(["--video-codec"], type=click.Choice(list(CODECS)),
                     help="Video codec: h264 (mp4), h265 (mp4), vp9 (webm), prores (mov), ffv1 (lossless RGB mkv)."),
    ]
    taken = {o for p in base for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
    for option in sorted(host.registry.plan_options.values(), key=lambda o: o.name):
        param = option.param
        kwargs: dict[str, Any] = {"help": param.help, "default": None, "multiple": option.multiple}
        if param.type == "bool":
            pass  # "--x/--no-x" flags: None when neither is given
        elif param.choices is not None:
            kwargs["type"] = click.Choice([str(c) for c in param.choices])
        else:
            kwargs["type"] = {"int": int, "float": float}.get(param.type, str)
            if param.is_media:
                kwargs["metavar"] = "FILE"
        out.append(click.Option([*option.flags, "plan__" + option.name], **kwargs))
        taken |= {n for flag in option.flags for n in flag.split("/")}
    out += _media_options(host, taken)
    for opt in host.adapter_options():
        if set(opt.flags) & taken:
            continue  # a flag two plugins both claim: the first keeps it
        taken |= set(opt.flags)
        out.append(click.Option([*opt.flags, "adapter__" + opt.name], help=opt.help, multiple=opt.multiple,
                                is_flag=opt.is_flag, default=False if opt.is_flag else None, metavar=opt.metavar))
    return out


def _media_options(host: Any, taken: set[str]) -> list[click.Option]:
    """One repeatable option per input flag that families declare (``--control-video``); the
    model chosen decides which parameter it sets, and whether it takes one file or several."""
    helps: dict[str, str] = {}
    for _family, spec in host.registry.models.values():
        for param in spec.params:
            if param.flag and param.flag not in taken:
                text = (param.help or param.name.replace("_", " ")).rstrip(".")
                # Several families share a flag: the shortest of their help texts reads best in --help.
                if param.flag not in helps or len(text) < len(helps[param.flag]):
                    helps[param.flag] = text
    return [
        click.Option([flag, MEDIA_DEST + flag[2:].replace("-", "_")], multiple=True, metavar="FILE",
                     help=f"{text[:1].upper()}{text[1:]} (models that take it, and how many: `wgp models --json`).")
        for flag, text in sorted(helps.items())
    ]


def job_options(kw: dict[str, Any]) -> JobOptions:
    """Pop the generation flags out of a command's keyword arguments into :class:`JobOptions`."""
    from wgp_hookspecs import JobOptions

    return JobOptions(
        adapter_options={k.removeprefix("adapter__"): kw.pop(k) for k in list(kw) if k.startswith("adapter__")},
        media_flags={"--" + k.removeprefix(MEDIA_DEST).replace("_", "-"): kw.pop(k) for k in list(kw) if k.startswith(MEDIA_DEST)},
        plan_options={k.removeprefix("plan__"): kw.pop(k) for k in list(kw) if k.startswith("plan__")},
        model=kw.pop("model"),
        profile=kw.pop("profile"),
        params={k: kw.pop(k) for k in FLAG_PARAMS},
        set_items=kw.pop("set_items"),
        resolution=kw.pop("resolution"),
        settings=kw.pop("settings"),
        from_file=kw.pop("from_file"),
        output_dir=kw.pop("output_dir"),
        writers=kw.pop("writers"),
        metadata_mode=kw.pop("metadata_mode"),
        model_path=kw.pop("model_path"),
        device=kw.pop("device"),
        writer_options={"video_codec": kw.pop("video_codec"), "crf": kw.pop("crf")},
    )
