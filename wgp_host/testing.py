"""Pytest fixtures for wgp and its plugin authors, loaded automatically.

wgp-host registers this module as a pytest plugin (its ``pytest11`` entry point ``wgp``), so
every pytest run in an environment where wgp-host is installed has these fixtures: there is
nothing to import and nothing to list in a ``conftest.py``.  The helpers below are imported
from ``wgp_host.testing`` by tests only; a plugin's own code never imports ``wgp_host``.

- ``wgp_env``: an isolated ``WGP_HOME`` (config, state, outputs, LoRA root) and
  ``HF_HUB_OFFLINE=1``; the process-wide plugin host and runtime are reset.
- ``make_wgp_host``: ``make_wgp_host(my_plugin_module, entry_points=False)``
  builds a host with the defaults plus the given plugins and installs it, so
  ``wgp_host.cli`` commands invoked in-process see exactly those plugins.
- ``wgp_cli``: run the ``wgp`` CLI in-process: ``result = wgp_cli("run", "-m", ...)``.
- ``wgp_tiny_model``: ``wgp_tiny_model(model_id)`` is the folder of that model's
  random-weight copy (``wgp models tiny``), built once per test session, for
  any installed family.
- ``wgp_queue``: an :class:`InProcessQueue`: jobs validated at the door and run by the
  real controller and runner, in process, with every event kept
  (``run_cancelled_at(step, ...)`` for "cancel mid-run writes nothing" tests).
- ``wgp_test_images``: three different 32x32 RGB PNGs (``a``, ``b``, ``c``) and a
  48x32 one (``wide``), as paths, for image-conditioned models.
- ``wgp_bad_media``: broken media files by kind (empty, text, truncated, random bytes,
  decompression bombs, a video, an image, audio only, a missing path) and two good
  ones (``png``, ``mp4``), as paths, for tests that every media input is refused at the door.
- ``wgp_required_inputs``: ``wgp_required_inputs(model)``, the arguments that give each input a
  ``wgp models --json`` entry requires a good file, for tests that run every model.

Helpers for model-family tests: :class:`Recorder` (a ``GenerationContext``
that keeps its events), :func:`run_wgp` (the real CLI in a subprocess),
:func:`assert_one_line_error` (exit 2, one ``error:`` line naming what was asked, no traceback),
:func:`assert_refused_at_the_door` (that, for ``wgp run``, and no output folder made),
:func:`decode_video` (every frame of a written video, as uint8 RGB),
:func:`heavy_imports` (what importing a registration module drags in) and
:func:`registered_families` (what an installed entry point registers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pytest
from wgp_hookspecs import CancelToken, GenerationContext

from . import plugins, runtime


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``check()`` until it returns something truthy and return that; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def wgp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "wgp-home"
    monkeypatch.setenv("WGP_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("WGP_CONFIG", "WGP_LOAD_PLUGINS", "WGP_DISABLED_PLUGINS", "WGP_STRICT_PLUGINS", "WGP_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    plugins.reset_host()
    runtime._RUNTIME = None
    yield home
    plugins.reset_host()
    runtime._RUNTIME = None


@pytest.fixture
def make_wgp_host(wgp_env: Path) -> Callable[..., plugins.PluginHost]:
    def make(*extra: Any, entry_points: bool = False) -> plugins.PluginHost:
        host = plugins.PluginHost()
        # The host names each plugin and finds its distribution and version: two
        # modules both called ``plugin`` are distinct, and a repeated one is an error.
        host.load(entry_points=entry_points, extra=extra)
        plugins.reset_host(host)
        return host

    return make


@pytest.fixture
def wgp_cli(wgp_env: Path) -> Callable[..., Any]:
    from click.testing import CliRunner

    from .cli import cli

    def invoke(*args: str, **kwargs: Any) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture(scope="session")
def wgp_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """``wgp_tiny_model(model_id)``: the folder of that model's tiny copy, built on first use."""
    from .tiny import build_tiny

    host = plugins.PluginHost()
    host.load(entry_points=True)
    root = tmp_path_factory.mktemp("wgp-tiny")
    built: dict[str, str] = {}

    def get(model_id: str) -> str:
        if model_id not in built:
            family, spec = host.model(model_id)
            built[model_id] = str(build_tiny(family, spec, root / model_id))
        return built[model_id]

    return get


@pytest.fixture(scope="session")
def wgp_test_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Random RGB PNGs on disk, as paths: ``a``, ``b``, ``c`` (32x32) and ``wide`` (48x32)."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("wgp-images")
    out = {}
    for name, seed, (width, height) in (("a", 1, (32, 32)), ("b", 2, (32, 32)), ("c", 3, (32, 32)), ("wide", 4, (48, 32))):
        pixels = (np.random.RandomState(seed).rand(height, width, 3) * 255).astype("uint8")
        path = root / f"{name}.png"
        Image.fromarray(pixels).save(path)
        out[name] = str(path)
    return out


#: What the one-line error says about each broken image of :func:`wgp_bad_media`, by key.
BAD_IMAGE_MESSAGES = {
    "zero": "is empty (0 bytes)",
    "text": "is not an image",
    "truncated_png": "is a damaged image",
    "random": "is not an image",
    "mp4": "is a video, not an image",
    "bomb": "decompression-bomb guard",
    "big": "decompression-bomb guard",
    "missing": "file not found",
}
#: The same for each broken video.
BAD_VIDEO_MESSAGES = {
    "zero": "is empty (0 bytes)",
    "text": "is not a video",
    "truncated_mp4": "is not a video",
    "random": "is not a video",
    "png": "is an image, not a video",
    "wav": "has no video stream",
    "missing": "file not found",
}

#: The same for a file given where audio is expected (``--audio``).
BAD_AUDIO_MESSAGES = {
    "zero": "is empty (0 bytes)",
    "text": "is not audio",
    "random": "is not audio",
    "png": "has no audio stream",
    "mp4": "has no audio stream",
    "missing": "file not found",
}
#: The same for a mask (an image or a video).
BAD_MASK_MESSAGES = {
    "zero": "is empty (0 bytes)",
    "text": "is neither an image nor a video",
    "random": "is neither an image nor a video",
    "truncated_png": "is a damaged image",
    "wav": "is neither an image nor a video",
    "missing": "file not found",
}


@pytest.fixture(scope="session")
def wgp_bad_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths of media files that must be refused, by kind, plus good ``png`` and ``mp4`` ones.

    ``zero`` (0 bytes), ``text``, ``truncated_png``, ``random`` (bytes), ``bomb`` (a PNG whose
    header claims 30000x30000: Pillow's decompression-bomb error), ``big`` (10000x10000: Pillow
    only warns), ``truncated_mp4`` (cut before its index), ``wav`` (audio, no video),
    ``missing`` (no such file).  Each is made once per session and is a few kB.
    """
    import struct
    import zlib
    from fractions import Fraction

    import av
    import numpy as np
    import soundfile
    from PIL import Image

    root = tmp_path_factory.mktemp("wgp-bad-media")
    out = {name: str(root / name) for name in ("zero", "text", "random", "missing")}
    (root / "zero").write_bytes(b"")
    (root / "text").write_text("this is not a picture\n")
    (root / "random").write_bytes(np.random.RandomState(0).bytes(4096))
    pixels = (np.random.RandomState(1).rand(32, 32, 3) * 255).astype("uint8")
    Image.fromarray(pixels).save(root / "good.png")
    out["png"] = str(root / "good.png")
    data = (root / "good.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    out["truncated_png"] = str(root / "truncated.png")

    def png_header(width: int, height: int) -> bytes:
        # Only the header and one row: Pillow judges the size before it decodes anything.
        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))

    for name, side in (("bomb", 30_000), ("big", 10_000)):
        (root / f"{name}.png").write_bytes(png_header(side, side))
        out[name] = str(root / f"{name}.png")
    with av.open(str(root / "good.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(8))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(4):
            frame = av.VideoFrame.from_ndarray(np.roll(pixels, index, axis=1), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    out["mp4"] = str(root / "good.mp4")
    data = (root / "good.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    out["truncated_mp4"] = str(root / "truncated.mp4")
    soundfile.write(str(root / "sound.wav"), np.zeros((800, 1), np.float32), 8000)
    out["wav"] = str(root / "sound.wav")
    return out


@pytest.fixture(scope="session")
def wgp_required_inputs(wgp_test_images: dict[str, str], wgp_bad_media: dict[str, str],
                        tmp_path_factory: pytest.TempPathFactory) -> Callable[[Mapping[str, Any]], list[str]]:
    """``wgp_required_inputs(model)``, for a ``wgp models --json`` entry: the arguments that give
    each media input the model requires a good file (an image, a three-second video, a WAV),
    with the parameter's own flag or ``--set``; for tests that run every model."""
    from fractions import Fraction

    import av
    import numpy as np

    video = tmp_path_factory.mktemp("wgp-inputs") / "long.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(16))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(48):  # enough frames for a model that follows a driving video
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 5, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    by_kind = {"image": wgp_test_images["a"], "mask": wgp_test_images["a"], "video": str(video),
               "audio": wgp_bad_media["wav"], "path": wgp_test_images["a"]}

    def arguments(model: Mapping[str, Any]) -> list[str]:
        args: list[str] = []
        for param in model["params"]:
            if param.get("required") and param["type"] in by_kind:
                path = by_kind[param["type"]]
                args += [param["flag"], path] if param.get("flag") else ["--set", f"{param['name']}={path}"]
        return args

    return arguments


def assert_one_line_error(result: Any, *needles: str) -> str:
    """``result`` (from ``wgp_cli`` or :func:`run_wgp`) exited 2 with exactly one line on stderr,
    ``wgp: error: ...`` or ``wgp COMMAND: error: ...``, holding every needle, and no traceback
    anywhere.  Returns that line."""
    code = getattr(result, "exit_code", getattr(result, "returncode", None))
    stdout, stderr = getattr(result, "stdout", ""), result.stderr
    lines = stderr.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {stderr!r}"
    assert len(lines) == 1, f"stderr is not one line: {stderr!r}"
    assert lines[0].startswith("wgp") and ": error: " in lines[0], lines[0]
    assert "Traceback" not in stderr + stdout, stderr + stdout
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def assert_refused_at_the_door(wgp_cli: Callable[..., Any], out: Path, *args: str, needles: Sequence[str] = ()) -> str:
    """``wgp run ARGS --output-dir OUT`` (through the ``wgp_cli`` fixture) is refused before
    anything runs: :func:`assert_one_line_error` with ``needles``, and ``out`` never made.
    Returns the error line."""
    line = assert_one_line_error(wgp_cli("run", *args, "--output-dir", str(out)), *needles)
    assert not out.exists(), f"{out} was made"
    return line


class Recorder:
    """A :class:`GenerationContext` (``recorder.context``) whose events are kept in ``recorder.events``.

    ``cancel_after=N`` cancels the job once step N was reported, as a user would.
    """

    def __init__(self, cancel_after: int | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.cancel = CancelToken()
        self.cancel_after = cancel_after
        self.context = GenerationContext(job="test", cancel=self.cancel, emit=self.emit)

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))
        if event == "step" and self.cancel_after is not None and fields["step"] >= self.cancel_after:
            self.cancel.cancel("test cancel")

    def steps(self) -> list[tuple[int, int]]:
        return [(f["step"], f["total"]) for e, f in self.events if e == "step"]


def run_wgp(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m wgp_host ARGS`` in a subprocess (the real CLI, real plugin loading), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "wgp_host", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def decode_video(path: str | Path) -> Any:
    """Every frame of the video at ``path`` as ``uint8 [T, H, W, 3]`` RGB (lossless with ``--video-codec ffv1``)."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


#: Modules a plugin's registration must not import (``wgp --help`` would pay for them).
HEAVY_MODULES = ("torch", "diffusers", "transformers", "numpy", "PIL")


def heavy_imports(module: str) -> list[str]:
    """The :data:`HEAVY_MODULES` that importing ``module`` loads, checked in a fresh interpreter."""
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def registered_families(entry_point: str) -> list[Any]:
    """The model families that the installed ``wgp`` entry point ``entry_point`` registers, in order."""
    from importlib.metadata import entry_points

    (entry,) = [ep for ep in entry_points(group="wgp") if ep.name == entry_point]
    families: list[Any] = []
    entry.load().register_model_families(families.append)
    return families


class InProcessQueue:
    """Jobs validated as ``wgp queue add`` does and run as ``wgp queue work`` does, in this process.

    The real door (:func:`wgp_host.submit.build_job`), the real controller and
    runner (so a model stays cached between jobs) and the host's ``memory``
    backend; every event is kept in :attr:`events`.  Build it inside ``wgp_env``
    (or use the ``wgp_queue`` fixture)::

        queue = InProcessQueue()
        queue.submit(model="echo", params={"prompt": "a fox", "steps": 2}, output_dir=str(tmp_path))
        [outcome] = queue.drain()
    """

    def __init__(self, host: Any = None, runtime_: Any = None) -> None:
        from .progress import ProgressChannel
        from .queue.controller import QueueController
        from .runner import Runner

        self.host = host or plugins.get_host()
        self.runtime = runtime_ or runtime.initialize_runtime()
        self.events: list[Any] = []
        self.runner = Runner(self.host, self.runtime.get("model_paths", {}), self.runtime.get("cache_dir"))
        backend = self.host.registry.queue_backends["memory"]({})
        self.controller = QueueController(backend, self.runner, ProgressChannel(listeners=[self.events.append]))

    def build(self, **options: Any) -> tuple[Any, list[str]]:
        """``build_job`` for :class:`wgp_hookspecs.JobOptions` fields given as keywords: (job, warnings)."""
        from wgp_hookspecs import JobOptions

        from .submit import build_job

        return build_job(self.host, self.runtime, JobOptions(**options))

    def submit(self, **options: Any) -> Any:
        """Validate and queue one job; returns it."""
        job, _ = self.build(**options)
        self.controller.submit(job)
        return job

    def drain(self) -> list[Any]:
        """Run every queued job in order; returns their outcomes."""
        return self.controller.drain()

    def run(self, **options: Any) -> Any:
        """Submit one job and run the queue; returns that job's outcome."""
        job = self.submit(**options)
        outcomes = {outcome.job: outcome for outcome in self.drain()}
        return outcomes[job.id]

    def names(self) -> list[str]:
        """The names of the events so far, in order."""
        return [event.event for event in self.events]

    def steps(self) -> list[int]:
        """The steps reported so far, in order."""
        return [event.fields["step"] for event in self.events if event.event == "step"]

    def run_cancelled_at(self, step: int, **options: Any) -> Any:
        """Submit one job and run it, cancelling it once it reports step ``step`` as a user's
        ``wgp queue cancel`` would; returns its outcome (``cancel mid-run writes nothing`` tests)."""

        def cancel(event: Any) -> None:
            if event.event == "step" and event.fields["step"] == step:
                self.controller.cancel_current("test")

        self.controller.channel.listeners.append(cancel)
        try:
            return self.run(**options)
        finally:
            self.controller.channel.listeners.remove(cancel)


@pytest.fixture
def wgp_queue(wgp_env: Path) -> InProcessQueue:
    """An :class:`InProcessQueue` over the installed plugins, in an isolated ``WGP_HOME``."""
    return InProcessQueue()
