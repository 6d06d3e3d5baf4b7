"""``wgp plugin new``: a plugin project rendered from one of the cookiecutter templates.

The templates are the repository's top-level ``templates/`` folder (installed as
``wgp_host/templates`` in a wheel), one folder per kind, each a plain cookiecutter
template: ``cookiecutter templates/family`` renders the same project.  Every other
name in a rendered project (distribution, package, entry point, model id, class
names) is derived from the one name the author gives, by the template's
``cookiecutter.json``; this module checks that name, once, before anything is
written.  cookiecutter is imported here only, when a project is rendered.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from wgp_hookspecs import UserError

#: Lowercase words of letters and digits joined by single hyphens, starting with a letter:
#: a valid distribution name, entry-point name and (hyphens as underscores) package name.
NAME_RULE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

#: What a rendered plugin of each kind registers under its name (the registry's kinds of item).
_REGISTERS = {
    "family": ("family", "model"),
    "diffusers-family": ("family", "model"),
    "writer": ("writer",),
    "sink": ("sink",),
    "adapter": ("adapter",),
    "queue-backend": ("queue backend",),
}


def template_root() -> Path:
    """The folder that holds one template per kind: in a wheel ``wgp_host/templates``, in a
    checkout (or an editable install) the repository's ``templates/``."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "family" / "cookiecutter.json").is_file():
            return candidate
    raise UserError(f"the plugin templates are missing (looked in {package / 'templates'} and "
                    f"{package.parent / 'templates'}); reinstall wgp-host")


def kinds() -> tuple[str, ...]:
    """The template kinds, one per folder with a ``cookiecutter.json``."""
    try:
        root = template_root()
    except UserError:
        return ()
    return tuple(sorted(p.parent.name for p in root.glob("*/cookiecutter.json")))


def plugin_name(name: str) -> str:
    """``name`` as the plugin's base name (``my-family``; a leading ``wgp-`` is dropped, since the
    distribution is ``wgp-NAME``), or a one-line :class:`UserError` saying what a name may be."""
    text = name.strip()
    base = text[4:] if text.startswith("wgp-") else text
    if not NAME_RULE.fullmatch(base):
        raise UserError(f"plugin name {name!r}: use lowercase letters, digits and single hyphens, "
                        f"starting with a letter (e.g. my-family)")
    return base


def check_free(name: str, kind: str) -> None:
    """Refuse a name that an installed distribution or a loaded plugin already uses: the new
    plugin would be isolated as a duplicate the first time it is loaded."""
    from importlib.metadata import PackageNotFoundError, distribution

    project = f"wgp-{name}"
    try:
        distribution(project)
    except PackageNotFoundError:
        pass
    else:
        raise UserError(f"plugin name {name!r}: a distribution {project} is already installed; choose another name")
    from .plugins import get_host

    owners = get_host().registry.owner
    for item in _REGISTERS.get(kind, ()):
        if (item, name) in owners:
            raise UserError(f"plugin name {name!r}: {owners[(item, name)]} already registers a {item} of that name; "
                            "choose another name")
    if kind == "adapter":
        _check_flag_free(name)


def _check_flag_free(name: str) -> None:
    """The adapter template's option is ``--NAME``: it must not be a flag ``wgp run`` has."""
    import click

    from .cli.run import run

    flags = {o for p in run.get_params(click.Context(run)) for o in [*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ())]}
    if f"--{name}" in flags:
        raise UserError(f"plugin name {name!r}: the adapter's option would be --{name}, which wgp run already has; "
                        "choose another name")


def render(name: str, kind: str, directory: str | Path = ".") -> Path:
    """Render the ``kind`` template for plugin ``name`` into ``directory``; returns the project folder."""
    known = kinds()
    if kind not in known:
        raise UserError(f"unknown plugin kind {kind!r}; kinds: {', '.join(known) or 'none (templates missing)'}")
    name = plugin_name(name)
    target = Path(directory).expanduser().resolve()
    project = target / f"wgp-{name}"
    if project.exists():
        raise UserError(f"{project} already exists; choose another --dir or name")
    if target.exists() and not target.is_dir():
        raise UserError(f"--dir {directory}: is a file")
    check_free(name, kind)
    try:
        from cookiecutter.exceptions import CookiecutterException
        from cookiecutter.main import cookiecutter
    except ImportError:
        raise UserError("wgp plugin new needs cookiecutter: pip install 'wgp-host[dev]'") from None
    target.mkdir(parents=True, exist_ok=True)
    # No replay file in the user's home, and the user's cookiecutter config does not change
    # what wgp renders: the same name gives the same project everywhere.
    with tempfile.TemporaryDirectory(prefix="wgp-cookiecutter-") as scratch:
        try:
            out = cookiecutter(
                str(template_root() / kind),
                no_input=True,
                extra_context={"plugin_name": name},
                output_dir=str(target),
                default_config={"replay_dir": scratch, "cookiecutters_dir": scratch},  # type: ignore[arg-type]
                accept_hooks=False,
            )
        except CookiecutterException as exc:
            raise UserError(f"rendering the {kind} template failed: {exc}") from None
    return Path(out)


__all__ = ["NAME_RULE", "check_free", "kinds", "plugin_name", "render", "template_root"]
