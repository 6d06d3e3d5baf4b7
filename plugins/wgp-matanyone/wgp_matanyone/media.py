"""Reading the source: video frames, every audio track (cut to the frame range) and the mask.

PyAV and Pillow only; nothing here imports torch, so ``check`` can validate a job
before any weight is loaded.  Every problem the user can fix is a ``UserError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wgp_hookspecs import AudioTrack, UserError


@dataclass(frozen=True)
class AudioInfo:
    index: int  # among the container's audio streams
    codec: str
    sample_rate: int
    channels: int
    language: str | None
    title: str | None


@dataclass(frozen=True)
class VideoInfo:
    path: str
    frames: int
    fps: float
    width: int
    height: int
    audio: tuple[AudioInfo, ...] = field(default_factory=tuple)


def _open(path: str | Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"cannot open {Path(path).name} as a video: {exc}") from None


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, frame rate, size and audio streams; a file without video is an error."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise UserError(f"{Path(path).name} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if fps <= 0:
            raise UserError(f"{Path(path).name}: cannot tell the frame rate of its video stream")
        frames = int(stream.frames or 0)
        if frames <= 0:  # containers without a frame count (MKV, WebM): count the packets
            try:
                frames = sum(1 for packet in container.demux(stream) if packet.size)
            except av.FFmpegError as exc:
                raise UserError(f"{Path(path).name}: cannot read its video stream: {exc}") from None
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        audio = tuple(
            AudioInfo(
                index=i,
                codec=_codec_name(a),
                sample_rate=int(a.codec_context.sample_rate or a.rate or 0),
                channels=int(a.codec_context.channels or len(a.codec_context.layout.channels) or 1),
                language=a.metadata.get("language"),
                title=a.metadata.get("title"),
            )
            for i, a in enumerate(container.streams.audio)
        )
    if frames <= 0 or width <= 0 or height <= 0:
        raise UserError(f"{Path(path).name}: its video stream has no frames")
    return VideoInfo(str(path), frames, fps, width, height, audio)


def _codec_name(stream: Any) -> str:
    """The codec's canonical name ("aac", "mp3", "opus"), not the decoder's ("mp3float")."""
    codec = stream.codec_context.codec
    return str(getattr(codec, "canonical_name", None) or codec.name)


def frame_range(info: VideoInfo, start: int, end: int | None) -> tuple[int, int]:
    """Validate ``start`` (inclusive) and ``end`` (exclusive, None = the last frame)."""
    name = Path(info.path).name
    if start < 0:
        raise UserError(f"start frame must be at least 0 (got {start})")
    if start >= info.frames:
        raise UserError(f"start frame {start} is past the end of {name} ({info.frames} frames: 0-{info.frames - 1})")
    stop = info.frames if end is None else min(int(end), info.frames)
    if stop <= start:
        raise UserError(f"end frame {end} must be after the start frame {start}")
    return start, stop


def read_frames(path: str | Path, start: int, stop: int) -> np.ndarray:
    """uint8 RGB frames ``[stop - start, H, W, 3]`` of the first video stream."""
    import av

    out = []
    with _open(path) as container:
        try:
            for index, frame in enumerate(container.decode(video=0)):
                if index >= stop:
                    break
                if index >= start:
                    out.append(frame.to_ndarray(format="rgb24"))
        except av.FFmpegError as exc:
            raise UserError(f"{Path(path).name}: cannot decode frame {start + len(out)}: {exc}") from None
    if not out:
        raise UserError(f"{Path(path).name}: no frames decoded in {start}-{stop - 1}")
    return np.stack(out)


def read_audio(path: str | Path, info: VideoInfo, start_s: float, stop_s: float) -> list[AudioTrack]:
    """Every audio track, float32 ``[samples, channels]``, cut to ``[start_s, stop_s)`` of the video's clock.

    Times are measured from the video stream's first frame, so a start frame of N cuts
    the audio at N / fps.  Tracks keep their language, title and source codec.
    """
    import av

    if not info.audio:
        return []
    chunks: dict[int, list[np.ndarray]] = {a.index: [] for a in info.audio}
    starts: dict[int, float] = {}
    with _open(path) as container:
        video = container.streams.video[0]
        origin = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        streams = list(container.streams.audio)
        resamplers = {s.index: av.AudioResampler(format="fltp", layout=s.codec_context.layout, rate=s.codec_context.sample_rate)
                      for s in streams}
        position = {s.index: i for i, s in enumerate(streams)}
        try:
            for packet in container.demux(*streams):
                for frame in packet.decode():
                    i = position[packet.stream.index]
                    if i not in starts:
                        starts[i] = float(frame.time) if frame.time is not None else origin
                    for out in resamplers[packet.stream.index].resample(frame):
                        chunks[i].append(out.to_ndarray())
            for s in streams:
                for out in resamplers[s.index].resample(None):
                    chunks[position[s.index]].append(out.to_ndarray())
        except av.FFmpegError as exc:
            raise UserError(f"{Path(path).name}: cannot decode its audio: {exc}") from None
    tracks = []
    for a in info.audio:
        rate = a.sample_rate
        data = np.concatenate(chunks[a.index], axis=1).T if chunks[a.index] else np.zeros((0, a.channels), np.float32)
        first = starts.get(a.index, origin) - origin
        lo = max(0, int(round((start_s - first) * rate)))
        hi = max(lo, int(round((stop_s - first) * rate)))
        samples = np.ascontiguousarray(data[lo:hi], dtype=np.float32)
        tracks.append(AudioTrack(samples, rate, language=a.language, codec=a.codec, title=a.title))
    return tracks


def read_mask(path: str | Path, width: int, height: int) -> np.ndarray:
    """The mask as uint8 ``[H, W]`` (Pillow's "L" conversion, as upstream); it must match the video size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mask = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read the mask {Path(path).name}: {exc}") from None
    if mask.shape != (height, width):
        raise UserError(f"the mask {Path(path).name} is {mask.shape[1]}x{mask.shape[0]} but the video is {width}x{height}")
    return mask
