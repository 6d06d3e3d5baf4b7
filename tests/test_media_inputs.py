"""Media inputs in the parameter schema: kinds, lists, family flags, fingerprints, queued copies."""

from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from wgp_hookspecs import GenerationRequest, Param, ParameterError

from wgp_host.inputs import verify_media
from wgp_host.testing import BAD_AUDIO_MESSAGES, BAD_MASK_MESSAGES, assert_one_line_error, decode_video

QUICK = ("-m", "echo", "-p", "fox", "--frames", "2", "--resolution", "8x8", "--steps", "1", "--writer", "video")


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_list_parameter_takes_one_file_several_or_a_comma_list_bounded_in_count():
    refs = Param("refs", "image", multiple=True, minimum=1, maximum=2, flag="--ref")
    assert refs.validate("a.png") == ["a.png"]
    assert refs.validate("a.png, b.png") == ["a.png", "b.png"]
    assert refs.validate(("a.png",)) == ["a.png"]
    with pytest.raises(ParameterError, match="takes at most 2 files"):
        refs.validate(["a", "b", "c"])
    with pytest.raises(ParameterError, match="expected file names"):
        refs.validate([1])
    assert refs.describe() == {"name": "refs", "type": "image", "default": None, "minimum": 1, "maximum": 2,
                               "multiple": True, "flag": "--ref"}
    assert Param("image_start", "image").describe()["flag"] == "--image-start"  # the host's own flag
    with pytest.raises(ValueError, match="only media parameters"):
        Param("steps", "int", multiple=True)
    with pytest.raises(ValueError, match="--some-name"):
        Param("x", "video", flag="x_video")


@pytest.fixture(scope="session")
def sounds(tmp_path_factory):
    """A real AAC-in-mp4 clip with sound and a WAV, encoded with PyAV."""
    import av
    import numpy as np

    root = tmp_path_factory.mktemp("sounds")
    path = root / "speech.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(16000) / 5.0) * 0.3).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, Fraction(1, 16000)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return {"m4a": str(path)}


def test_audio_and_mask_files_are_opened_at_the_door(wgp_bad_media, sounds):
    assert verify_media("audio", "audio", sounds["m4a"]) == sounds["m4a"]
    assert verify_media("audio", "audio", wgp_bad_media["wav"]) == wgp_bad_media["wav"]
    for kind, messages in (("audio", BAD_AUDIO_MESSAGES), ("mask", BAD_MASK_MESSAGES)):
        for name, needle in messages.items():
            with pytest.raises(ParameterError, match=re.escape(needle)):
                verify_media(kind, "the_input", wgp_bad_media[name])
    for good in ("png", "mp4"):  # a mask is a still image or a video
        assert verify_media("mask", "mask", wgp_bad_media[good])


def test_a_family_flag_takes_several_files_each_verified_used_and_recorded(wgp_cli, wgp_test_images, wgp_bad_media, tmp_path):
    out = tmp_path / "out"
    plain = wgp_cli("run", *QUICK, "--seed", "3", "--output-dir", str(out / "plain"), "--json")
    tinted = wgp_cli("run", *QUICK, "--seed", "3", "--output-dir", str(out / "tinted"), "--json",
                     "--reference-image", wgp_test_images["a"], "--reference-image", wgp_test_images["b"])
    assert plain.exit_code == 0 and tinted.exit_code == 0, tinted.stderr
    videos = [json.loads(r.stdout)["artifacts"][0]["path"] for r in (plain, tinted)]
    assert not (decode_video(videos[0]) == decode_video(videos[1])).all()  # the references were used
    record = json.loads(wgp_cli("inspect", videos[1]).stdout)
    inputs = record["request"]["inputs"]["reference_images"]
    assert [(i["kind"], i["path"], i["sha256"]) for i in inputs] == [
        ("image", wgp_test_images[k], sha(wgp_test_images[k])) for k in ("a", "b")]
    # At the door: every file of the list, the count, the model's own inputs; nothing queued.
    for bad, needle in (("zero", "is empty (0 bytes)"), ("mp4", "is a video, not an image"), ("missing", "file not found")):
        result = wgp_cli("queue", "add", *QUICK, "--reference-image", wgp_test_images["a"], "--reference-image", wgp_bad_media[bad])
        assert_one_line_error(result, "--reference-image", needle)
    too_many = wgp_cli("queue", "add", *QUICK, *[a for _ in range(5) for a in ("--reference-image", wgp_test_images["a"])])
    assert_one_line_error(too_many, "--reference-image", "takes at most 4 files (got 5)")
    other_model = wgp_cli("queue", "add", "-m", "echo-image", "-p", "fox", "--reference-image", wgp_test_images["a"])
    assert_one_line_error(other_model, "--reference-image: echo-image takes no such input (it takes no input files)")
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []
    described = json.loads(wgp_cli("models", "--json").stdout)
    echo = next(m for m in described if m["id"] == "echo")
    assert {p["name"]: p.get("flag") for p in echo["params"]}["reference_images"] == "--reference-image"


def test_a_queued_job_reads_its_own_copy_of_each_input(wgp_cli, wgp_env, tmp_path):
    from PIL import Image

    image = tmp_path / "ref.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(image)
    digest = sha(str(image))
    queued = json.loads(wgp_cli("queue", "add", *QUICK, "--reference-image", str(image), "--image-start", str(image),
                                "--json").stdout)
    image.unlink()  # the user cleans up after submitting
    (stored,) = Path(wgp_env).rglob(digest + ".png")
    assert stored.read_bytes() and sha(str(stored)) == digest  # one copy for both inputs: same content
    assert queued["state"] == "queued"


def test_a_request_keeps_its_inputs_through_json():
    request = GenerationRequest("echo", {"image_start": "/x.png"}, inputs={"image_start": {"kind": "image", "path": "/x.png",
                                                                                              "sha256": "0" * 64, "bytes": 3}})
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert "inputs" not in GenerationRequest("echo", {}).to_dict()


def test_an_audio_input_becomes_the_sound_of_the_video(wgp_cli, sounds, wgp_bad_media, tmp_path):
    import av

    result = wgp_cli("run", *QUICK, "--frames", "16", "--audio", sounds["m4a"], "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.stderr
    (video,) = [a["path"] for a in json.loads(result.stdout)["artifacts"] if a["role"] == "video"]
    with av.open(video) as container:
        (stream,) = container.streams.audio
        samples = [f.to_ndarray() for f in container.decode(stream)]
        assert (stream.codec_context.name, stream.rate) == ("aac", 16000)  # the file's, not the tone's 24 kHz
    assert abs(sum(s.shape[-1] for s in samples) / 16000 - 1.0) < 0.1  # cut to the clip: 16 frames at 16 fps
    for bad, needle in (("png", "has no audio stream"), ("mp4", "has no audio stream"), ("zero", "is empty (0 bytes)")):
        assert_one_line_error(wgp_cli("queue", "add", *QUICK, "--audio", wgp_bad_media[bad]), "--audio", needle)
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []


def test_queue_clear_removes_the_stored_inputs_no_job_reads(wgp_cli, wgp_env, tmp_path, monkeypatch):
    from PIL import Image

    import wgp_host.inputs

    monkeypatch.setattr(wgp_host.inputs, "PRUNE_GRACE_S", -1.0)  # no queue add runs beside this test
    kept, dropped = tmp_path / "kept.png", tmp_path / "dropped.png"
    for shade, path in enumerate((kept, dropped)):
        Image.new("RGB", (8, 8), (shade, 9, 9)).save(path)
    stored = {p.name: sha(str(p)) for p in (kept, dropped)}
    store = Path(wgp_env) / "state" / "inputs"

    def copies() -> set[str]:
        return {p.stem for p in store.rglob("*.png")}

    wgp_cli("queue", "add", *QUICK, "--image-start", str(kept))
    assert copies() == {stored["kept.png"]}
    assert wgp_cli("queue", "clear").stdout.strip() == "cleared 1 queued job, removed 1 stored input file"
    assert copies() == set()
    wgp_cli("queue", "add", *QUICK, "--image-start", str(kept))
    job = json.loads(wgp_cli("queue", "add", *QUICK, "--image-start", str(dropped), "--json").stdout)["id"]
    assert wgp_cli("queue", "cancel", job).exit_code == 0  # cancelled jobs stay in the queue: their copy stays
    assert copies() == set(stored.values())
    # The queued job goes, and its copy; the cancelled job stays, and so does the copy it reads.
    assert wgp_cli("queue", "clear").stdout.strip() == "cleared 1 queued job, removed 1 stored input file"
    assert copies() == {stored["dropped.png"]}
