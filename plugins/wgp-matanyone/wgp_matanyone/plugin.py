"""Registers the ``matanyone`` family (``wgp matanyone`` is a ``wgp.commands`` entry point: :mod:`.command`).

Registration stays cheap (``wgp --help`` calls it): descriptors only.  torch is
imported by ``load`` and ``build_tiny``; PyAV and Pillow by ``check``.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from wgp_hookspecs import LoadPlan, ModelFamily, ModelSpec, Param, hookimpl

MODEL_ID = "matanyone"

PARAMS = (
    Param("video", "video", required=True, help="Source video; every audio track is kept."),
    Param("mask", "image", required=True,
          help="Mask of the object in the first processed frame (white = object), the video's size."),
    Param("start_frame", "int", 0, minimum=0, help="First frame to process (0-based)."),
    Param("end_frame", "int", None, minimum=1, help="Frame to stop before (exclusive); default: the end."),
    Param("erode", "int", 10, minimum=0, maximum=255, help="Mask erosion kernel size in pixels (0: off)."),
    Param("dilate", "int", 10, minimum=0, maximum=255, help="Mask dilation kernel size in pixels (0: off)."),
    Param("warmup", "int", 10, minimum=0, maximum=200, help="First-frame refinement passes before the video."),
    Param("invert", "bool", False, help="Matte the background instead: alpha = 1 - alpha."),
    Param("foreground", "bool", True, help="Write the foreground video (the source frames, with the audio tracks)."),
    Param("greenscreen", "bool", False, help="Also write a green-screen composite video."),
    Param("prompt", "str", "", help="Label used in output names and records (wgp matanyone: the video's name)."),
)

SPEC = ModelSpec(
    id=MODEL_ID,
    capabilities=frozenset({"video-matting", "video-in", "mask-in", "mattes-out", "audio-out"}),
    params=PARAMS,
    description="MatAnyone video matting (weights: non-commercial licence, supplied by the user)",
    weights=None,  # never downloaded: --model-path or config model_paths["matanyone"]
)


def load(spec: ModelSpec, plan: LoadPlan) -> Any:
    """Load the network (imports torch)."""
    from .family import load as load_model

    return load_model(spec, plan)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Random weights in the official layout (full size: a strict load needs the real shapes)."""
    from .family import build_tiny as build

    build(spec, folder)


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Validate the video, the mask and the frame range before any weight is loaded."""
    from .family import check_inputs

    return check_inputs(params)


FAMILY = ModelFamily(
    name="matanyone",
    models=(SPEC,),
    load=load,
    build_tiny=build_tiny,
    check=check,
    description="MatAnyone video matting: our own network, the official checkpoint",
)


@hookimpl
def register_model_families(register: Any) -> None:
    register(FAMILY)
