"""docs/plugin-authoring.md is true: what it shows runs, and what it lists is what the code has.

- Blocks marked ``runnable`` (```` ```bash runnable ```` and ```` ```python runnable ````) run in
  order, in one author's environment layered over this one (tests/author_env.py), from an
  empty folder: the tutorial's three commands, then the rest.
- Blocks marked ``file=PATH`` are the files ``wgp plugin new`` renders, byte for byte.
- The tables of flags, capabilities, fixtures and imports are the code's; every table renders.
- The ``build_tiny`` contract it states is what ``wgp models tiny`` does.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from importlib.metadata import entry_points
from pathlib import Path

import click
from author_env import AuthorEnv
from markdown_it import MarkdownIt
from wgp_hookspecs import CAPABILITIES, ModelFamily, ModelSpec, Param, hookimpl

import wgp_host.testing
from wgp_host import scaffold
from wgp_host.cli.options import FLAG_PARAMS

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugin-authoring.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    """(language, info string after it, body) of every fenced block, in order."""
    return [(lang, info.strip(), body) for lang, info, body in BLOCK.findall(GUIDE.read_text())]


def section(title: str) -> str:
    """The text under the guide's heading that starts with ``title``, up to the next heading of its level or above."""
    lines = GUIDE.read_text().splitlines()
    for start, line in enumerate(lines):
        level = len(line) - len(line.lstrip("#"))
        if level and line[level:].strip().startswith(title):
            break
    else:
        raise AssertionError(f"no section {title!r}")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("#") and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start + 1:end])


def table(title: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table in section ``title``, header excluded."""
    rows = [line for line in section(title).splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))] for row in rows[2:]]


def test_the_runnable_blocks_run(tmp_path):
    runnable = [(lang, body) for lang, info, body in blocks() if "runnable" in info.split()]
    assert [lang for lang, _ in runnable][:3] == ["bash", "bash", "python"]  # the tutorial comes first
    env = AuthorEnv(tmp_path / "venv", tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    for number, (lang, body) in enumerate(runnable, 1):
        if lang == "bash":
            proc = env.shell(body, cwd=work)
        else:
            proc = env.run(str(env.python), "-c", body, cwd=work)
        assert proc.returncode == 0, f"runnable block {number} ({lang}):\n{body}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert list((work / "out").glob("*.mp4")), "the tutorial's wgp run wrote no video"


def test_the_file_blocks_are_what_wgp_plugin_new_renders(wgp_env, tmp_path):
    shown = [(info.removeprefix("file="), body) for _, info, body in blocks() if info.startswith("file=")]
    assert {path.split("/")[0] for path, _ in shown} == {"wgp-my-family", "wgp-my-video"}
    scaffold.render("my-family", "family", tmp_path)
    scaffold.render("my-video", "diffusers-family", tmp_path)
    for path, body in shown:
        assert (tmp_path / path).read_text() == body, f"{path} in the guide differs from the template's"


def test_the_flag_table_is_the_cli():
    from wgp_host.cli.run import run

    options = {p.name: p for p in run.params if isinstance(p, click.Option)}
    rows = {cells[0]: cells[1] for cells in table("Parameters and flags")}
    for name in FLAG_PARAMS:
        flags = ", ".join(f"`{opt}`" for opt in options[name].opts)
        assert rows.get(flags) == f"`{name}`", (name, flags)
    assert rows["`--resolution WxH`"] == "`width` and `height`"
    assert rows["`--set KEY=VALUE`"].startswith("`KEY`")
    assert "flag=" in rows["the parameter's own `flag`"]
    assert len(rows) == len(FLAG_PARAMS) + 3


def test_the_capability_table_is_the_vocabulary():
    assert {cells[0].strip("`"): cells[1] for cells in table("Capabilities")} == CAPABILITIES


def test_first_party_models_use_the_vocabulary_and_video_families_declare_the_parameters(wgp_env):
    from wgp_host.plugins import PluginHost

    host = PluginHost()
    host.load(entry_points=True)
    required = {"prompt", "seed", "width", "height", "frames", "fps", "steps"}
    for model_id, (family, spec) in host.registry.models.items():
        assert spec.capabilities <= set(CAPABILITIES), (model_id, spec.capabilities - set(CAPABILITIES))
        names = {p.name for p in spec.params}
        if spec.capabilities & {"text-to-video", "image-to-video"} and "video-in" not in spec.capabilities:
            # An image-to-video model may take its size from the image alone (HunyuanVideo 1.5's
            # pipeline picks the bucket nearest the image's ratio and has no size to set).
            from_image = "text-to-video" not in spec.capabilities and not {"width", "height"} & names
            assert required - ({"width", "height"} if from_image else set()) <= names, (model_id, required - names)
            if "diffusers" in family.option_groups and not spec.options.get("guidance_distilled"):
                # A guidance-distilled checkpoint (MiniMax H3) has no CFG to set, so no negative prompt.
                assert {"negative_prompt", "guidance"} <= names, model_id


def test_the_import_table_names_what_each_module_has():
    heavy = {"wgp_diffusers.tiny", "diffusers"}
    for cells in table("Where each name comes from"):
        names = re.findall(r"`([A-Za-z_][\w.]*)`", cells[0])
        where = re.match(r"`([\w.]+)`", cells[1])
        if where is None:
            assert "fixtures" in cells[1]
            assert set(names) <= _fixtures_of_the_module(), set(names) - _fixtures_of_the_module()
            continue
        module = where.group(1)
        if module == "diffusers":
            continue  # the library's own classes
        if module in heavy:
            tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
            exported = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                            and any(getattr(t, "id", None) == "__all__" for t in node.targets))
            assert set(names) <= set(exported), (module, set(names) - set(exported))
        else:
            imported = importlib.import_module(module)
            for name in names:
                assert hasattr(imported, name), (module, name)


def _fixtures_of_the_module() -> set[str]:
    """The pytest fixtures ``wgp_host.testing`` defines (pytest 8.4+ wraps them in FixtureFunctionDefinition)."""
    out = set()
    for name in dir(wgp_host.testing):
        value = getattr(wgp_host.testing, name)
        if type(value).__name__ == "FixtureFunctionDefinition" or hasattr(value, "_pytestfixturefunction"):
            out.add(name)
    return out


def test_the_fixtures_are_loaded_automatically_and_listed_alike():
    [entry] = [ep for ep in entry_points(group="pytest11") if ep.value == "wgp_host.testing"]
    assert entry.dist.name == "wgp-host"
    fixtures = _fixtures_of_the_module()
    assert "wgp_env" in fixtures and "make_wgp_host" in fixtures
    in_guide = {cells[0].strip("`") for cells in table("8. Testing")}
    docstring = wgp_host.testing.__doc__
    in_docstring = set(re.findall(r"^- ``(\w+)``:", docstring, re.M))
    assert in_guide == in_docstring == fixtures
    assert "**loaded automatically**" in section("8. Testing")
    assert docstring.splitlines()[0].endswith("loaded automatically.") and "-p wgp_host.testing" not in docstring


def test_every_table_renders():
    """Each line that starts with ``|`` outside code is part of a table, every row as wide as its header."""
    text = GUIDE.read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    in_tables = {line for t in tokens if t.type == "table_open" for line in range(*t.map)}
    lines = text.splitlines()
    fenced = False
    width = None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("|"):
            width = None
            continue
        assert number in in_tables, f"line {number + 1} does not render as a table: {line[:80]}"
        cells = len(re.split(r"(?<!\\)\|", line.strip().strip("|")))
        width = width or cells
        assert cells == width, f"line {number + 1} has {cells} cells, its header {width}"


# --------------------------------------------------------------------------- the build_tiny contract

SEEN: list[tuple[bool, list[str]]] = []

TINY = ModelSpec(id="tiny-toy", capabilities=frozenset({"text-to-image"}), params=(Param("prompt", "str", required=True),))


def build_tiny(spec, folder):
    folder = Path(folder)
    SEEN.append((folder.is_dir(), sorted(p.name for p in folder.iterdir())))
    (folder / "model_index.json").write_text("{}")
    if spec.options.get("fail"):
        raise RuntimeError("builder failed")
    return "ignored"


class TinyPlugin:
    @hookimpl
    def register_model_families(self, register):
        failing = ModelSpec(id="tiny-fails", capabilities=TINY.capabilities, params=TINY.params, options={"fail": True})
        register(ModelFamily(name="tiny-toy", models=(TINY, failing), load=lambda spec, plan: None, build_tiny=build_tiny))


def test_models_tiny_keeps_the_contract_the_guide_states(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(TinyPlugin())
    SEEN.clear()
    target = tmp_path / "tiny"
    done = wgp_cli("models", "tiny", "tiny-toy", str(target))
    assert done.exit_code == 0, done.output
    assert SEEN == [(True, [])]  # called with a folder that exists and is empty ...
    assert sorted(p.name for p in target.iterdir()) == ["model_index.json"]  # ... renamed into place
    again = wgp_cli("models", "tiny", "tiny-toy", str(target))
    assert again.exit_code == 2 and again.output.strip() == f"wgp: error: {target.resolve()} exists and is not empty"
    failed = wgp_cli("models", "tiny", "tiny-fails", str(tmp_path / "never"))
    assert failed.exit_code == 1 and not (tmp_path / "never").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wgp-tiny-")] == []  # the temporary folder is gone
