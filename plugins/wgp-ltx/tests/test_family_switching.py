"""One queue, three families: wan -> flux -> ltx -> wan evicts and reloads, the events say so, outputs stay right."""

from __future__ import annotations

import numpy as np
from PIL import Image

from wgp_host.testing import decode_video

SMALL_VIDEO = {"prompt": "a fox", "seed": 3, "width": 32, "height": 32, "steps": 2}
JOBS = [
    ("wan2.1-t2v-1.3b", {**SMALL_VIDEO, "frames": 5}),
    ("flux.1-schnell", {"prompt": "a fox", "seed": 3, "width": 32, "height": 32, "steps": 2}),
    ("ltx-video", {**SMALL_VIDEO, "frames": 9}),
    ("wan2.1-t2v-1.3b", {**SMALL_VIDEO, "frames": 5}),
]


def test_switching_families_evicts_and_reloads(wgp_tiny_model, wgp_queue, tmp_path):
    for index, (model, params) in enumerate(JOBS):
        wgp_queue.submit(
            model=model, model_path=wgp_tiny_model(model), output_dir=str(tmp_path / f"job{index}"),
            writers=("video", "image"), writer_options={"video_codec": "ffv1"}, params=params)
    runner, events = wgp_queue.runner, wgp_queue.events
    loaded = []
    unload = runner.cache.evict

    def evict():  # remember each evicted model, to check that it really let go of its pipeline
        loaded.append(runner.cache.model)
        return unload()

    runner.cache.evict = evict
    outcomes = wgp_queue.drain()
    assert [o.state for o in outcomes] == ["finished"] * 4, [o.error for o in outcomes]

    model_events = [(e.event, e.fields["model"]) for e in events if e.event.startswith("model.")]
    wan, flux, ltx = "wan2.1-t2v-1.3b", "flux.1-schnell", "ltx-video"
    assert model_events == [
        ("model.loading", wan), ("model.loaded", wan),
        ("model.unloaded", wan), ("model.loading", flux), ("model.loaded", flux),
        ("model.unloaded", flux), ("model.loading", ltx), ("model.loaded", ltx),
        ("model.unloaded", ltx), ("model.loading", wan), ("model.loaded", wan),
    ]
    assert [e.fields["model_reused"] for e in events if e.event == "job.finished"] == [False] * 4
    assert [type(m).__name__ for m in loaded if m is not None] == ["WanModel", "FluxModel", "LTXModel"]
    assert all(m.pipe is None for m in loaded if m is not None)

    first_wan, last_wan = (decode_video(next((tmp_path / f"job{i}").glob("*.mkv"))) for i in (0, 3))
    assert first_wan.shape == (5, 32, 32, 3) and np.array_equal(first_wan, last_wan)
    image = np.asarray(Image.open(next((tmp_path / "job1").glob("*.png"))))
    assert image.shape == (32, 32, 3) and image.std() > 0
    assert decode_video(next((tmp_path / "job2").glob("*.mkv"))).shape == (9, 32, 32, 3)
