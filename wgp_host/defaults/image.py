"""Default image writer: PNG through Pillow, the record in a text chunk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wgp_hookspecs import GenerationResult, OutputContext, Writer, hookimpl

PNG_KEY = "wgp"


class ImageWriter(Writer):
    name = "image"
    kinds = frozenset({"image"})
    description = "PNG images (RGB or RGBA); the generation record in a 'wgp' text chunk"
    order = 20

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        many = len(result.images) > 1
        record = json.dumps(output.record, sort_keys=True) if output.metadata_mode == "embedded" else None
        for index, image in enumerate(result.images):
            meta = {"width": int(image.shape[1]), "height": int(image.shape[0]), "index": index}
            output.persist(
                "image",
                ".png",
                "image/png",
                lambda tmp, img=image: write_png(tmp, img, record),
                meta,
                tag=f"{index:02d}" if many else None,
            )


def write_png(path: Path, image: Any, record: str | None) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = None
    if record is not None:
        info = PngInfo()
        info.add_itxt(PNG_KEY, record)
    Image.fromarray(image).save(path, format="PNG", pnginfo=info)


@hookimpl
def register_writers(register: Any) -> None:
    register(ImageWriter())
