"""Runtime bootstrap: config location, WGP_HOME, environment overrides, legacy keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wgp_hookspecs import UserError
from wgp_host import runtime
from wgp_host.testing import run_wgp


def test_wgp_home_relocates_every_directory(wgp_env):
    rt = runtime.initialize_runtime()
    assert rt.config_path == wgp_env / "wgp_config.json"
    for key in ("output_dir", "state_dir", "loras_root", "models_dir"):
        path = Path(rt[key])
        assert wgp_env in path.parents and path.is_dir(), key
    # Defaults live in code: nothing is written that would freeze them for this user.
    assert not rt.config_path.exists()
    assert rt["metadata_mode"] == "embedded" and rt.sources["metadata_mode"] == "default"


def test_a_real_run_in_a_fresh_home_writes_no_defaults(home_env, wgp_env, tmp_path):
    proc = run_wgp("run", "-m", "echo", "-p", "fresh", "--frames", "3", "--output-dir", str(tmp_path / "o"), env=home_env)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "o").glob("*.mp4"))
    cfg = wgp_env / "wgp_config.json"
    defaults = runtime._default_config(wgp_env)
    stored = json.loads(cfg.read_text()) if cfg.exists() else {}
    assert not {k for k, v in stored.items() if defaults.get(k) == v}, stored


def test_config_show_is_read_only(home_env, wgp_env):
    proc = run_wgp("config", "show", env=home_env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["exists"] is False and not Path(shown["path"]).exists()
    assert not Path(shown["config"]["output_dir"]).exists()


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
    assert rt["writers"] == ["image", "audio"] and rt.sources["writers"] == "env:WGP_WRITERS"
    assert rt["crf"] == 30 and rt.sources["crf"] == "flag"
    assert rt["video_codec"] == "h264" and rt.sources["video_codec"] == "default"
    assert set(rt.sources) == set(rt.config)


def test_config_show_marks_each_value_with_its_source(wgp_cli, tmp_path, monkeypatch):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"crf": 20, "queue_options": {"path": "q.db"}}))
    monkeypatch.setenv("WGP_METADATA_MODE", "json")
    result = wgp_cli("config", "show", "--config", str(cfg))
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["path"] == str(cfg) and shown["exists"] is True
    config, sources = shown["config"], shown["sources"]
    assert (config["crf"], sources["crf"]) == (20, "file")
    assert sources["queue_options"] == "file"  # a key with no default is still attributed
    assert (config["video_codec"], sources["video_codec"]) == ("h264", "default")
    assert (config["metadata_mode"], sources["metadata_mode"]) == ("json", "env:WGP_METADATA_MODE")
    assert set(sources) == set(config)
    assert json.loads(cfg.read_text()) == {"crf": 20, "queue_options": {"path": "q.db"}}


def test_a_changed_default_reaches_users_who_did_not_set_it(wgp_env, monkeypatch):
    first = runtime.initialize_runtime()
    assert first["video_codec"] == "h264"
    cfg = first.config_path
    # The user edits their file (whatever the first start left there) to choose crf.
    mine = json.loads(cfg.read_text()) if cfg.exists() else {}
    cfg.write_text(json.dumps({**mine, "crf": 20}))
    original = runtime._default_config

    def next_release(home):
        return {**original(home), "video_codec": "h265", "crf": 28}

    monkeypatch.setattr(runtime, "_default_config", next_release)
    rt = runtime.initialize_runtime()
    assert rt["video_codec"] == "h265" and rt.sources["video_codec"] == "default"
    assert rt["crf"] == 20 and rt.sources["crf"] == "file"
    assert json.loads(cfg.read_text()) == {"crf": 20}


def test_a_file_seeded_with_every_default_by_an_older_wgp_still_works(wgp_env):
    seeded = {k: v for k, v in runtime._default_config(wgp_env).items() if k not in runtime.DIR_KEYS}
    cfg = wgp_env / "wgp_config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps(seeded, indent=2))
    rt = runtime.initialize_runtime()
    assert rt["writers"] == ["video", "image", "audio", "mattes"] and rt.sources["writers"] == "file"
    assert json.loads(cfg.read_text()) == seeded  # left as the user has it


def test_legacy_keys_are_migrated_with_a_note(wgp_env, tmp_path, capsys):
    cfg = tmp_path / "legacy.json"
    cfg.write_text(json.dumps({
        "save_path": str(tmp_path / "videos"),
        "image_save_path": str(tmp_path / "images"),
        "metadata_type": "metadata",
        "loras_root": str(tmp_path / "loras"),
        "checkpoints_paths": [str(tmp_path / "ckpts")],
        "crf": 18,
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
    # Only what the user had, renamed: no default sneaks in with the rewrite.
    assert set(rewritten) == {"output_dir", "image_output_dir", "metadata_mode", "loras_root", "model_search_paths", "crf"}
    assert rt.sources["output_dir"] == "file" and rt.sources["video_codec"] == "default"
    assert "save_path" in json.loads((tmp_path / "legacy.json.bak").read_text())
    # Migrated once: the next start has nothing to say.
    runtime.initialize_runtime(cfg)
    assert "migrated" not in capsys.readouterr().err


@pytest.mark.parametrize("content, needle", [
    ("{oops", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
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


def test_a_bad_metadata_mode_in_the_config_is_refused_where_jobs_are_built(wgp_cli, wgp_env):
    """One owner: the door (build_job) checks the effective mode, from the flag, the config or a plugin."""
    wgp_env.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text('{"metadata_mode": "xml"}')
    assert wgp_cli("config", "show").exit_code == 0  # reading the config is not running a job
    result = wgp_cli("run", "-m", "echo", "-p", "x")
    assert result.exit_code == 2
    assert "metadata mode must be one of embedded, json, none (got 'xml'" in result.output
