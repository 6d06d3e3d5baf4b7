"""Media inputs, opened and verified at the door.

Every file a job reads (a schema parameter of type ``image``, ``video`` or
``path``, a plan option of those types) passes :func:`verify_media` when the
job is built, for ``wgp run``, ``wgp queue add`` and plugin commands alike: a
queued job must never fail in the worker because its start image is a text
file.  Images are decoded in full with Pillow (its decompression-bomb guard
is an error here, not a warning); videos must have a video stream of which
PyAV decodes one frame.  A problem is a :class:`~wgp_hookspecs.ParameterError`
naming the parameter and the file, so the CLI prints one line naming the flag.

Pillow and PyAV are imported only when a file is checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from wgp_hookspecs import ParameterError

#: Parameter types that hold a file path (``path``: any file, only checked to be readable).
MEDIA_TYPES = ("image", "video", "path")

#: PyAV demuxers that read one still image: such a file is an image, not a video.
_IMAGE_DEMUXERS = ("image2",)


def verify_media(kind: str, name: str, value: str | os.PathLike[str]) -> str:
    """The absolute path of ``value`` once it is a readable file of ``kind``.

    ``name`` is the parameter (or plan option) the file was given for; errors
    name it and the file.  ``kind`` is ``image``, ``video`` or ``path``.
    """
    if kind not in MEDIA_TYPES:
        raise ValueError(f"unknown media kind {kind!r}; one of {', '.join(MEDIA_TYPES)}")
    text = str(os.fspath(value))
    if not text.strip():
        raise ParameterError(name, "needs a file name (got an empty one)")
    path = Path(text).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ParameterError(name, f"file not found: {text}") from None
    except OSError as exc:
        raise ParameterError(name, f"cannot read {text}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ParameterError(name, f"{text} is {what}; give a file")
    if info.st_size == 0:
        raise ParameterError(name, f"{text} is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ParameterError(name, f"cannot read {text}: {exc.strerror}") from None
    if kind == "image":
        _verify_image(name, path, text)
    elif kind == "video":
        _verify_video(name, path, text)
    return str(path.resolve())


def _verify_image(name: str, path: Path, text: str) -> None:
    """Open, verify and fully decode the image, as a family will."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's notes on a damaged file (TIFF tags, EXIF) would be extra lines on
            # stderr; what matters is whether it decodes.  It only warns between its
            # bomb limit and twice that: a job must not decode a bomb because of that.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size = image.size
                image.verify()  # structure and checksums (PNG CRCs)
            with Image.open(path) as image:
                image.load()  # every pixel: catches truncated and corrupt data
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS
        raise ParameterError(name, f"{text} is too large to decode safely (over Pillow's limit of {limit} pixels, "
                                   "its decompression-bomb guard); scale it down") from None
    except UnidentifiedImageError:
        what = "a video, not an image" if _is_video(path) else "not an image Pillow can read (unknown format)"
        raise ParameterError(name, f"{text} is {what}") from None
    except Exception as exc:  # noqa: BLE001 - decoders fed arbitrary bytes raise anything (SyntaxError: "broken PNG file")
        raise ParameterError(name, f"{text} is a damaged image ({_reason(exc).lower()})") from None
    if 0 in size:
        raise ParameterError(name, f"{text} is an image with no pixels ({size[0]}x{size[1]})")


def _verify_video(name: str, path: Path, text: str) -> None:
    """A video stream of which one frame decodes, in a container that is not a still image."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ParameterError(name, f"{text} is not a video PyAV can read ({_reason(exc).lower()})") from None
    with container:
        if not container.streams.video:
            what = "it holds audio only" if container.streams.audio else "no streams at all"
            raise ParameterError(name, f"{text} has no video stream ({what})")
        try:
            frame = next(iter(container.decode(video=0)), None)
        except Exception as exc:  # noqa: BLE001 - decoders fed arbitrary bytes raise anything
            raise ParameterError(name, f"{text} is not a video PyAV can decode ({_reason(exc).lower()})") from None
        if frame is None:
            raise ParameterError(name, f"{text} is a video with no frames")
        # FFmpeg reads a still image as a one-frame "video" (judged after decoding: a text
        # file named .png is no image either).
        if container.format.name in _IMAGE_DEMUXERS or container.format.name.endswith("_pipe"):
            raise ParameterError(name, f"{text} is an image, not a video")


def _is_video(path: Path) -> bool:
    """Whether PyAV finds a decodable video stream (used only to word an error)."""
    try:
        _verify_video("", path, "")
    except ParameterError:
        return False
    return True


def _reason(exc: Any) -> str:
    """An exception's own words on one line (PyAV's ``strerror``, without the path it appends)."""
    text = str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__
    return " ".join(text.split())
