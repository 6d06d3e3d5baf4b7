"""Every hook has a test here (test_hook_<name>) and a documented signature in docs/plugin-hooks.md."""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from dataclasses import replace
from pathlib import Path

import click

from wgp_hookspecs import (
    SEED_PARAM,
    Adapter,
    GenerationResult,
    ModelFamily,
    ModelSpec,
    Param,
    PlanOption,
    ProgressSink,
    Writer,
    hookimpl,
    hookspecs,
)
from wgp_host.defaults.memory_queue import MemoryQueue

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin-hooks.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def test_hooks_are_documented_with_their_signatures():
    documented = dict(re.findall(r"^## (\w+)\(([^)]*)\)", DOCS.read_text(), flags=re.M))
    for name in HOOKS:
        assert name in documented, f"{name} is not documented in docs/plugin-hooks.md"
        params = [p.strip() for p in documented[name].split(",") if p.strip()]
        assert params == list(inspect.signature(getattr(hookspecs, name)).parameters), name


def test_hooks_have_tests():
    tested = {name[len("test_hook_"):] for name in globals() if name.startswith("test_hook_")}
    assert set(HOOKS) <= tested, set(HOOKS) - tested


class ToyModel:
    def __init__(self):
        self.calls = []

    def generate(self, request, context):
        for i in range(1, request.get("steps") + 1):
            context.step(i, request.get("steps"))
        import numpy as np

        value = 200 if "ADAPTED" in request.prompt else 10
        self.calls.append(request.prompt)
        return GenerationResult(images=[np.full((4, 6, 3), value, np.uint8)], metadata={"prompt": request.prompt})

    def unload(self):
        pass


TOY = ModelSpec(
    id="toy-image",
    capabilities=frozenset({"text-to-image"}),
    params=(Param("prompt", "str", required=True), SEED_PARAM, Param("steps", "int", 2, minimum=1)),
)


class ToyFamilyPlugin:
    loaded = []

    @hookimpl
    def register_model_families(self, register):
        def load(spec, plan):
            model = ToyModel()
            ToyFamilyPlugin.loaded.append(model)
            return model

        register(ModelFamily(name="toy", models=(TOY,), load=load))


def run_in_process(wgp_cli, *args):
    result = wgp_cli("run", *args)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def test_hook_register_model_families(make_wgp_host, wgp_cli, tmp_path):
    host = make_wgp_host(ToyFamilyPlugin())
    assert host.registry.models["toy-image"][1] is TOY
    run_in_process(wgp_cli, "-m", "toy-image", "-p", "hi", "--output-dir", str(tmp_path))
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_duplicate_model_id_isolates_the_second_plugin(make_wgp_host):
    class Again(ToyFamilyPlugin):
        pass

    host = make_wgp_host(ToyFamilyPlugin(), Again())
    infos = {i.name: i for i in host.plugins.values()}
    assert infos["Again"].status == "error" and "already registered" in infos["Again"].error
    assert host.registry.owner[("model", "toy-image")] == "ToyFamilyPlugin"


class PromptAdapter(Adapter):
    name = "shout"
    applied: list[str] = []

    def resolve(self, request, options):
        return {"suffix": " ADAPTED"} if "adapt" in request.prompt else None

    def transform(self, request, payload):
        from wgp_hookspecs import GenerationRequest

        return GenerationRequest(request.model, {**request.params, "prompt": request.prompt + payload["suffix"]})

    @contextlib.contextmanager
    def _applied(self):
        PromptAdapter.applied.append("enter")
        yield
        PromptAdapter.applied.append("exit")

    def apply(self, model, payload, context):
        return self._applied()


class AdapterPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(PromptAdapter)


def test_hook_register_adapters(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(ToyFamilyPlugin(), AdapterPlugin())
    PromptAdapter.applied.clear()
    result = run_in_process(wgp_cli, "-m", "toy-image", "-p", "please adapt", "--json", "--output-dir", str(tmp_path))
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["metadata"]["prompt"] == "please adapt ADAPTED"
    assert PromptAdapter.applied == ["enter", "exit"]
    from PIL import Image

    png = next(tmp_path.glob("*.png"))
    record = json.loads(Image.open(png).text["wgp"])
    assert record["adapters"] == {"shout": {"suffix": " ADAPTED"}}
    # a prompt the adapter does not want gets no payload
    result = run_in_process(wgp_cli, "-m", "toy-image", "-p", "plain", "--dry-run", "--json")
    assert json.loads(result.stdout)["adapters"] == {}


class CollectingSink(ProgressSink):
    name = "collect"
    events: list[dict] = []

    def emit(self, event):
        CollectingSink.events.append(event.to_dict())


class SinkPlugin:
    @hookimpl
    def register_progress_sinks(self, register):
        register(CollectingSink)


def test_hook_register_progress_sinks(make_wgp_host, wgp_cli, wgp_env, tmp_path):
    make_wgp_host(ToyFamilyPlugin(), SinkPlugin())
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"progress_sinks": ["collect"]}))
    CollectingSink.events.clear()
    run_in_process(wgp_cli, "-m", "toy-image", "-p", "x", "--steps", "3", "--config", str(config),
                   "--output-dir", str(tmp_path / "o"))
    names = [e["event"] for e in CollectingSink.events]
    assert names[:3] == ["job.queued", "job.started", "model.loading"]
    assert names.count("step") == 3 and names[-1] == "job.finished"


class TextWriter(Writer):
    name = "text"
    kinds = frozenset({"image"})

    def write(self, result, output):
        output.persist("caption", ".txt", "text/plain",
                       lambda tmp: Path(tmp).write_text(output.record["request"]["params"]["prompt"]))


class WriterPlugin:
    @hookimpl
    def register_writers(self, register):
        register(TextWriter())


def test_hook_register_writers(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(ToyFamilyPlugin(), WriterPlugin())
    run_in_process(wgp_cli, "-m", "toy-image", "-p", "caption me", "--writer", "text", "--output-dir", str(tmp_path / "o"))
    files = list((tmp_path / "o").iterdir())
    assert [f.suffix for f in files] == [".txt"] and files[0].read_text() == "caption me"


class CountingQueue(MemoryQueue):
    name = "counting"
    claims = 0

    def claim(self, worker):
        CountingQueue.claims += 1
        return super().claim(worker)


class QueuePlugin:
    @hookimpl
    def register_queue_backends(self, register):
        register(CountingQueue)


def test_hook_register_queue_backends(make_wgp_host, tmp_path):
    from wgp_host.queue import QueueController
    from wgp_host.runner import Runner
    from wgp_host.progress import ProgressChannel
    from wgp_host.job import Job, OutputOptions
    from wgp_hookspecs import GenerationRequest

    host = make_wgp_host(ToyFamilyPlugin(), QueuePlugin())
    backend = host.registry.queue_backends["counting"]({})
    controller = QueueController(backend, Runner(host), ProgressChannel())
    for prompt in ("a", "b"):
        controller.submit(Job(GenerationRequest("toy-image", {"prompt": prompt, "seed": 1, "steps": 1}),
                              OutputOptions(str(tmp_path), writers=("image",))))
    outcomes = controller.drain()
    assert [o.state for o in outcomes] == ["finished", "finished"] and CountingQueue.claims == 3
    assert {r.state for r in backend.list()} == {"finished"}


class CommandPlugin:
    @hookimpl
    def register_commands(self, cli, host):
        @cli.command()
        def greet():
            # the host interface is handed to the hook and to the command alike
            assert click.get_current_context().obj.families() == host.families() == ["toy"]
            click.echo("greetings")


class CollidingPlugin:
    @hookimpl
    def register_commands(self, cli):
        cli.add_command(click.Command("models", callback=lambda: click.echo("mine")))


def test_hook_register_commands(make_wgp_host, wgp_cli):
    host = make_wgp_host(ToyFamilyPlugin(), CommandPlugin(), CollidingPlugin())
    assert wgp_cli("greet").stdout.strip() == "greetings"
    assert "mine" not in wgp_cli("models").stdout
    info = host.plugins["CollidingPlugin"]
    assert info.status == "error" and "'models' is already taken" in info.error


class PlanOptionPlugin:
    @hookimpl
    def register_plan_options(self, register):
        register(PlanOption(Param("precision", "str", "high", "Toy precision.", choices=("high", "low")), ("--precision",), "toy"))


class GroupedToyPlugin:
    @hookimpl
    def register_model_families(self, register):
        register(ModelFamily(name="grouped", models=(replace(TOY, id="toy-grouped"),), option_groups=("toy",),
                             load=lambda spec, plan: GroupedToyPlugin.plans.append(plan) or ToyModel()))

    plans: list = []


def test_hook_register_plan_options(make_wgp_host, wgp_cli, tmp_path):
    make_wgp_host(ToyFamilyPlugin(), GroupedToyPlugin(), PlanOptionPlugin())
    assert "--precision [high|low]" in wgp_cli("run", "--help").output
    run_in_process(wgp_cli, "-m", "toy-grouped", "-p", "x", "--precision", "low", "--output-dir", str(tmp_path / "a"))
    run_in_process(wgp_cli, "-m", "toy-grouped", "-p", "x", "--output-dir", str(tmp_path / "b"))
    assert [plan.options for plan in GroupedToyPlugin.plans[-2:]] == [{"precision": "low"}, {"precision": "high"}]
    refused = wgp_cli("run", "-m", "toy-image", "-p", "x", "--precision", "low")
    assert refused.exit_code == 2 and "--precision does not apply to toy-image" in refused.output


def test_plan_option_flag_collision_isolates_the_second_plugin(make_wgp_host):
    class Twin:
        @hookimpl
        def register_plan_options(self, register):
            register(PlanOption(Param("precision2", "str"), ("--precision",), "toy"))

    host = make_wgp_host(PlanOptionPlugin(), Twin())
    assert host.plugins["Twin"].status == "error" and "--precision is already registered" in host.plugins["Twin"].error
    assert set(host.registry.plan_options) == {"precision"}


def test_a_family_seed_rule_of_its_own_is_refused(make_wgp_host):
    class OwnSeed:
        @hookimpl
        def register_model_families(self, register):
            spec = replace(TOY, id="own-seed", params=(Param("prompt", "str"), Param("seed", "int", minimum=0, maximum=2**63 - 1)))
            register(ModelFamily(name="own", models=(spec,), load=lambda spec, plan: ToyModel()))

    host = make_wgp_host(OwnSeed())
    assert host.plugins["OwnSeed"].status == "error" and "SEED_PARAM" in host.plugins["OwnSeed"].error
