"""Start-up time of the wgp CLI in fresh processes, against `python -c pass`.

Prints JSON: median and p90 wall milliseconds per command, and whether torch
was imported (it must not be).  Target: `wgp --help` at most 100 ms median with
every first-party plugin installed (plugin commands are listed from cached
entry-point metadata; no plugin module is imported).

    python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "wgp --help": ["wgp", "--help"],
    "wgp plugins --json": ["wgp", "plugins", "--json"],
    "wgp models --json": ["wgp", "models", "--json"],
}


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def imports_torch(env: dict[str, str]) -> bool:
    code = "import sys\nfrom wgp_host.cli import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    wgp = shutil.which("wgp", path=os.path.dirname(sys.executable)) or shutil.which("wgp")
    if wgp is None:
        sys.exit("wgp is not installed in this environment")
    env = dict(os.environ, WGP_HOME=tempfile.mkdtemp(prefix="wgp-bench-"))
    # An installed program runs from bytecode: let the warm-up runs write it, as pip's install does.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results = {}
    for name, argv in COMMANDS.items():
        argv = [wgp, *argv[1:]] if argv[0] == "wgp" else argv
        measure(argv, 2, env)  # warm the page cache
        times = sorted(measure(argv, args.runs, env))
        results[name] = {
            "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        }
    base = results["python -c pass"]["median_ms"]
    for name, row in results.items():
        row["over_python_ms"] = round(row["median_ms"] - base, 1)
    plugins = json.loads(subprocess.run([wgp, "plugins", "--json"], env=env, capture_output=True, text=True).stdout)
    print(json.dumps({
        "benchmark": "startup",
        "runs": args.runs,
        "plugins": sorted(p["distribution"] for p in plugins),
        "help_imports_torch": imports_torch(env),
        "target_help_median_ms": 100,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
