"""Media inputs, opened and verified at the door, fingerprinted, and kept safe for queued jobs.

Every file a job reads (a schema parameter of a media type: ``image``, ``video``,
``audio``, ``mask``, ``path``; a plan option of those types) passes :func:`verify_media` when the
job is built, for ``wgp run``, ``wgp queue add`` and plugin commands alike: a
queued job must never fail in the worker because its start image is a text
file.  Images are decoded in full with Pillow (its decompression-bomb guard
is an error here, not a warning); videos must have a video stream of which
PyAV decodes one frame; audio files must have an audio stream of which one
frame decodes (a video with a sound track counts); a mask is an image or a video.
A problem is a :class:`~wgp_hookspecs.ParameterError` naming the parameter and the
file, so the CLI prints one line naming the flag.

Each verified file is fingerprinted (sha256, bytes) into the request's ``inputs``,
which the generation record keeps.  A queued job does not point at the user's file:
:func:`stash_inputs` copies it into a content-addressed store under the
state folder, so deleting or editing the original after ``wgp queue add`` changes
nothing; :func:`check_unchanged` makes the worker refuse a file whose bytes are
not the ones checked at the door.

Pillow and PyAV are imported only when a file is checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from wgp_hookspecs import MEDIA_TYPES, ParameterError, UserError

if TYPE_CHECKING:  # pragma: no cover
    from wgp_hookspecs import GenerationRequest

    from .job import Job

#: Where :func:`stash_inputs` keeps queued jobs' input files, under the state folder.
STORE_DIR = "inputs"

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
    elif kind == "audio":
        _verify_audio(name, path, text)
    elif kind == "mask":
        _verify_mask(name, path, text)
    return str(path.resolve())


def fingerprint(kind: str, path: str) -> dict[str, Any]:
    """What the request records of a verified input: kind, path, sha256 and size."""
    from .atomic import sha256_file

    return {"kind": kind, "path": path, "sha256": sha256_file(Path(path)), "bytes": os.stat(path).st_size}


def stash_inputs(job: Job, state_dir: str | os.PathLike[str]) -> Job:
    """``job`` with each input file copied into the content-addressed store (atomically,
    once per content); the params point at the stored file and each input keeps its
    original path as ``source``."""
    import dataclasses

    if not job.request.inputs:
        return job
    state = Path(state_dir).resolve()
    store = state / STORE_DIR
    params = dict(job.request.params)
    inputs: dict[str, Any] = {}
    for name, info in job.request.inputs.items():
        many = isinstance(info, list)
        # A file the state folder holds already (a WanGP queue's extracted images) is the queue's own.
        stored = [item if Path(item["path"]).is_relative_to(state) else _store(store, item)
                  for item in (info if many else [info])]
        params[name] = [item["path"] for item in stored] if many else stored[0]["path"]
        inputs[name] = stored if many else stored[0]
    request = dataclasses.replace(job.request, params=params, inputs=inputs)
    return dataclasses.replace(job, request=request)


def _store(store: Path, info: dict[str, Any]) -> dict[str, Any]:
    from .atomic import atomic_write, sha256_file

    source = Path(info["path"])
    # The suffix stays: decoders and families pick the format from it.
    target = store / info["sha256"][:2] / (info["sha256"] + source.suffix.lower())
    if not target.exists():
        import shutil

        target.parent.mkdir(parents=True, exist_ok=True)
        # A copy, never a hard link: an editor that rewrites the original in place would
        # change a linked copy too.  (copyfile uses the kernel's copy, a reflink where the
        # filesystem offers one.)
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    if sha256_file(target) != info["sha256"]:
        # The file changed between the check and the link: its new bytes were never verified.
        target.unlink(missing_ok=True)
        raise UserError(f"{source} changed while the job was being queued; queue it again")
    return {**info, "path": str(target), "source": info.get("source", str(source))}


#: A stored input younger than this is never pruned: a ``queue add`` may have copied it and
#: not yet added its job.
PRUNE_GRACE_S = 600.0


def prune_inputs(state_dir: str | os.PathLike[str], jobs: Iterable[Mapping[str, Any]], grace_s: float | None = None) -> int:
    """Remove the stored input files that none of ``jobs`` (every job the queue still holds,
    as dicts) reads; returns how many went."""
    import time

    keep = set()
    for job in jobs:
        for info in ((job.get("request") or {}).get("inputs") or {}).values():
            keep.update(item.get("sha256") for item in (info if isinstance(info, list) else [info]))
    grace = PRUNE_GRACE_S if grace_s is None else grace_s
    removed, now = 0, time.time()
    for path in (Path(state_dir) / STORE_DIR).glob("*/*"):
        if path.name.split(".", 1)[0] not in keep and now - path.stat().st_mtime > grace:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def check_unchanged(request: GenerationRequest) -> None:
    """Refuse to run on an input whose bytes differ from those verified at the door."""
    from .atomic import sha256_file

    for name, info in request.inputs.items():
        for item in info if isinstance(info, list) else [info]:
            path = Path(item["path"])
            shown = item.get("source", item["path"])
            if not path.is_file():
                raise UserError(f"input {name}: {shown} is gone since the job was queued")
            if sha256_file(path) != item["sha256"]:
                raise UserError(f"input {name}: {shown} changed since the job was queued (sha256 differs); queue it again")


def _verify_audio(name: str, path: Path, text: str) -> None:
    """An audio stream of which one frame decodes (a video's sound track counts)."""
    _first_frame(name, path, text, "audio")


class _NotAnImage(ParameterError):
    """Pillow does not know the file; ``is_video`` says whether PyAV decodes a video stream from it."""

    def __init__(self, param: str, rule: str, is_video: bool) -> None:
        super().__init__(param, rule)
        self.is_video = is_video


def _verify_mask(name: str, path: Path, text: str) -> None:
    """A mask is a still image or a video (one frame per output frame)."""
    try:
        _verify_image(name, path, text)
    except _NotAnImage as exc:
        if not exc.is_video:  # a video was verified by _verify_image's probe
            raise ParameterError(name, f"{text} is neither an image nor a video") from None


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
        video = _is_video(path)
        what = "a video, not an image" if video else "not an image Pillow can read (unknown format)"
        raise _NotAnImage(name, f"{text} is {what}", video) from None
    except Exception as exc:  # noqa: BLE001 - decoders fed arbitrary bytes raise anything (SyntaxError: "broken PNG file")
        raise ParameterError(name, f"{text} is a damaged image ({_reason(exc).lower()})") from None
    if 0 in size:
        raise ParameterError(name, f"{text} is an image with no pixels ({size[0]}x{size[1]})")


def _verify_video(name: str, path: Path, text: str) -> None:
    """A video stream of which one frame decodes, in a container that is not a still image."""
    format_name = _first_frame(name, path, text, "video")
    # FFmpeg reads a still image as a one-frame "video" (judged after decoding: a text
    # file named .png is no image either).
    if format_name in _IMAGE_DEMUXERS or format_name.endswith("_pipe"):
        raise ParameterError(name, f"{text} is an image, not a video")


#: How each stream kind's errors word the file: what it is not, what has none, what lacks it.
_STREAM_WORDS = {
    "video": ("a video", "a video with no frames", "it holds audio only"),
    "audio": ("audio", "audio with no samples", "it is an image or a video without sound"),
}


def _first_frame(name: str, path: Path, text: str, kind: str) -> str:
    """Decode the first frame of the file's first ``kind`` stream; returns the container's format name."""
    import av

    noun, empty, other = _STREAM_WORDS[kind]
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ParameterError(name, f"{text} is not {noun} PyAV can read ({_reason(exc).lower()})") from None
    with container:
        if not getattr(container.streams, kind):
            what = other if (container.streams.audio or container.streams.video) else "no streams at all"
            raise ParameterError(name, f"{text} has no {kind} stream ({what})")
        try:
            frame = next(iter(container.decode(**{kind: 0})), None)
        except Exception as exc:  # noqa: BLE001 - decoders fed arbitrary bytes raise anything
            raise ParameterError(name, f"{text} is not {noun} PyAV can decode ({_reason(exc).lower()})") from None
        if frame is None:
            raise ParameterError(name, f"{text} is {empty}")
        return str(container.format.name)


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
