"""``wgp plugin new`` and the templates it renders.

Every kind is rendered by the real command, installed (``pip install -e``, no dependency
resolved) into an author's environment layered over this one (tests/author_env.py), and its
own tests run there with pytest, two projects at a time; the rendered projects are checked
against the rules first-party plugins follow.  The command's own rules (names, kinds,
folders, where cookiecutter is imported) are checked in process.
"""

from __future__ import annotations

import concurrent.futures
import filecmp
import json
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from author_env import AuthorEnv
from packaging.requirements import Requirement
from test_distributions import compatible_range, hookspecs_range, pyproject, requirement
from test_plugin_boundaries import imports, project

from wgp_host import scaffold

ROOT = Path(__file__).resolve().parents[1]
#: One plugin per kind, each with its own name: all of them are installed side by side.
KINDS = {
    "adapter": "demo-adapter",
    "diffusers-family": "demo-video",
    "family": "demo-family",
    "queue-backend": "demo-queue",
    "sink": "demo-sink",
    "writer": "demo-writer",
}


@pytest.fixture(scope="module")
def authored(tmp_path_factory: pytest.TempPathFactory):
    """Every kind rendered, installed and its tests started; yields (projects, test runs)."""
    root = tmp_path_factory.mktemp("authored")
    env = AuthorEnv(root / "venv", root / "home")
    work = root / "work"
    work.mkdir()
    rendered = env.shell("\n".join(f"wgp plugin new {name} --kind {kind}" for kind, name in KINDS.items()), cwd=work)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    projects = {kind: work / f"wgp-{name}" for kind, name in KINDS.items()}
    installed = env.install(*projects.values(), cwd=work)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (root / "tmp").mkdir()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    # The diffusers project (torch, a tiny model) takes longest: it starts first.
    order = sorted(projects, key=lambda kind: kind != "diffusers-family")
    runs = {
        kind: pool.submit(env.run, "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={root / 'tmp' / kind}",
                          cwd=projects[kind], timeout=600)
        for kind in order
    }
    yield projects, runs
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_template_kind_is_exercised():
    assert scaffold.kinds() == tuple(sorted(KINDS))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_rendered_project_passes_its_own_tests(authored, kind):
    _, runs = authored
    proc = runs[kind].result()
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # Nothing skipped, failed or xfailed.
    assert re.fullmatch(r"\d+ passed(, \d+ warnings?)? in [\d.]+s( \(.*\))?", summary), summary


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_rendered_project_is_a_complete_distribution(authored, kind):
    projects, _ = authored
    folder = projects[kind]
    name = KINDS[kind]
    package = "wgp_" + name.replace("-", "_")
    data = pyproject(folder)
    assert data["name"] == f"wgp-{name}" and data["readme"] == "README.md" and (folder / "README.md").is_file()
    assert data["license"] == "Apache-2.0" and data["requires-python"] == ">=3.10" and data["classifiers"]
    assert data["entry-points"]["wgp"] == {name: f"{package}.plugin"}
    assert (folder / package / "plugin.py").is_file() and list((folder / "tests").glob("test_*.py"))
    for file in folder.rglob("*"):
        if file.is_file() and "__pycache__" not in file.parts and not file.name.endswith(".pth"):
            text = file.read_text()
            assert "{{" not in text and "cookiecutter" not in text, file  # fully rendered
    deps = dict(requirement(spec) for spec in data["dependencies"])
    assert deps["wgp-hookspecs"] == hookspecs_range() and "wgp-host" not in deps
    if kind == "diffusers-family":
        assert deps["wgp-diffusers"] == compatible_range(pyproject(ROOT / "plugins" / "wgp-diffusers")["version"])
    assert set(data["optional-dependencies"]) == {"test"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_rendered_project_keeps_the_plugin_boundaries(authored, kind):
    """As tests/test_plugin_boundaries.py holds first-party plugins: no wgp_host at run time, every import declared."""
    folder = authored[0][kind]
    name, packages, declared = project(folder)
    found = imports(folder, packages)
    assert "wgp_host" not in found, found.get("wgp_host")
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    for module in found:
        if module in sys.stdlib_module_names or module == "__future__" or module in {p.split(".")[0] for p in packages}:
            continue
        assert {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(module, [])} & declared, (name, module)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_what_the_rendered_project_requires_is_what_this_environment_has(authored, kind):
    """The install above resolved no dependency: each requirement, the test extra's too, must be met here."""
    data = pyproject(authored[0][kind])
    for spec in [*data["dependencies"], *data["optional-dependencies"]["test"]]:
        wanted = Requirement(spec)
        assert wanted.specifier.contains(distribution(wanted.name).version, prereleases=True), spec


def test_a_rendered_project_builds_and_passes_twine_check(authored, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(authored[0]["family"], source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    files = sorted(map(str, (tmp_path / "dist").iterdir()))
    assert len(files) == 2
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rendered_plugins_stay_out_of_the_suites_environment(authored):
    for name in KINDS.values():
        with pytest.raises(PackageNotFoundError):
            distribution(f"wgp-{name}")


# --------------------------------------------------------------------------- the command's own rules


@pytest.mark.parametrize("name", ["My_Plugin", "1st", "two--hyphens", "_lead", "trail-", "wgp-", "Ünïcode", "a b", "x.y"])
def test_a_bad_name_is_one_line_and_exit_status_2(wgp_cli, tmp_path, name):
    result = wgp_cli("plugin", "new", name, "--kind", "family", "--dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.output.strip() == (f"wgp: error: plugin name {name!r}: use lowercase letters, digits and single "
                                     "hyphens, starting with a letter (e.g. my-family)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "kind", "message"), [
    ("echo", "family", "plugin name 'echo': a distribution wgp-echo is already installed; choose another name"),
    ("video", "writer", "plugin name 'video': video-writer already registers a writer of that name; choose another name"),
    ("jsonl", "sink", "plugin name 'jsonl': jsonl-progress already registers a sink of that name; choose another name"),
    ("seed", "adapter", "plugin name 'seed': the adapter's option would be --seed, which wgp run already has; "
                        "choose another name"),
])
def test_a_name_that_is_taken_is_refused(wgp_cli, tmp_path, name, kind, message):
    result = wgp_cli("plugin", "new", name, "--kind", kind, "--dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.output.strip() == f"wgp: error: {message}"
    assert not (tmp_path / "out").exists()


def test_kind_is_required_and_checked(wgp_cli, tmp_path):
    for args in (["--kind", "plugin"], []):
        result = wgp_cli("plugin", "new", "fine", *args, "--dir", str(tmp_path))
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert "plugin new: error:" in result.output and "--kind" in result.output


def test_names_are_derived_and_the_next_commands_printed(wgp_cli, tmp_path):
    result = wgp_cli("plugin", "new", "wgp-tidy-up2", "--kind", "sink", "--dir", str(tmp_path / "a" / "b"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "a" / "b" / "wgp-tidy-up2"  # --dir is created; the wgp- prefix is not doubled
    assert result.output.splitlines() == [
        f"created wgp-tidy-up2 (sink) in {folder}",
        f"next: pip install -e '{folder}[test]' && pytest {folder}",
    ]
    plugin = (folder / "wgp_tidy_up2" / "plugin.py").read_text()
    assert 'name = "tidy-up2"' in plugin and "class TidyUp2Sink(ProgressSink):" in plugin
    again = wgp_cli("plugin", "new", "tidy-up2", "--kind", "sink", "--dir", str(tmp_path / "a" / "b"))
    assert again.exit_code == 2 and again.output.strip() == f"wgp: error: {folder} already exists; choose another --dir or name"


def test_rendering_depends_on_nothing_but_the_name(wgp_cli, tmp_path, monkeypatch):
    """No user cookiecutter config is read and nothing is written outside --dir (no replay file)."""
    home = tmp_path / "user-home"
    home.mkdir()
    (home / ".cookiecutterrc").write_text("default_context:\n  description: from the user's config\n")
    monkeypatch.setenv("HOME", str(home))
    for folder in ("a", "b"):
        assert wgp_cli("plugin", "new", "same", "--kind", "writer", "--dir", str(tmp_path / folder)).exit_code == 0
    compared = filecmp.dircmp(tmp_path / "a" / "wgp-same", tmp_path / "b" / "wgp-same")
    assert not compared.diff_files and not compared.left_only and not compared.right_only
    assert "from the user's config" not in (tmp_path / "a" / "wgp-same" / "pyproject.toml").read_text()
    assert sorted(p.name for p in home.iterdir()) == [".cookiecutterrc"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_template_is_a_plain_cookiecutter_template(wgp_env, tmp_path, kind):
    """``cookiecutter templates/KIND`` renders what ``wgp plugin new`` renders for the same name."""
    from cookiecutter.main import cookiecutter

    template = scaffold.template_root() / kind
    example = json.loads((template / "cookiecutter.json").read_text())["plugin_name"]
    plain = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "plain"),
                              default_config={"replay_dir": str(tmp_path / "replay")}))
    ours = scaffold.render(example, kind, tmp_path / "ours")
    assert plain.name == ours.name == f"wgp-{example}"
    files = sorted(p.relative_to(plain) for p in plain.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
    assert all((plain / f).read_bytes() == (ours / f).read_bytes() for f in files)


def test_cookiecutter_is_imported_by_plugin_new_only(tmp_path):
    code = (
        "import sys\nfrom wgp_host.cli import cli\n"
        "for args in (['--help'], ['plugins'], ['plugin', '--help'], ['plugin', 'new', '--help']):\n"
        "    try:\n        cli.main(args)\n    except SystemExit:\n        pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('cookiecutter', 'torch')))"
    )
    env = {"WGP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "Render the KIND template as the project wgp-NAME" in out  # plugin new --help ran
    assert out.strip().splitlines()[-1] == "LOADED []"
