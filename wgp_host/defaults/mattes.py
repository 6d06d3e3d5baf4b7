"""Default matte writer: alpha video, a zip of RGBA PNG frames, an alpha-capable video.

Roles: ``mask_alpha`` (alpha as grey video: ``ffv1`` keeps 16 bits losslessly,
``h264`` is small and lossy), ``rgba_archive`` (zip of RGBA PNGs) and
``rgba_video`` (ProRes 4444 in .mov, or VP9 with alpha in .webm).  The option
``matte_outputs`` picks which of ``alpha``, ``rgba``, ``rgba_video`` are written.
"""

from __future__ import annotations

import io
import json
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Any

from wgp_hookspecs import GenerationResult, OutputContext, UserError, Writer, hookimpl

from .video import mux_frames

ALPHA_CODECS = {"ffv1": (".mkv", "video/x-matroska"), "h264": (".mp4", "video/mp4")}
RGBA_VIDEO = {
    "prores": ("prores_ks", ".mov", "video/quicktime", "yuva444p10le", {"profile": "4"}),
    "vp9": ("libvpx-vp9", ".webm", "video/webm", "yuva420p", {"crf": "30", "b:v": "0"}),
}
DEFAULT_OUTPUTS = ("alpha", "rgba", "rgba_video")


class MattesWriter(Writer):
    name = "mattes"
    kinds = frozenset({"mattes"})
    description = "Alpha mattes: grey alpha video (ffv1 16-bit or h264), RGBA PNG zip, ProRes 4444 / VP9 alpha video"
    order = 40

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        if result.mattes is None:
            return
        wanted = output.options.get("matte_outputs") or DEFAULT_OUTPUTS
        alpha_codec = str(output.options.get("alpha_codec") or "ffv1")
        rgba_codec = str(output.options.get("alpha_video_codec") or "prores")
        if alpha_codec not in ALPHA_CODECS:
            raise UserError(f"alpha codec must be one of {', '.join(ALPHA_CODECS)} (got {alpha_codec!r})")
        if rgba_codec not in RGBA_VIDEO:
            raise UserError(f"alpha video codec must be one of {', '.join(RGBA_VIDEO)} (got {rgba_codec!r})")
        alpha, fps = result.mattes, float(result.fps or 16)
        tags = {"comment": json.dumps(output.record, sort_keys=True)} if output.metadata_mode == "embedded" else {}
        meta = {"frames": int(len(alpha)), "width": int(alpha.shape[2]), "height": int(alpha.shape[1]), "fps": fps}
        if "alpha" in wanted:
            suffix, media_type = ALPHA_CODECS[alpha_codec]
            output.persist("mask_alpha", suffix, media_type,
                           lambda tmp: write_alpha_video(tmp, alpha, fps, alpha_codec, tags), {**meta, "codec": alpha_codec},
                           tag="alpha")
        if result.video is None:
            return
        if "rgba" in wanted:
            output.persist("rgba_archive", ".zip", "application/zip",
                           lambda tmp: write_rgba_zip(tmp, result.video, alpha, tags.get("comment")), meta, tag="rgba")
        if "rgba_video" in wanted:
            _, suffix, media_type, _, _ = RGBA_VIDEO[rgba_codec]
            output.persist("rgba_video", suffix, media_type,
                           lambda tmp: write_rgba_video(tmp, result.video, alpha, fps, rgba_codec, tags),
                           {**meta, "codec": rgba_codec}, tag="rgba")


def alpha_to_uint16(alpha: Any) -> Any:
    import numpy as np

    return np.round(np.clip(np.asarray(alpha, np.float64), 0, 1) * 65535).astype(np.uint16)


def rgba_frames(rgb: Any, alpha: Any) -> Any:
    import numpy as np

    a8 = np.round(np.clip(np.asarray(alpha, np.float32), 0, 1) * 255).astype(np.uint8)
    return np.concatenate([np.asarray(rgb, np.uint8), a8[..., None]], axis=-1)


def write_alpha_video(path: Path, alpha: Any, fps: float, codec: str, tags: dict[str, str] | None = None) -> None:
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        container.metadata.update(tags or {})
        if codec == "ffv1":
            stream = container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "gray16le"
            frames, fmt = alpha_to_uint16(alpha), "gray16le"
        else:
            from .video import pad_even

            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt, stream.options = "yuv420p", {"crf": "12"}
            grey = np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
            frames, fmt = pad_even(np.repeat(grey[..., None], 3, axis=-1)), "rgb24"
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        mux_frames(container, stream, (av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=fmt) for f in frames))


def write_rgba_zip(path: Path, rgb: Any, alpha: Any, comment: str | None = None) -> None:
    from PIL import Image

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        if comment is not None:
            archive.comment = comment.encode("utf-8")[:65535]
        for index, image in enumerate(rgba_frames(rgb, alpha)):
            buffer = io.BytesIO()
            Image.fromarray(image, mode="RGBA").save(buffer, format="PNG")
            archive.writestr(f"frame_{index:05d}.png", buffer.getvalue())


def write_rgba_video(path: Path, rgb: Any, alpha: Any, fps: float, codec: str, tags: dict[str, str] | None = None) -> None:
    import av
    import numpy as np

    from .video import pad_even

    encoder, _, _, pix_fmt, options = RGBA_VIDEO[codec]
    rgb, alpha = np.asarray(rgb, np.uint8), np.asarray(alpha, np.float32)
    if pix_fmt.startswith("yuva420"):
        rgb, alpha = pad_even(rgb), pad_even(alpha[..., None])[..., 0]
    with av.open(str(path), mode="w") as container:
        container.metadata.update(tags or {})
        stream = container.add_stream(encoder, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt, stream.options = int(rgb.shape[2]), int(rgb.shape[1]), pix_fmt, dict(options)
        mux_frames(container, stream, (yuva_frame(c, a, pix_fmt) for c, a in zip(rgb, alpha)))


def yuva_frame(rgb: Any, alpha: Any, pix_fmt: str) -> Any:
    """A YUVA frame whose alpha plane is written from ``alpha`` directly.

    swscale's rgba -> yuva conversion in the PyAV wheel corrupts whole rows of
    the alpha plane (seen at widths 33 and 34), so only the colour planes go
    through it.
    """
    import av
    import numpy as np

    height, width = rgb.shape[:2]
    colour = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format=pix_fmt.replace("yuva", "yuv"))
    frame = av.VideoFrame(width, height, pix_fmt)
    for index in range(3):
        frame.planes[index].update(bytes(colour.planes[index]))
    deep = pix_fmt.endswith("10le")
    values = np.round(np.clip(alpha, 0, 1) * (1023 if deep else 255)).astype("<u2" if deep else np.uint8)
    plane = frame.planes[3]
    rows = np.zeros((height, plane.line_size // values.itemsize), values.dtype)
    rows[:, :width] = values
    plane.update(rows.tobytes())
    return frame


@hookimpl
def register_writers(register: Any) -> None:
    register(MattesWriter())
