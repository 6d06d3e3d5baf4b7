"""{{ cookiecutter.project_name }} on the host's pytest fixtures (wgp_host.testing, loaded automatically)."""

from __future__ import annotations

import numpy as np
import pytest
from wgp_hookspecs import GenerationRequest, JobCancelled, LoadPlan, ParameterError

from wgp_host.testing import Recorder, decode_video, heavy_imports, registered_families
from {{ cookiecutter.package }} import plugin

MODEL = plugin.MODEL.id
SMALL = {"prompt": "a red fox", "seed": 7, "frames": 5, "width": 32, "height": 32}


def generate(recorder: Recorder | None = None, **changes):
    model = plugin.FAMILY.load(plugin.MODEL, LoadPlan())
    params = {**plugin.MODEL.defaults(), **SMALL, **changes}
    return model.generate(GenerationRequest(MODEL, params), (recorder or Recorder()).context)


def test_registration_imports_nothing_heavy():
    assert heavy_imports("{{ cookiecutter.package }}.plugin") == []


def test_the_installed_entry_point_registers_the_family():
    assert registered_families("{{ cookiecutter.plugin_name }}") == [plugin.FAMILY]


def test_the_schema_holds_the_rules():
    with pytest.raises(ParameterError, match="4n\\+1"):
        plugin.MODEL.param("frames").validate(16)
    with pytest.raises(ParameterError, match="multiple of 16"):
        plugin.MODEL.param("width").validate(33)


def test_generate_reports_every_step_and_is_deterministic():
    recorder = Recorder()
    result = generate(recorder)
    assert result.video.shape == (5, 32, 32, 3) and result.video.dtype == np.uint8
    assert recorder.steps() == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert np.array_equal(result.video, generate().video)
    assert not np.array_equal(result.video, generate(seed=8).video)


def test_a_cancel_stops_at_the_next_step():
    with pytest.raises(JobCancelled):
        generate(Recorder(cancel_after=2))


def test_wgp_run_writes_exactly_the_generated_frames(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(plugin)
    result = wgp_cli("run", "-m", MODEL, "-p", "a red fox", "--seed", "7", "--frames", "5", "--resolution", "32x32",
                     "--video-codec", "ffv1", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    [video] = tmp_path.glob("*.mkv")
    assert np.array_equal(decode_video(video), generate().video)  # ffv1 is lossless


def test_bad_input_is_one_line_and_exit_status_2(make_wgp_host, wgp_cli):
    make_wgp_host(plugin)
    result = wgp_cli("run", "-m", MODEL, "-p", "x", "--frames", "16")
    assert result.exit_code == 2
    assert result.output.strip() == "wgp: error: --frames: must be 4n+1 (got 16; nearest valid: 13 or 17)"
