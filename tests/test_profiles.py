"""Profiles: family-shipped and user-defined bundles, resolved in the documented order."""

from __future__ import annotations

import json

import pytest

from wgp_hookspecs import SEED_PARAM, ModelFamily, ModelSpec, Param, PlanOption, Profile, hookimpl

SPEC = ModelSpec("prof-model", frozenset({"text-to-image"}), (
    Param("prompt", "str", required=True), SEED_PARAM,
    Param("steps", "int", 30, minimum=1), Param("guidance", "float", 5.0), Param("shift", "float", 3.0),
))
FAST = Profile("fast", "few steps", params={"steps": 4, "guidance": 1.0, "shift": 8.0}, plan={"speed": "high"},
               source="a recipe")


class ProfiledFamily:
    @hookimpl
    def register_model_families(self, register):
        register(ModelFamily("prof", (SPEC,), load=lambda spec, plan: None, option_groups=("prof",), profiles=(FAST,)))

    @hookimpl
    def register_plan_options(self, register):
        register(PlanOption(Param("speed", "str", "normal", "Speed.", choices=("normal", "high", "max")), ("--speed",), "prof"))


def dry(wgp_cli, *args):
    result = wgp_cli("run", "-m", SPEC.id, "-p", "x", "--dry-run", "--json", *args)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    return job["request"]["params"], job["plan"]["options"], job["profile"]


@pytest.fixture
def host(make_wgp_host):
    return make_wgp_host(ProfiledFamily())


def test_order_family_defaults_profile_settings_config_flags(host, wgp_cli, wgp_env, tmp_path):
    params, plan, profile = dry(wgp_cli)
    assert (params["steps"], params["guidance"], plan["speed"], profile) == (30, 5.0, "normal", None)
    params, plan, profile = dry(wgp_cli, "--profile", "fast")
    assert (params["steps"], params["guidance"], params["shift"], plan["speed"], profile) == (4, 1.0, 8.0, "high", "fast")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"steps": 6}))
    params, _, _ = dry(wgp_cli, "--profile", "fast", "--settings", str(settings))
    assert (params["steps"], params["guidance"]) == (6, 1.0)  # settings beat the profile
    wgp_env.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"defaults": {"steps": 8, "guidance": 2.0}, "speed": "max"}))
    params, plan, _ = dry(wgp_cli, "--profile", "fast", "--settings", str(settings))
    assert (params["steps"], params["guidance"], plan["speed"]) == (8, 2.0, "max")  # config beats both
    params, plan, _ = dry(wgp_cli, "--profile", "fast", "--settings", str(settings), "--steps", "3", "--speed", "normal")
    assert (params["steps"], plan["speed"]) == (3, "normal")  # flags beat everything


def test_the_record_names_the_profile_and_replays_without_it(host, wgp_cli):
    result = wgp_cli("run", "-m", SPEC.id, "-p", "x", "--profile", "fast", "--dry-run", "--json")
    job = json.loads(result.stdout)
    assert job["profile"] == "fast" and job["request"]["params"]["steps"] == 4  # values frozen into the job


def test_user_profiles_add_and_replace(host, wgp_cli, wgp_env):
    folder = wgp_env / "profiles"
    folder.mkdir(parents=True)
    (folder / "mine.json").write_text(json.dumps({"name": "mine", "family": "prof", "params": {"steps": 12}}))
    (folder / "fast.json").write_text(json.dumps({"name": "fast", "family": "prof", "params": {"steps": 2}}))
    (folder / "other.json").write_text(json.dumps({"name": "elsewhere", "family": "wan", "params": {"steps": 1}}))
    assert dry(wgp_cli, "--profile", "mine")[0]["steps"] == 12
    assert dry(wgp_cli, "--profile", "fast")[0]["steps"] == 2  # the user's copy wins
    listed = json.loads(wgp_cli("profiles", SPEC.id, "--json").stdout)
    assert sorted(row["name"] for row in listed) == ["fast", "mine"]
    assert {row["name"]: row["source"] for row in listed}["fast"].endswith("fast.json")


@pytest.mark.parametrize(("content", "message"), [
    ("{oops", "not readable JSON"),
    ('{"name": "x"}', "string 'name' and 'family'"),
    ('{"name": "x", "family": "prof", "stepz": 3}', "unknown key stepz"),
])
def test_a_broken_user_profile_is_one_line(host, wgp_cli, wgp_env, content, message):
    (wgp_env / "profiles").mkdir(parents=True)
    (wgp_env / "profiles" / "bad.json").write_text(content)
    result = wgp_cli("run", "-m", SPEC.id, "-p", "x", "--profile", "fast", "--dry-run")
    assert result.exit_code == 2 and message in result.output


def test_unknown_profile_lists_the_available_ones(host, wgp_cli):
    result = wgp_cli("run", "-m", SPEC.id, "-p", "x", "--profile", "slow")
    assert result.exit_code == 2
    assert "--profile 'slow': no such profile for prof-model; available: fast" in result.output


def test_a_profile_with_a_parameter_the_model_lacks_is_refused(make_wgp_host, wgp_cli):
    bad = Profile("bad", params={"cfg": 1})

    class BadFamily:
        @hookimpl
        def register_model_families(self, register):
            register(ModelFamily("badfam", (SPEC,), load=lambda spec, plan: None, profiles=(bad,)))

    make_wgp_host(BadFamily())
    result = wgp_cli("run", "-m", SPEC.id, "-p", "x", "--profile", "bad", "--dry-run")
    assert result.exit_code == 2 and "has no parameter cfg (from profile)" in result.output


def test_first_party_profiles(wgp_cli):
    rows = json.loads(wgp_cli("profiles", "--json").stdout)
    names = {(row["family"], row["name"]) for row in rows}
    assert {("wan", "fast"), ("wan", "quality"), ("flux", "fast"), ("ltx", "quality"), ("wan", "distill4")} <= names
    (distill,) = [row for row in rows if row["name"] == "distill4"]
    assert distill["model"] == "wan2.1-t2v-14b" and distill["params"]["steps"] == 4 and distill["params"]["guidance"] == 1.0
    result = wgp_cli("run", "-m", "wan2.1-t2v-14b", "-p", "x", "--profile", "distill4", "--dry-run")
    assert result.exit_code == 2  # the distillation LoRA is named, and missing from this LoRA folder
    assert "unknown LoRA 'lightx2v_T2V_14B_cfg_step_distill_v2_lora_rank256_bf16'" in result.output
