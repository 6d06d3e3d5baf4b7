"""Rules with one owner: the seed, family checks (once per job), and what each family's schema requires."""

from __future__ import annotations

import json

import pytest

from wgp_hookspecs import MAX_SEED, SEED_PARAM, GenerationResult, ModelFamily, ModelSpec, Param, hookimpl


def _models(wgp_cli) -> list[dict]:
    result = wgp_cli("models", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_seeded_model_advertises_the_host_seed_rule(wgp_cli):
    seeded = [m for m in _models(wgp_cli) if any(p["name"] == "seed" for p in m["params"])]
    assert {m["family"] for m in seeded} >= {"echo", "wan", "flux", "ltx"}
    for model in seeded:
        (seed,) = [p for p in model["params"] if p["name"] == "seed"]
        assert seed == SEED_PARAM.describe(), model["id"]
        assert seed["minimum"] == -1 and seed["maximum"] == MAX_SEED == 2**32 - 1
    help_text = " ".join(wgp_cli("run", "--help").output.split())
    assert "--seed INTEGER Seed; -1 or omitted picks one" in help_text


def test_seed_minus_one_picks_a_seed_for_every_family(wgp_cli, wgp_required_inputs):
    for model in _models(wgp_cli):
        if not any(p["name"] == "seed" for p in model["params"]):
            continue
        seeds = set()
        for _ in range(2):
            result = wgp_cli("run", "-m", model["id"], "-p", "x", "--seed", "-1", *wgp_required_inputs(model), "--dry-run")
            assert result.exit_code == 0, (model["id"], result.output)
            seeds.add(json.loads(result.stdout)["params"]["seed"])
        assert all(0 <= s <= MAX_SEED for s in seeds), model["id"]
        assert len(seeds) == 2, model["id"]  # picked afresh, not a fixed stand-in


@pytest.mark.parametrize("seed, message", [(str(MAX_SEED + 1), f"must be at most {MAX_SEED}"), ("-2", "must be at least -1")])
def test_seed_outside_the_rule_is_refused_the_same_way_everywhere(wgp_cli, seed, message):
    for model in ("echo", "wan2.1-t2v-1.3b", "flux.1-schnell", "ltx-video"):
        result = wgp_cli("run", "-m", model, "-p", "x", "--seed", seed, "--dry-run")
        assert result.exit_code == 2 and f"--seed: {message}" in result.output, (model, result.output)


def test_seed_minus_one_really_generates(wgp_cli, tmp_path):
    result = wgp_cli("run", "-m", "echo", "-p", "x", "--frames", "2", "--seed", "-1", "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(wgp_cli("inspect", json.loads(result.stdout)["artifacts"][0]["path"]).output)
    assert 0 <= record["seed"] <= MAX_SEED


class WarningFamily:
    """A family whose check warns; it counts how often the host runs the check."""

    checks = 0

    @hookimpl
    def register_model_families(self, register):
        spec = ModelSpec("warner", frozenset({"text-to-image"}), (Param("prompt", "str", required=True), SEED_PARAM))

        def check(spec, params):
            WarningFamily.checks += 1
            return ["the moon is in the wrong phase"]

        def load(spec, plan):
            class Model:
                def generate(self, request, context):
                    import numpy as np

                    context.step(1, 1)
                    return GenerationResult(images=[np.zeros((4, 4, 3), np.uint8)])

                def unload(self):
                    pass

            return Model()

        register(ModelFamily(name="warner", models=(spec,), load=load, check=check))


def test_family_check_runs_once_per_job_and_each_warning_prints_once(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(WarningFamily())
    WarningFamily.checks = 0
    events = tmp_path / "events.jsonl"
    result = wgp_cli("run", "-m", "warner", "-p", "x", "--progress", "console", "--events", str(events),
                     "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert WarningFamily.checks == 1
    assert result.stderr.count("the moon is in the wrong phase") == 1, result.stderr


def test_the_schema_alone_owns_which_images_a_wan_model_takes(wgp_cli, wgp_test_images):
    missing = wgp_cli("run", "-m", "wan2.1-i2v-14b-480p", "-p", "x", "--dry-run")
    assert missing.exit_code == 2 and "--image-start: is required (first frame)" in missing.output
    extra = wgp_cli("run", "-m", "wan2.1-t2v-1.3b", "-p", "x", "--image-start", wgp_test_images["a"], "--dry-run")
    assert extra.exit_code == 2 and "has no parameter image_start" in extra.output
    flf = wgp_cli("run", "-m", "wan2.1-flf2v-14b", "-p", "x", "--image-start", wgp_test_images["a"], "--dry-run")
    assert flf.exit_code == 2 and "--image-end: is required (last frame)" in flf.output
