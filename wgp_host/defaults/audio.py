"""Default audio writer: WAV (or FLAC with the ``audio_format`` option) via soundfile."""

from __future__ import annotations

import json
from pathlib import Path

from typing import Any

from wgp_hookspecs import AudioTrack, GenerationResult, OutputContext, UserError, Writer, hookimpl

FORMATS = {"wav": (".wav", "audio/wav", "WAV", "PCM_16"), "flac": (".flac", "audio/flac", "FLAC", "PCM_16")}


class AudioWriter(Writer):
    name = "audio"
    kinds = frozenset({"audio"})
    description = "Audio tracks as WAV (default) or FLAC files, one per track"
    order = 30

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        fmt = str(output.options.get("audio_format") or "wav")
        if fmt not in FORMATS:
            raise UserError(f"audio writer: format {fmt!r} is not supported; use wav or flac")
        suffix, media_type, _, _ = FORMATS[fmt]
        comment = json.dumps(output.record, sort_keys=True) if output.metadata_mode == "embedded" else None
        many = len(result.audio) > 1
        for index, track in enumerate(result.audio):
            meta = {
                "sample_rate": int(track.sample_rate),
                "duration_s": round(track.duration_s, 6),
                "language": track.language,
                "channels": track.channels,
                "codec": track.codec or ("pcm_s16le" if fmt == "wav" else "flac"),
            }
            output.persist(
                "audio",
                suffix,
                media_type,
                lambda tmp, t=track: write_audio(tmp, t, fmt, comment),
                meta,
                tag=f"audio{index}" + (f"_{track.language}" if track.language else "") if many else None,
            )


def write_audio(path: Path, track: AudioTrack, fmt: str, comment: str | None) -> None:
    import numpy as np
    import soundfile

    _, _, container, subtype = FORMATS[fmt]
    samples = np.asarray(track.samples, dtype=np.float32)
    with soundfile.SoundFile(
        str(path), "w", samplerate=int(track.sample_rate), channels=track.channels, format=container, subtype=subtype
    ) as fh:
        if comment is not None:
            fh.comment = comment
        fh.write(samples)


@hookimpl
def register_writers(register: Any) -> None:
    register(AudioWriter())
