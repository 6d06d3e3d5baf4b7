"""docs/events.md is the event catalogue: it must document exactly the events the code emits.

The collector reads the source with ``ast`` (nothing is imported or run) of every
non-test module of the host (``wgp_host/``), of ``hookspecs/`` and of every plugin
and contrib package (``plugins/*/<pkg>/``, ``contrib/*/<pkg>/``, found by globbing,
so a new plugin is covered the day it lands).  An event is emitted by

- a call of a function named ``emit`` or ``_emit`` (``emit(...)``,
  ``channel.emit(...)``, ``self.emit(...)``, ``context.emit(...)``,
  ``self._emit(...)``) whose first argument (or ``event=``) is the event name;
- a construction ``ProgressEvent("name", ...)`` / ``ProgressEvent(event="name", ...)``;
- the ``GenerationContext`` helpers (``context.step(...)`` emits ``step``,
  ``context.warn(...)`` emits ``job.warning``): their own ``self.emit("...")`` in
  hookspecs is an ordinary literal emit, so the events are found there; the
  helper map is derived from that source and only used to attribute fields that
  callers pass through ``**fields`` (``context.step(i, total, frame=3)``).

The format of docs/events.md is the contract (see ``parse_catalogue``): under
``## Catalogue`` one ``### `event.name``` heading per event, then the bullet lines
``- **When:**``, ``- **Emitted by:**`` and ``- **Schema:** N``, then a
``| field | type | meaning |`` table with one backticked field name per row.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wgp_hookspecs import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "docs" / "events.md"

#: Functions whose first argument is an event name.
EMIT_NAMES = {"emit", "_emit"}
#: Classes whose construction names an event (first argument or ``event=``).
EVENT_CLASSES = {"ProgressEvent"}
#: Keyword arguments of an emit call that are not event fields: ``job`` is the envelope's
#: job id (``ProgressChannel.emit(event, job=None, **fields)``), ``event`` the name.
NOT_FIELDS = {"job", "event"}
#: Envelope keys every event has (``ProgressEvent.to_dict``); documented once, not per event.
ENVELOPE = ("schema", "event", "job", "ts")
#: The context class whose helper methods emit events; looked for in every hookspecs module.
CONTEXT_CLASS = "GenerationContext"
SKIP_DIRS = {"tests", "test", "__pycache__", "build", "dist", "node_modules"}


# --------------------------------------------------------------------------- finding modules


def _skipped(part: str) -> bool:
    return part in SKIP_DIRS or part.startswith(".") or part.endswith(".egg-info")


def _python_files(folder: Path, root: Path) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(_skipped(p) for p in rel[:-1]) or rel[-1].startswith("test_") or rel[-1] == "conftest.py":
            continue
        out.append(path)
    return out


def package_dirs(root: Path = REPO) -> list[Path]:
    """The host, hookspecs, and every ``plugins/*/<pkg>`` and ``contrib/*/<pkg>`` folder.

    A plugin package is any folder directly inside a distribution folder that is
    not a test, build or egg-info folder (no ``__init__.py`` needed: a package
    being moved in may not have one yet)."""
    dirs = [root / "wgp_host", root / "hookspecs"]
    for group in ("plugins", "contrib"):
        for dist in sorted((root / group).glob("*")):
            if not dist.is_dir() or _skipped(dist.name):
                continue
            dirs += [p for p in sorted(dist.iterdir()) if p.is_dir() and not _skipped(p.name)]
    return [d for d in dirs if d.is_dir()]


def source_modules(root: Path = REPO) -> list[Path]:
    out: list[Path] = []
    for folder in package_dirs(root):
        out += _python_files(folder, root)
    return out


def package_of(path: Path, root: Path = REPO) -> str:
    """The import name an emit site belongs to: ``wgp_host``, ``wgp_hookspecs``, ``wgp_lora``, ..."""
    parts = path.relative_to(root).parts
    if parts[0] in ("plugins", "contrib", "hookspecs") and len(parts) > 2:
        return parts[2] if parts[0] != "hookspecs" else parts[1]
    return parts[0]


# --------------------------------------------------------------------------- the collector


@dataclass
class Site:
    """One place that emits an event."""

    event: str
    where: str  # path:line (function)
    package: str
    fields: set[str] = field(default_factory=set)
    #: True when the call passes ``**something``: more fields than the keywords show.
    open_fields: bool = False
    #: The GenerationContext helper called (``step``, ``warn``), or "" for a literal emit.
    via: str = ""


@dataclass
class Collected:
    sites: list[Site] = field(default_factory=list)
    #: Emit calls whose event name is not a literal (each a message for the author).
    dynamic: list[str] = field(default_factory=list)
    #: Import names of the packages scanned (an "Emitted by" line may name only these).
    packages: set[str] = field(default_factory=set)

    def events(self) -> dict[str, list[Site]]:
        out: dict[str, list[Site]] = {}
        for site in self.sites:
            out.setdefault(site.event, []).append(site)
        return out

    def extend(self, other: Collected) -> None:
        self.sites += other.sites
        self.dynamic += other.dynamic
        self.packages |= other.packages


@dataclass
class Helper:
    """A GenerationContext method that emits one event (``step`` -> ``step``)."""

    event: str
    params: set[str]  # its named parameters: not fields
    forwards_kwargs: bool  # callers' extra keywords become event fields


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literal_names(node: ast.expr) -> list[str] | None:
    """The event names a first argument can take, when they are all string literals.

    A conditional expression with literal branches (``"queue.paused" if p else
    "queue.resumed"``) is as static as a literal: both names are collected."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literal_names(node.body), _literal_names(node.orelse)
        if body is not None and orelse is not None:
            return body + orelse
    return None


def _params(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    a = func.args
    names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return set(names)


def _event_locals(func: ast.AST) -> set[str]:
    """Names a function binds to ``ProgressEvent(...)``: passing one on (``sink.emit(ev)``)
    delivers an event that was already built, and checked, where it was constructed."""
    out = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _call_name(node.value.func) in EVENT_CLASSES:
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def _is_context(node: ast.expr) -> bool:
    """A receiver that is a GenerationContext by naming convention: ``context``, ``ctx``,
    ``self.context``, ``recorder.context``.  Only used to attribute the fields callers
    pass through a helper's ``**fields``; the helpers' events themselves are found in
    hookspecs, so a missed receiver never hides an event."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name in ("context", "ctx") or name.endswith("_context")


class _Visitor(ast.NodeVisitor):
    def __init__(self, rel: str, package: str, helpers: dict[str, Helper]) -> None:
        self.rel, self.package, self.helpers = rel, package, helpers
        self.scopes: list[tuple[str, ast.AST]] = []  # (name, node) of enclosing classes and functions
        self.out = Collected()

    def _where(self, node: ast.AST) -> str:
        names = ".".join(name for name, _ in self.scopes if name != "<lambda>")
        return f"{self.rel}:{node.lineno}" + (f" ({names})" if names else "")

    def _scoped(self, name: str, node: ast.AST) -> None:
        self.scopes.append((name, node))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node.name, node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node.name, node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scoped("<lambda>", node)

    def _functions(self) -> list[ast.AST]:
        return [n for _, n in self.scopes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]

    def _forwarded(self, arg: ast.expr) -> bool:
        """Forwarding helpers pass on a name they were given: ``ProgressChannel.emit(self,
        event, ...)`` -> ``sink.emit(ev)``, the bound ``emit(event, **fields)`` ->
        ``self.emit(event, job, **fields)``.  A first argument that is a plain parameter of
        an enclosing function (or a local bound to ``ProgressEvent(...)``) is such a
        forward and is ignored: the literal name is checked where the helper is called."""
        if not isinstance(arg, ast.Name):
            return False
        for func in self._functions():
            if arg.id in _params(func) or arg.id in _event_locals(func):  # type: ignore[arg-type]
                return True
        return False

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node.func)
        if name in EMIT_NAMES or name in EVENT_CLASSES:
            self._emit_call(node, name)
        elif (
            name in self.helpers
            and isinstance(node.func, ast.Attribute)
            and _is_context(node.func.value)
        ):
            helper = self.helpers[name]
            extra = {k.arg for k in node.keywords if k.arg is not None} - helper.params if helper.forwards_kwargs else set()
            self.out.sites.append(Site(helper.event, self._where(node), self.package, extra,
                                       open_fields=any(k.arg is None for k in node.keywords), via=name))
        self.generic_visit(node)

    def _emit_call(self, node: ast.Call, name: str) -> None:
        keyword = next((k.value for k in node.keywords if k.arg == "event"), None)
        arg = node.args[0] if node.args else keyword
        if arg is None:
            self.out.dynamic.append(f"{self._where(node)}: {name}() without an event name; use a literal name")
            return
        names = _literal_names(arg)
        if names is None:
            if self._forwarded(arg):
                return
            self.out.dynamic.append(
                f"{self._where(node)}: {name}({ast.unparse(arg)}, ...) builds the event name at run time; "
                "use a literal string (one emit per event, or `'a' if cond else 'b'`) so docs/events.md can be checked"
            )
            return
        if name in EVENT_CLASSES:
            fields, open_fields = _class_fields(node)
        else:
            fields = {k.arg for k in node.keywords if k.arg is not None} - NOT_FIELDS
            open_fields = any(k.arg is None for k in node.keywords)
        for event in names:
            self.out.sites.append(Site(event, self._where(node), self.package, set(fields), open_fields))


def _class_fields(node: ast.Call) -> tuple[set[str], bool]:
    """Fields of ``ProgressEvent(event, job, ts, fields={...})``: a dict literal's keys."""
    value = next((k.value for k in node.keywords if k.arg == "fields"), node.args[3] if len(node.args) > 3 else None)
    if value is None:
        return set(), False
    if isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) for k in value.keys):
        return {str(k.value) for k in value.keys}, False  # type: ignore[union-attr]
    return set(), True


def context_helpers(source: str | None = None) -> dict[str, Helper]:
    """GenerationContext's methods that call ``self.emit("literal", ...)``, read from hookspecs."""
    if source is None:
        sources = [p.read_text(encoding="utf-8") for p in _python_files(REPO / "hookspecs", REPO)]
    else:
        sources = [source]
    out: dict[str, Helper] = {}
    for cls in (node for text in sources for node in ast.walk(ast.parse(text))):
        if not (isinstance(cls, ast.ClassDef) and cls.name == CONTEXT_CLASS):
            continue
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for call in ast.walk(method):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in EMIT_NAMES
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                ):
                    forwards = method.args.kwarg is not None and any(
                        k.arg is None and isinstance(k.value, ast.Name) and k.value.id == method.args.kwarg.arg
                        for k in call.keywords
                    )
                    a = method.args
                    named = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs} - {"self"}
                    out[method.name] = Helper(str(call.args[0].value), named, forwards)
    return out


def collect_source(source: str, rel: str = "<string>", package: str = "<string>",
                   helpers: dict[str, Helper] | None = None) -> Collected:
    """Every event emitted by one module's source."""
    visitor = _Visitor(rel, package, context_helpers() if helpers is None else helpers)
    visitor.visit(ast.parse(source, filename=rel))
    visitor.out.packages.add(package)
    return visitor.out


def collect(root: Path = REPO) -> Collected:
    helpers = context_helpers()
    out = Collected()
    for path in source_modules(root):
        out.extend(collect_source(path.read_text(encoding="utf-8"), str(path.relative_to(root)),
                                  package_of(path, root), helpers))
    return out


# --------------------------------------------------------------------------- the catalogue


@dataclass
class Entry:
    event: str
    line: int
    when: str = ""
    emitted_by: str = ""
    schema: int | None = None
    fields: dict[str, str] = field(default_factory=dict)  # name -> type
    problems: list[str] = field(default_factory=list)


HEADING = re.compile(r"^### `([^`]+)`\s*$")
BULLET = re.compile(r"^- \*\*(When|Emitted by|Schema):\*\*\s*(.*)$")
FIELD_HEADER = re.compile(r"^\|\s*field\s*\|\s*type\s*\|\s*meaning\s*\|\s*$")
CURRENT_SCHEMA = re.compile(r"^Current schema version: `(\d+)`", re.M)


def parse_catalogue(text: str) -> tuple[dict[str, Entry], list[str]]:
    """The catalogue's entries, and what is malformed.

    The contract: the section ``## Catalogue`` holds one ``### `event.name``` heading
    per event and nothing else at that level; each entry has the three bullets
    ``- **When:** ...``, ``- **Emitted by:** ...``, ``- **Schema:** <int>`` (lines
    indented by two spaces continue a bullet) and a ``| field | type | meaning |``
    table whose rows each start with one backticked field name and give a type.
    "Emitted by" names, in backticks, the import package of every literal emit of
    the event (`wgp_host`, `wgp_lora`, ...).  The section ends at the next ``## ``
    heading."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    inside = False
    entry: Entry | None = None
    table = False
    last: str | None = None  # the bullet that indented lines continue
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            inside, entry = line.strip() == "## Catalogue", None
            continue
        if not inside:
            continue
        if line.startswith("### "):
            match = HEADING.match(line)
            table = False
            if match is None:
                problems.append(f"docs/events.md:{number}: catalogue heading is not ### `event.name`: {line!r}")
                entry = None
                continue
            name = match.group(1)
            if name in entries:
                problems.append(f"docs/events.md:{number}: `{name}` is documented twice")
            entry = entries[name] = Entry(name, number)
            last = None
            continue
        if entry is None:
            continue
        bullet = BULLET.match(line)
        if bullet:
            key, value = bullet.groups()
            last = key
            if key == "When":
                entry.when = value.strip()
            elif key == "Emitted by":
                entry.emitted_by = value.strip()
            else:
                entry.schema = int(value) if value.strip().isdigit() else None
                if entry.schema is None:
                    entry.problems.append(f"Schema must be an integer, got {value!r}")
            continue
        if last and line.startswith("  ") and line.strip():  # a bullet's continuation line
            if last == "When":
                entry.when += " " + line.strip()
            elif last == "Emitted by":
                entry.emitted_by += " " + line.strip()
            continue
        last = None
        if FIELD_HEADER.match(line):
            table = True
            continue
        if table and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set(cells[0]) <= {"-", ":", " "}:
                continue  # the |---| separator
            match = re.fullmatch(r"`([^`]+)`", cells[0])
            if match is None or len(cells) < 3 or not cells[1] or not cells[2]:
                entry.problems.append(f"field row must be | `name` | type | meaning |: {line!r}")
                continue
            entry.fields[match.group(1)] = cells[1]
            continue
        if table and not line.strip().startswith("|"):
            table = False
    for entry in entries.values():
        for key, value in (("When", entry.when), ("Emitted by", entry.emitted_by)):
            if not value:
                entry.problems.append(f"missing '- **{key}:** ...'")
        if entry.schema is None and not any("Schema" in p for p in entry.problems):
            entry.problems.append("missing '- **Schema:** N'")
        if not entry.fields:
            entry.problems.append("no | field | type | meaning | table with at least one field")
        problems += [f"docs/events.md:{entry.line}: `{entry.event}`: {p}" for p in entry.problems]
    return entries, problems


def check(collected: Collected, entries: dict[str, Entry]) -> list[str]:
    """Every way the code and the catalogue disagree, one message each."""
    problems = list(collected.dynamic)
    events = collected.events()
    for event, sites in sorted(events.items()):
        if event not in entries:
            problems.append(
                f"`{event}` is emitted but not documented in docs/events.md (add a ### `{event}` entry): "
                + "; ".join(s.where for s in sites)
            )
            continue
        entry = entries[event]
        for site in sites:
            missing = site.fields - set(entry.fields)
            if missing:
                problems.append(f"`{event}` at {site.where} emits field(s) {sorted(missing)} not in its docs/events.md table")
        # Only literal emits name an emitter: a helper call (context.step) is emitted by
        # hookspecs, and its callers are found by a naming convention, not exhaustively.
        emitting_packages = {s.package for s in sites if not s.via}
        for package in sorted(emitting_packages):
            if f"`{package}`" not in entry.emitted_by:
                problems.append(f"`{event}`: its 'Emitted by' line does not name `{package}`, which emits it")
        # ... and names no package that does not (helper callers count as emitters here).
        named = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", entry.emitted_by)) & collected.packages
        for package in sorted(named - {s.package for s in sites}):
            problems.append(f"`{event}`: its 'Emitted by' line names `{package}`, which no longer emits it")
        if not any(s.open_fields for s in sites):
            stale = set(entry.fields) - set().union(*(s.fields for s in sites))
            if stale:
                problems.append(f"`{event}`: docs/events.md lists field(s) {sorted(stale)} that no emit passes")
    for event, entry in sorted(entries.items()):
        if event not in events:
            problems.append(f"docs/events.md:{entry.line}: `{event}` is documented but nothing emits it (stale entry)")
    return problems


# --------------------------------------------------------------------------- the checks


@pytest.fixture(scope="module")
def catalogue() -> tuple[dict[str, Entry], list[str]]:
    return parse_catalogue(CATALOGUE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def collected() -> Collected:
    return collect()


def test_catalogue_is_well_formed(catalogue: tuple[dict[str, Entry], list[str]]) -> None:
    entries, problems = catalogue
    assert entries, "docs/events.md has no ### `event` entries under ## Catalogue"
    assert not problems, "\n".join(problems)


def test_catalogue_schema_version(catalogue: tuple[dict[str, Entry], list[str]]) -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    match = CURRENT_SCHEMA.search(text)
    assert match, "docs/events.md must say 'Current schema version: `N`'"
    assert int(match.group(1)) == SCHEMA_VERSION, "docs/events.md's current schema version is not wgp_hookspecs.SCHEMA_VERSION"
    for entry in catalogue[0].values():
        assert entry.schema is not None and 1 <= entry.schema <= SCHEMA_VERSION, (
            f"`{entry.event}`: Schema {entry.schema} is not a released schema version (1..{SCHEMA_VERSION})"
        )
    for key in ENVELOPE:
        assert re.search(rf"^\| `{key}` \|", text, re.M), f"the envelope table does not list `{key}`"


def test_code_and_catalogue_agree(collected: Collected, catalogue: tuple[dict[str, Entry], list[str]]) -> None:
    problems = check(collected, catalogue[0])
    assert not problems, "docs/events.md and the code disagree:\n" + "\n".join(problems)


def test_collector_sees_the_whole_tree(collected: Collected) -> None:
    """Guards against a glob that silently finds nothing after a layout change."""
    modules = source_modules()
    assert not [m for m in modules if "tests" in m.relative_to(REPO).parts]
    for group in ("plugins", "contrib"):
        for dist in sorted(d for d in (REPO / group).iterdir() if d.is_dir() and not _skipped(d.name)):
            if any("tests" not in p.relative_to(dist).parts for p in dist.rglob("*.py")):
                assert any(dist in m.parents for m in modules), f"no module of {dist.relative_to(REPO)} is scanned"
    events = collected.events()
    for event in ("job.started", "job.finished", "step", "job.warning", "artifact", "job.queued"):
        assert event in events, f"the collector no longer finds `{event}`"


def test_context_helpers_come_from_hookspecs() -> None:
    helpers = context_helpers()
    assert helpers["step"].event == "step" and helpers["step"].forwards_kwargs
    assert {"i", "total", "model"} <= helpers["step"].params
    assert helpers["warn"].event == "job.warning" and not helpers["warn"].forwards_kwargs


# --------------------------------------------------------------------------- the collector itself


SYNTHETIC = textwrap.dedent(
    '''
    class Family:
        def generate(self, request, context):
            context.emit("job.new_thing", answer=42)
            context.step(1, 2, model=None, frame=7)
            emit("job.started", model="m", params={}, surprise=True)
    '''
)


def test_an_undocumented_emit_is_reported(catalogue: tuple[dict[str, Entry], list[str]]) -> None:
    got = collect_source(SYNTHETIC, "plugins/wgp-new/wgp_new/family.py", "wgp_new")
    problems = "\n".join(check(got, catalogue[0]))
    assert "`job.new_thing` is emitted but not documented" in problems
    assert "plugins/wgp-new/wgp_new/family.py:4 (Family.generate)" in problems
    # fields that callers pass through context.step(**fields), or that an emit adds
    assert "`step` at plugins/wgp-new/wgp_new/family.py:5 (Family.generate) emits field(s) ['frame']" in problems
    assert "emits field(s) ['surprise']" in problems
    assert "does not name `wgp_new`" in problems


def test_a_new_plugin_file_is_found(tmp_path: Path) -> None:
    module = tmp_path / "plugins" / "wgp-new" / "wgp_new" / "family.py"
    module.parent.mkdir(parents=True)
    module.write_text('def run(emit):\n    emit("job.new_thing", x=1)\n')
    ignored = tmp_path / "plugins" / "wgp-new" / "tests" / "test_family.py"
    ignored.parent.mkdir()
    ignored.write_text('emit("job.test_only")\n')
    (tmp_path / "plugins" / "wgp-new" / "wgp_new.egg-info").mkdir()
    (tmp_path / "wgp_host").mkdir()
    (tmp_path / "wgp_host" / "x.py").write_text('channel.emit("job.queued", "id", model="m", priority=0)\n')
    assert source_modules(tmp_path) == [tmp_path / "wgp_host" / "x.py", module]
    got = collect(tmp_path)
    assert {e: [s.package for s in sites] for e, sites in got.events().items()} == {
        "job.queued": ["wgp_host"], "job.new_thing": ["wgp_new"],
    }


def test_stale_entries_are_reported() -> None:
    entries = {"job.gone": Entry("job.gone", 7, "w", "`wgp_host`", 1, {"x": "string"})}
    assert check(Collected(), entries) == [
        "docs/events.md:7: `job.gone` is documented but nothing emits it (stale entry)"
    ]
    # a stale emitter, and a documented field nobody passes any more
    got = collect_source('emit("job.gone")\n', "plugins/wgp-a/wgp_a/m.py", "wgp_a")
    got.packages.add("wgp_host")
    entries["job.gone"].emitted_by = "`wgp_a`, `wgp_host` (`Runner.run`)"
    assert check(got, entries) == [
        "`job.gone`: its 'Emitted by' line names `wgp_host`, which no longer emits it",
        "`job.gone`: docs/events.md lists field(s) ['x'] that no emit passes",
    ]


def test_dynamic_names_fail_and_forwards_do_not() -> None:
    source = textwrap.dedent(
        '''
        class ProgressChannel:
            def emit(self, event, job=None, **fields):
                ev = ProgressEvent(event=event, job=job, fields=fields)
                for sink in self.sinks:
                    sink.emit(ev)

            def bind(self, job):
                def emit(event, **fields):
                    return self.emit(event, job, **fields)
                return emit

        def bad(emit, kind, self):
            emit(f"job.{kind}")
            name = "job." + kind
            emit(name)
            self.emit(self.name)
            emit(**{"event": "x"})
            emit("queue.paused" if kind else "queue.resumed", None, worker="w")
            ProgressEvent("job.built", fields={"a": 1})
        '''
    )
    got = collect_source(source, "m.py", "m")
    assert len(got.dynamic) == 4, got.dynamic
    assert all("m.py:" in d and "bad" in d for d in got.dynamic)
    assert "emit(f'job.{kind}', ...) builds the event name at run time; use a literal string" in got.dynamic[0]
    assert sorted(got.events()) == ["job.built", "queue.paused", "queue.resumed"]
    assert got.events()["job.built"][0].fields == {"a"}
    assert got.events()["queue.paused"][0].fields == {"worker"}  # the positional job id is not a field


def test_the_doc_format_is_the_contract() -> None:
    doc = textwrap.dedent(
        """
        ## Envelope

        ### `not.an.entry`

        ## Catalogue

        ### `job.ok`

        - **When:** always.
        - **Emitted by:** `wgp_host`
          (`Runner.run`)
        - **Schema:** 1

        | field | type | meaning |
        |---|---|---|
        | `model` | string | the model id |

        ### `job.bare`

        - **When:** sometimes.

        ### job.unquoted

        ### `job.badrow`

        - **When:** w
        - **Emitted by:** `wgp_host`
        - **Schema:** one

        | field | type | meaning |
        |---|---|---|
        | model | string | no backticks |

        ## After

        ### `not.an.entry.either`
        """
    )
    entries, problems = parse_catalogue(doc)
    assert sorted(entries) == ["job.badrow", "job.bare", "job.ok"]
    assert entries["job.ok"].fields == {"model": "string"} and entries["job.ok"].schema == 1
    assert not entries["job.ok"].problems
    assert entries["job.ok"].emitted_by == "`wgp_host` (`Runner.run`)"
    text = "\n".join(problems)
    assert "catalogue heading is not ### `event.name`" in text
    assert "`job.bare`: missing '- **Emitted by:** ...'" in text
    assert "`job.bare`: missing '- **Schema:** N'" in text
    assert "`job.bare`: no | field | type | meaning | table" in text
    assert "`job.badrow`: Schema must be an integer" in text
    assert "`job.badrow`: field row must be | `name` | type | meaning |" in text
