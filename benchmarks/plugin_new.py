"""A plugin author's first minute: ``wgp plugin new``, ``pip install -e``, ``pytest``, timed.

Runs the three commands of docs/plugin-authoring.md's tutorial for each kind, from an empty
folder, in a throwaway environment layered over this one (tests/author_env.py), so nothing
is installed into the environment you run it from.  By default pip builds as an author's pip
does, in an isolated environment (it downloads setuptools); ``--offline`` builds with the
installed setuptools, as the test suite does.  Prints JSON: seconds per command and in all.

    python benchmarks/plugin_new.py [--kind family --kind writer ...] [--offline]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from author_env import AuthorEnv  # noqa: E402

TORCH_FREE = ("family", "writer", "sink", "adapter", "queue-backend")


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except PackageNotFoundError:
        return False
    return True


def author_path(kind: str, offline: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="wgp-plugin-new-") as scratch:
        root = Path(scratch)
        env = AuthorEnv(root / "venv", root / "home")
        if not offline:
            for name in ("PIP_NO_INDEX", "PIP_NO_BUILD_ISOLATION"):
                env.env.pop(name)
            # pip may resolve the project's dependencies, but never to another torch.
            constraints = root / "constraints.txt"
            constraints.write_text("".join(f"{dist}=={version(dist)}\n" for dist in ("torch",) if _installed(dist)))
            env.env["PIP_CONSTRAINT"] = str(constraints)
        work = root / "work"
        work.mkdir()
        name = f"bench-{kind}"
        commands = [f"wgp plugin new {name} --kind {kind}", f"pip install -q -e './wgp-{name}[test]'", f"pytest -q wgp-{name}"]
        timings: dict[str, float] = {}
        for command in commands:
            t0 = time.perf_counter()
            proc = env.shell(command, cwd=work, timeout=900)
            timings[command] = round(time.perf_counter() - t0, 2)
            if proc.returncode:
                return {"kind": kind, "error": f"{command}: {proc.stdout[-3000:]}{proc.stderr[-1000:]}", "seconds": timings}
        return {"kind": kind, "seconds": timings, "total_s": round(sum(timings.values()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", action="append", help="template kind (repeatable; default: every torch-free kind)")
    parser.add_argument("--offline", action="store_true", help="build with the installed setuptools, no download")
    args = parser.parse_args()
    results = [author_path(kind, args.offline) for kind in args.kind or TORCH_FREE]
    print(json.dumps({"offline": args.offline, "results": results}, indent=2))


if __name__ == "__main__":
    main()
