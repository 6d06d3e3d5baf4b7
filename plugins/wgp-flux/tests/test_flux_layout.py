"""Weights that are not the id's: Kontext and dev share a transformer, so their folders are told apart by
model_index.json; a mismatch is a one-line error at the door (before anything loads) and at load."""

from __future__ import annotations

import pytest
from flux_testing import load
from wgp_hookspecs import UserError

from wgp_host.testing import run_wgp


@pytest.mark.parametrize(("model", "weights", "fits"), [
    ("flux.1-dev", "flux.1-kontext-dev", "flux.1-kontext-dev"),
    ("flux.1-kontext-dev", "flux.1-dev", "flux.1-dev"),
])
def test_kontext_and_dev_weights_are_refused_for_each_other_at_the_door(wgp_queue, wgp_tiny_model, wgp_test_images,
                                                                        model, weights, fits):
    params = {"prompt": "a fox", "image_start": wgp_test_images["a"]} if model == "flux.1-kontext-dev" else {"prompt": "a fox"}
    with pytest.raises(UserError, match=f"do not match {model}: model_index.json names .*; use -m {fits}$"):
        wgp_queue.build(model=model, model_path=wgp_tiny_model(weights), params=params)
    job, _ = wgp_queue.build(model=fits, model_path=wgp_tiny_model(weights),
                             params={"prompt": "a fox", **({"image_start": wgp_test_images["a"]} if fits == "flux.1-kontext-dev" else {})})
    assert job.request.model == fits


def test_kontext_weights_are_refused_for_dev_when_loaded(wgp_tiny_model):
    # Weights the door did not read (a worker's model_paths, a repo fetched on load): the same rule.
    with pytest.raises(UserError, match="do not match flux.1-dev: model_index.json names FluxKontextPipeline"):
        load("flux.1-dev", wgp_tiny_model("flux.1-kontext-dev"))


def test_the_cli_says_so_in_one_line_before_loading(wgp_tiny_model, tmp_path):
    proc = run_wgp("run", "-m", "flux.1-dev", "--model-path", wgp_tiny_model("flux.1-kontext-dev"), "-p", "a fox",
                   "--dry-run", env={"WGP_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "do not match flux.1-dev" in proc.stderr and "use -m flux.1-kontext-dev" in proc.stderr
