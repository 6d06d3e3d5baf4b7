"""Default video writer: H.264 MP4 with AAC audio, or lossless FFV1 in MKV."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from wgp_hookspecs import AudioTrack, GenerationResult, OutputContext, UserError, Writer, hookimpl

#: codec name -> (encoder, container suffix, media type, pixel format)
CODECS = {
    "h264": ("libx264", ".mp4", "video/mp4", "yuv420p"),
    "h265": ("libx265", ".mp4", "video/mp4", "yuv420p"),
    "ffv1": ("ffv1", ".mkv", "video/x-matroska", "bgr0"),
}
DEFAULT_CRF = {"h264": 18, "h265": 22}
AAC_FRAME = 1024


class VideoWriter(Writer):
    name = "video"
    kinds = frozenset({"video"})
    description = "Video file (H.264 MP4 by default, FFV1 MKV with --video-codec ffv1); audio muxed in"
    order = 10

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        if result.video is None or not len(result.video):
            return
        codec = str(output.options.get("video_codec") or "h264")
        if codec not in CODECS:
            raise UserError(f"video writer: codec {codec!r} is not supported; use one of {', '.join(CODECS)}")
        _, suffix, media_type, _ = CODECS[codec]
        fps = float(result.fps or 16)
        frames = result.video
        tags = {"comment": json.dumps(output.record, sort_keys=True)} if output.metadata_mode == "embedded" else {}
        metadata = {
            "frames": int(len(frames)),
            "width": int(frames.shape[2]),
            "height": int(frames.shape[1]),
            "fps": fps,
            "codec": codec,
            "audio_tracks": len(result.audio),
        }
        output.persist(
            "video",
            suffix,
            media_type,
            lambda tmp: encode_video(tmp, frames, fps, codec, output.options.get("crf"), result.audio, tags),
            metadata,
        )


def encode_video(
    path: Path,
    frames: Any,
    fps: float,
    codec: str = "h264",
    crf: int | None = None,
    audio: Sequence[AudioTrack] = (),
    tags: dict[str, str] | None = None,
) -> None:
    """Encode uint8 RGB frames ``[T,H,W,3]`` (and audio tracks) to ``path``."""
    import av
    import numpy as np

    encoder, _, _, pix_fmt = CODECS[codec]
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if pix_fmt == "yuv420p":
        frames = pad_even(frames)
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if str(path).endswith(".mp4") else {}
    with av.open(str(path), mode="w", options=options) as container:
        for key, value in (tags or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(encoder, rate=rate)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = pix_fmt
        if codec in DEFAULT_CRF:
            stream.options = {"crf": str(crf if crf is not None else DEFAULT_CRF[codec]), "preset": "medium"}
        audio_streams = [_add_audio_stream(container, track) for track in audio]
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        for track, astream in zip(audio, audio_streams):
            _encode_audio(container, astream, track)


def pad_even(frames: Any) -> Any:
    """Replicate the last row/column so yuv420p gets even sizes (x264 refuses odd ones)."""
    import numpy as np

    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not pad_h and not pad_w:
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels) or f"{channels}c"


def _add_audio_stream(container: Any, track: AudioTrack) -> Any:
    stream = container.add_stream("aac", rate=int(track.sample_rate))
    stream.layout = _layout(track.channels)
    if track.language:
        stream.metadata["language"] = track.language
    if track.title:
        stream.metadata["title"] = track.title
    return stream


def _encode_audio(container: Any, stream: Any, track: AudioTrack) -> None:
    import av
    import numpy as np

    samples = np.asarray(track.samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    total = len(samples)
    padded = -(-total // AAC_FRAME) * AAC_FRAME
    if padded != total:  # AAC wants whole 1024-sample frames
        samples = np.concatenate([samples, np.zeros((padded - total, samples.shape[1]), np.float32)])
    planar = np.ascontiguousarray(samples.T)
    for start in range(0, padded, AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(planar[:, start : start + AAC_FRAME], format="fltp", layout=stream.layout.name)
        frame.sample_rate = int(track.sample_rate)
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


@hookimpl
def register_writers(register: Any) -> None:
    register(VideoWriter())
