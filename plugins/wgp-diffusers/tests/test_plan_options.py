"""The plan options wgp-diffusers registers once for every diffusers family, and the weights revision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wgp_hookspecs import LoadPlan, ModelSpec, Param, hookimpl

from wgp_diffusers import OPTION_GROUP, PLAN_OPTIONS, define_family, weights_revision
from wgp_host.testing import registered_families

T2V = "wan2.1-t2v-1.3b"
#: Every plan option at its default.
LEVERS_OFF = {"dtype": "auto", "offload": "none", "vae_tiling": None, "cache": "none", "cache_options": [],
              "attention": "auto", "compile": "none", "storage_dtype": "none", "quantize": "none",
              "quantize_text_encoder": "none", "transformer_file": None,
              "offload_blocks": 1, "offload_stream": None, "offload_disk": None, "offload_low_cpu_memory": False, "max_memory": None}
SMALL = ["--resolution", "32x32", "--frames", "5", "--steps", "1", "--seed", "3"]


def test_registered_once_by_the_diffusers_plugin(wgp_cli):
    plugins = {p["name"]: p for p in json.loads(wgp_cli("plugins", "--json").output)}
    assert plugins["diffusers"]["hooks"] == ["register_plan_options"]
    assert plugins["diffusers"]["distribution"] == "wgp-diffusers"
    help_lines = [line.split()[0] for line in wgp_cli("run", "--help").output.splitlines() if line.strip().startswith("--")]
    for flag in ("--dtype", "--offload", "--vae-tiling", "--cache", "--cache-option", "--attention", "--compile",
                 "--storage-dtype", "--quantize", "--quantize-text-encoder", "--transformer-file", "--offload-blocks",
                 "--offload-stream", "--offload-disk", "--offload-low-cpu-memory", "--max-memory"):
        assert help_lines.count(flag) == 1, flag
    assert {option.name for option in PLAN_OPTIONS} == {
        "dtype", "offload", "vae_tiling", "cache", "cache_options", "attention", "compile", "storage_dtype",
        "quantize", "quantize_text_encoder", "transformer_file", "offload_blocks", "offload_stream", "offload_disk",
        "offload_low_cpu_memory", "max_memory"}


@pytest.mark.parametrize("entry_point", ["wan", "flux", "ltx"])
def test_every_first_party_diffusers_family_takes_the_group(entry_point):
    for family in registered_families(entry_point):
        assert OPTION_GROUP in family.option_groups


def test_a_third_party_family_gets_the_options_without_code(make_wgp_host, wgp_cli, tmp_path):
    """A family built with define_family, in a plugin of its own, takes --offload and is validated."""
    spec = ModelSpec("third-t2v", frozenset({"text-to-video"}), (Param("prompt", "str", required=True),))
    family = define_family("third", "third_party_pkg", (spec,))
    plugin = type("third_party_plugin", (), {"register_model_families": staticmethod(hookimpl(lambda register: register(family)))})
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, plugin)
    result = wgp_cli("run", "-m", "third-t2v", "-p", "x", "--offload", "model", "--dtype", "bf16", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["plan"]["options"] == {**LEVERS_OFF, "dtype": "bf16", "offload": "model"}


def test_values_flow_from_flag_config_and_default_and_are_recorded(wgp_cli, wgp_env, tmp_path):
    (wgp_env / "wgp_config.json").parent.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"offload": "group"}))
    dry = json.loads(wgp_cli("run", "-m", T2V, "-p", "x", "--dry-run", "--json").output)
    assert dry["plan"]["options"] == {**LEVERS_OFF, "offload": "group"}
    dry = json.loads(wgp_cli("run", "-m", T2V, "-p", "x", "--offload", "none", "--no-vae-tiling", "--dry-run", "--json").output)
    assert dry["plan"]["options"] == {**LEVERS_OFF, "vae_tiling": False}


def test_refused_at_the_door_for_families_outside_the_group(wgp_cli):
    result = wgp_cli("run", "-m", "echo", "-p", "x", "--offload", "model")
    assert result.exit_code == 2
    assert "--offload does not apply to echo" in result.output
    result = wgp_cli("queue", "add", "-m", "matanyone", "--dtype", "bf16", "--set", "video=x.mp4")
    assert result.exit_code == 2 and "--dtype does not apply to matanyone" in result.output


def test_bad_choice_is_one_line_from_the_shared_param(wgp_cli, wgp_env):
    result = wgp_cli("run", "-m", T2V, "-p", "x", "--offload", "disk")
    assert result.exit_code == 2 and "'disk' is not one of" in result.output
    # the same Param refuses a bad config value, naming the flag
    (wgp_env / "wgp_config.json").parent.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"dtype": "int3"}))
    result = wgp_cli("run", "-m", T2V, "-p", "x")
    assert result.exit_code == 2 and "--dtype: must be one of" in result.output


def test_plan_options_are_part_of_the_model_cache_key():
    base = LoadPlan(weights="w", device="cpu", options={"offload": "none", "dtype": "auto"})
    reordered = LoadPlan(weights="w", device="cpu", options={"dtype": "auto", "offload": "none"})
    assert base.key() == reordered.key()
    assert base.key() != LoadPlan(weights="w", device="cpu", options={"offload": "model", "dtype": "auto"}).key()


def test_old_jobs_with_flat_plan_fields_still_load():
    plan = LoadPlan.from_dict({"weights": "w", "device": "cpu", "dtype": "bf16", "offload": "model", "vae_tiling": True})
    assert plan.options == {"dtype": "bf16", "offload": "model", "vae_tiling": True}
    assert LoadPlan.from_dict(plan.to_dict()) == plan


# --------------------------------------------------------------------------- weights revision


def _hub_cache(root: Path, repo: str, commit: str) -> Path:
    """A Hugging Face cache entry laid out as huggingface_hub writes it (refs/main -> snapshot)."""
    entry = root / ("models--" + repo.replace("/", "--"))
    snapshot = entry / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)
    return snapshot


def test_revision_of_a_hub_repo_is_the_cached_snapshot_commit(tmp_path, monkeypatch):
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = _hub_cache(tmp_path, "someone/model", commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert weights_revision("someone/model") == commit
    assert weights_revision(str(snapshot)) == commit  # the snapshot folder itself, given as --model-path
    assert weights_revision("someone/not-cached") is None


def test_revision_of_a_local_folder_hashes_its_configs(tmp_path):
    folder = tmp_path / "model"
    (folder / "transformer").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"a": 1}')
    (folder / "transformer" / "config.json").write_text('{"layers": 2}')
    first = weights_revision(str(folder))
    assert first is not None and first.startswith("sha256:") and len(first) == 7 + 64
    assert weights_revision(str(folder)) == first
    (folder / "transformer" / "config.json").write_text('{"layers": 3}')
    assert weights_revision(str(folder)) != first


def test_records_sidecars_and_manifest_carry_the_revision(wgp_tiny_model, wgp_cli, tmp_path):
    folder = wgp_tiny_model(T2V)
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", T2V, "--model-path", folder, "-p", "fox", *SMALL, "--output-dir", str(out),
                     "--metadata-mode", "json", "--writer", "video", "--writer", "manifest", "--json")
    assert result.exit_code == 0, result.output
    expected = weights_revision(folder)
    assert expected and expected.startswith("sha256:")
    sidecar = json.loads(next(out.glob("*.json")).read_text())
    assert sidecar["record"]["weights_revision"] == expected
    manifest = [json.loads(line) for line in next(out.rglob("*.jsonl")).read_text().splitlines()]
    assert manifest and all(line["record"]["weights_revision"] == expected for line in manifest)


def test_the_public_api_is_documented():
    import re

    import wgp_diffusers

    doc = (Path(__file__).resolve().parents[3] / "docs" / "diffusers-families.md").read_text()
    listed = set(re.findall(r"`(\w+)`", doc.split("## The whole `__all__`")[1]))
    assert listed == set(wgp_diffusers.__all__)
    for name in wgp_diffusers.__all__:
        assert getattr(wgp_diffusers, name) is not None
