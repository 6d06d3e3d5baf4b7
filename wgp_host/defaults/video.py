"""Default video writer: H.264 MP4 with AAC audio, or lossless FFV1 in MKV."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from wgp_hookspecs import AudioTrack, GenerationResult, OutputContext, UserError, Writer, hookimpl

@dataclass(frozen=True)
class Codec:
    encoder: str
    suffix: str
    media_type: str
    pix_fmt: str
    audio: str = "aac"
    crf: int | None = None
    options: tuple[tuple[str, str], ...] = ()
    #: x265 in the PyAV wheel corrupts the heap on small frames (seen with a later
    #: libvpx encode crashing in malloc); it runs in a child process instead.
    isolated: bool = False


CODECS = {
    "h264": Codec("libx264", ".mp4", "video/mp4", "yuv420p", crf=18, options=(("preset", "medium"),)),
    "h265": Codec("libx265", ".mp4", "video/mp4", "yuv420p", crf=22, options=(("preset", "medium"), ("x265-params", "log-level=error")), isolated=True),
    "vp9": Codec("libvpx-vp9", ".webm", "video/webm", "yuv420p", audio="libopus", crf=32, options=(("b:v", "0"),)),
    "prores": Codec("prores_ks", ".mov", "video/quicktime", "yuv422p10le", options=(("profile", "3"),)),
    "ffv1": Codec("ffv1", ".mkv", "video/x-matroska", "bgr0"),
}
#: Values ``--crf`` and config ``crf`` accept (x264's scale; the flag and the config share it).
CRF_RANGE = (0, 51)
#: Smaller frames crash x265 as shipped in the PyAV wheel (heap corruption).
H265_MIN_SIZE = 64
#: Audio frame sizes and accepted rates per audio encoder.
AUDIO_FRAME = {"aac": 1024, "libopus": 960}
OPUS_RATE = 48_000


class VideoWriter(Writer):
    name = "video"
    kinds = frozenset({"video"})
    description = "Video file (H.264 MP4 by default, FFV1 MKV with --video-codec ffv1); audio muxed in"
    order = 10

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        """Write ``result.video`` (role ``result.video_role``, with the audio tracks) and each of
        ``result.extra_videos`` (role = key, no audio)."""
        videos = []
        if result.video is not None and len(result.video) and result.video_role:
            videos.append((result.video_role, result.video, list(result.audio)))
        videos += [(role, frames, []) for role, frames in result.extra_videos.items() if frames is not None and len(frames)]
        if not videos:
            return
        codec = str(output.options.get("video_codec") or "h264")
        if codec not in CODECS:
            raise UserError(f"video writer: codec {codec!r} is not supported; use one of {', '.join(CODECS)}")
        suffix, media_type = CODECS[codec].suffix, CODECS[codec].media_type
        if codec == "h265" and min(videos[0][1].shape[1:3]) < H265_MIN_SIZE:
            raise UserError(f"h265 needs frames of at least {H265_MIN_SIZE}x{H265_MIN_SIZE} with this x265 build; use h264 for smaller ones")
        fps = float(result.fps or 16)
        tags = {"comment": json.dumps(output.record, sort_keys=True)} if output.metadata_mode == "embedded" else {}
        for role, frames, audio in videos:
            metadata = {
                "frames": int(len(frames)),
                "width": int(frames.shape[2]),
                "height": int(frames.shape[1]),
                "fps": fps,
                "codec": codec,
                "audio_tracks": len(audio),
            }
            if audio:
                metadata["audio"] = [_track_fields(track, CODECS[codec].audio) for track in audio]
            output.persist(
                role,
                suffix,
                media_type,
                lambda tmp, f=frames, a=audio: encode_video(tmp, f, fps, codec, output.options.get("crf"), a, tags),
                metadata,
                tag=None if role == "video" else role,
            )


def _track_fields(track: AudioTrack, encoder: str) -> dict[str, Any]:
    """What the manifest and sidecars say about an audio track muxed into a video."""
    return {
        "sample_rate": OPUS_RATE if encoder == "libopus" else int(track.sample_rate),
        "duration_s": round(track.duration_s, 6),
        "language": track.language,
        "channels": track.channels,
        "codec": track.codec or ("opus" if encoder == "libopus" else encoder),
        "muxed_codec": "opus" if encoder == "libopus" else encoder,
        "title": track.title,
    }


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
    if CODECS[codec].isolated:
        _encode_in_child(path, frames, fps, codec, crf, audio, tags)
        return
    import av
    import numpy as np

    spec = CODECS[codec]
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if spec.pix_fmt.startswith("yuv420"):
        frames = pad_even(frames)
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if str(path).endswith((".mp4", ".mov")) else {}
    with av.open(str(path), mode="w", options=options) as container:
        for key, value in (tags or {}).items():
            container.metadata[key] = value
        stream = container.add_stream(spec.encoder, rate=rate)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = spec.pix_fmt
        stream_options = dict(spec.options)
        if spec.crf is not None:
            stream_options["crf"] = str(crf if crf is not None else spec.crf)
        stream.options = stream_options
        audio_streams = [_add_audio_stream(container, track, spec.audio) for track in audio]
        mux_frames(container, stream, (av.VideoFrame.from_ndarray(image, format="rgb24") for image in frames))
        for track, astream in zip(audio, audio_streams):
            _encode_audio(container, astream, track, spec.audio)


def _encode_in_child(path: Path, frames: Any, fps: float, codec: str, crf: int | None, audio: Sequence[AudioTrack], tags: dict[str, str] | None) -> None:
    import pickle
    import subprocess
    import sys
    import tempfile

    from ..atomic import TMP_PREFIX

    with tempfile.NamedTemporaryFile(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".pkl", dir=path.parent, delete=False) as fh:
        pickle.dump({"path": str(path), "frames": frames, "fps": fps, "crf": crf, "audio": list(audio), "tags": tags, "codec": codec}, fh)
    try:
        proc = subprocess.run([sys.executable, "-m", "wgp_host.defaults.video", fh.name], capture_output=True, text=True)
    finally:
        Path(fh.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise OSError(f"{codec} encoder failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")


def mux_frames(container: Any, stream: Any, frames: Any) -> None:
    """Encode video frames in order (pts = index) and flush the encoder."""
    for index, frame in enumerate(frames):
        frame.pts = index
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def pad_even(frames: Any) -> Any:
    """Replicate the last row/column so yuv420p gets even sizes (x264 refuses odd ones)."""
    import numpy as np

    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not pad_h and not pad_w:
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels) or f"{channels}c"


def _add_audio_stream(container: Any, track: AudioTrack, encoder: str) -> Any:
    rate = OPUS_RATE if encoder == "libopus" else int(track.sample_rate)
    stream = container.add_stream(encoder, rate=rate)
    stream.layout = _layout(track.channels)
    if track.language:
        stream.metadata["language"] = track.language
    if track.title:
        stream.metadata["title"] = track.title
    return stream


def _encode_audio(container: Any, stream: Any, track: AudioTrack, encoder: str) -> None:
    import av
    import numpy as np

    samples = np.asarray(track.samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    rate = int(track.sample_rate)
    if encoder == "libopus" and rate != OPUS_RATE:  # Opus in WebM runs at 48 kHz
        positions = np.arange(int(len(samples) * OPUS_RATE / rate)) * (rate / OPUS_RATE)
        samples = np.stack([np.interp(positions, np.arange(len(samples)), ch) for ch in samples.T], axis=1).astype(np.float32)
        rate = OPUS_RATE
    size = AUDIO_FRAME[encoder]
    total = len(samples)
    padded = -(-total // size) * size
    if padded != total:  # encoders want whole frames
        samples = np.concatenate([samples, np.zeros((padded - total, samples.shape[1]), np.float32)])
    planar = np.ascontiguousarray(samples.T)
    for start in range(0, padded, size):
        frame = av.AudioFrame.from_ndarray(planar[:, start : start + size], format="fltp", layout=stream.layout.name)
        frame.sample_rate = rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


@hookimpl
def register_writers(register: Any) -> None:
    register(VideoWriter())


if __name__ == "__main__":  # the child process of an isolated codec
    import pickle
    import sys

    with open(sys.argv[1], "rb") as fh:
        job = pickle.load(fh)  # written by this module's parent process a moment ago
    CODECS[job["codec"]] = Codec(**{**CODECS[job["codec"]].__dict__, "isolated": False})
    encode_video(Path(job["path"]), job["frames"], job["fps"], job["codec"], job["crf"], job["audio"], job["tags"])
