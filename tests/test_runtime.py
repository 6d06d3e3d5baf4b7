"""Runtime bootstrap: config location, WGP_HOME, environment overrides, legacy keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wgp_hookspecs import UserError
from wgp_host import runtime


def test_wgp_home_relocates_every_directory(wgp_env):
    rt = runtime.initialize_runtime()
    assert rt.config_path == wgp_env / "wgp_config.json"
    for key in ("output_dir", "state_dir", "loras_root", "models_dir"):
        path = Path(rt[key])
        assert wgp_env in path.parents and path.is_dir(), key
    seeded = json.loads(rt.config_path.read_text())
    assert seeded["metadata_mode"] == "embedded" and "output_dir" not in seeded


def test_config_flag_beats_env_beats_home(wgp_env, tmp_path, monkeypatch):
    env_cfg = tmp_path / "env.json"
    monkeypatch.setenv("WGP_CONFIG", str(env_cfg))
    assert runtime.config_path() == env_cfg
    assert runtime.config_path(tmp_path / "flag.json") == tmp_path / "flag.json"


def test_precedence_file_env_overrides(wgp_env, tmp_path, monkeypatch):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"metadata_mode": "json", "writers": ["video"], "crf": 20}))
    monkeypatch.setenv("WGP_WRITERS", "image,audio")
    rt = runtime.initialize_runtime(cfg, overrides={"crf": 30})
    assert rt["metadata_mode"] == "json" and rt.sources["metadata_mode"] == "file"
    assert rt["writers"] == ["image", "audio"] and rt.sources["writers"] == "env"
    assert rt["crf"] == 30 and rt.sources["crf"] == "flag"


def test_legacy_keys_are_migrated_with_a_note(wgp_env, tmp_path, capsys):
    cfg = tmp_path / "legacy.json"
    cfg.write_text(json.dumps({
        "save_path": str(tmp_path / "videos"),
        "image_save_path": str(tmp_path / "images"),
        "metadata_type": "metadata",
        "loras_root": str(tmp_path / "loras"),
        "checkpoints_paths": [str(tmp_path / "ckpts")],
    }))
    rt = runtime.initialize_runtime(cfg)
    assert rt["output_dir"] == str(tmp_path / "videos")
    assert rt["image_output_dir"] == str(tmp_path / "images")
    assert rt["metadata_mode"] == "embedded"
    assert rt["model_search_paths"] == [str(tmp_path / "ckpts")]
    note = capsys.readouterr().err
    assert "save_path -> output_dir" in note and "metadata_type -> metadata_mode" in note
    rewritten = json.loads(cfg.read_text())
    assert "save_path" not in rewritten and rewritten["output_dir"] == str(tmp_path / "videos")
    assert "save_path" in json.loads((tmp_path / "legacy.json.bak").read_text())
    # Migrated once: the next start has nothing to say.
    runtime.initialize_runtime(cfg)
    assert "migrated" not in capsys.readouterr().err


@pytest.mark.parametrize("content, needle", [
    ("{oops", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"metadata_mode": "xml"}', "metadata_mode must be"),
    ('{"writers": "video"}', "'writers' must be a list"),
])
def test_bad_config_is_a_user_error(wgp_env, tmp_path, content, needle):
    cfg = tmp_path / "bad.json"
    cfg.write_text(content)
    with pytest.raises(UserError, match=needle):
        runtime.initialize_runtime(cfg)


def test_bad_env_value(wgp_env, monkeypatch):
    monkeypatch.setenv("WGP_CONTROL_PORT", "eighty")
    with pytest.raises(UserError, match="WGP_CONTROL_PORT"):
        runtime.initialize_runtime()


def test_ensure_runtime_initialized_is_cached(wgp_env):
    first = runtime.ensure_runtime_initialized()
    assert runtime.ensure_runtime_initialized() is first


def test_config_commands(wgp_cli, wgp_env):
    result = wgp_cli("config", "path")
    assert result.output.strip() == str(wgp_env / "wgp_config.json")
    shown = json.loads(wgp_cli("config", "show").output)
    assert shown["config"]["output_dir"] == str(wgp_env / "outputs")
