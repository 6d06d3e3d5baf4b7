"""What a family's ``specs.py`` is built from, where families declare it the same way: its specs
by id (:class:`ModelCatalog`), the output size (:func:`size_params`) and the batch size
(:data:`BATCH_SIZE_PARAM`).

Cheap to import (no torch): registration code uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

from wgp_hookspecs import ModelSpec, Param

#: Images made per request (image families).
BATCH_SIZE_PARAM = Param("batch_size", "int", default=1, minimum=1, maximum=16, help="number of images")


def size_params(width: int, height: int, multiple: int = 16, what: str = "image") -> tuple[Param, Param]:
    """``width`` and ``height`` with these defaults, multiples of ``multiple`` (at least one
    multiple); ``what`` is ``"image"`` or ``"frame"`` (the help says "image width in pixels")."""
    return (
        Param("width", "int", default=width, minimum=multiple, multiple_of=multiple, help=f"{what} width in pixels"),
        Param("height", "int", default=height, minimum=multiple, multiple_of=multiple, help=f"{what} height in pixels"),
    )


class ModelCatalog(dict[str, ModelSpec]):
    """The specs of one family by id, in the order given; looking up an unknown id raises a
    ``KeyError`` that names the family and every known id (what ``get_spec`` promises)."""

    def __init__(self, family: str, specs: Iterable[ModelSpec]) -> None:
        super().__init__((spec.id, spec) for spec in specs)
        self.family = family

    @property
    def ids(self) -> tuple[str, ...]:
        """The known ids, in order."""
        return tuple(self)

    def __missing__(self, model_id: str) -> ModelSpec:
        raise KeyError(f"unknown {self.family} model {model_id!r}; known: {', '.join(self)}")


__all__ = ["BATCH_SIZE_PARAM", "ModelCatalog", "size_params"]
