"""The ``{{ cookiecutter.plugin_name }}`` writer: a checksum file of the job's outputs.

A writer never opens an output path: it hands ``output.persist`` a function that fills a
temporary file, and the host names it, moves it into place atomically, hashes it, records
the artifact and emits its ``artifact`` event (and deletes it again if the job fails).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from wgp_hookspecs import GenerationResult, OutputContext, Writer, hookimpl


class {{ cookiecutter.class_name }}Writer(Writer):
    name = "{{ cookiecutter.plugin_name }}"
    #: ``artifacts`` writers take every result and run after the media writers.
    kinds = frozenset({"artifacts"})
    description = "sha256sum file of the job's outputs"
    order = 200

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        files = [Path(artifact.path) for artifact in output.artifacts]
        if not files:
            return  # nothing to check; the host reports a job that wrote nothing
        lines = "".join(f"{_sha256(file)}  {file.name}\n" for file in files)

        def fill(tmp: Path) -> None:
            tmp.write_text(lines, encoding="utf-8")

        output.persist("checksums", ".sha256", "text/plain", fill, metadata={"files": len(files)})


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@hookimpl
def register_writers(register: Callable[[Any], None]) -> None:
    register({{ cookiecutter.class_name }}Writer())
