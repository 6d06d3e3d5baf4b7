"""Loading and running MiniMax-H3 with diffusers' ``MiniMaxH3ModularPipeline``.

The first module of this plugin that imports torch and diffusers; the host reaches it only
through ``load``.  Loading, stepping, cancelling, levers and unloading are
:class:`wgp_diffusers.ModularDiffusersModel`'s; :class:`MiniMaxH3Model` says which workflow
and transformer partition a model id runs, how a request becomes the pipeline's call
(:meth:`MiniMaxH3Model.pipeline_kwargs`, also used by the tests' direct calls) and how the
video and its soundtrack come back.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import GenerationResult, LoadPlan, ModelSpec

from wgp_diffusers import ModularDiffusersModel, audio_track, to_uint8_video
from wgp_diffusers.processors import allow_processor_without_torchvision, modular_processor


def processor_without_torchvision(pipe: Any) -> Any | None:
    """The conditioner's ``Qwen3VLProcessor`` built by hand where transformers cannot load it (no
    torchvision), else None: the saved tokenizer, the image processor's PIL backend and
    transformers' base video processor (:func:`wgp_diffusers.processors.modular_processor`).
    Text and image workflows run; a video input would need torchvision."""
    return modular_processor(pipe, "Qwen3VLProcessor")


class MiniMaxH3Model(ModularDiffusersModel):
    """A loaded MiniMax-H3; kept in the runner's cache between jobs."""

    #: ``fl2va``'s keyframes: the first frame is the pipeline's ``image``, the last ``last_image``.
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image", "image_end": "last_image"}
    #: The decode step's outputs: the frames, the stereo soundtrack and its sample rate.
    outputs: ClassVar[tuple[str, ...]] = ("videos", "audio", "sampling_rate")
    #: Guidance-distilled: one transformer pass per step, and diffusers' MiniMax-H3 loop names no
    #: cache context, so a step cache runs each step in this one.
    cache_context: ClassVar[str | None] = "cond"
    #: The release is bfloat16 (its float32 parts are pinned by the model classes themselves).
    safe_dtypes: ClassVar[tuple[str, ...]] = ("bf16", "fp32")
    #: The conditioner reads the whole prompt (no ``max_sequence_length`` cut to report).
    prompt_tokenizer: ClassVar[str | None] = None

    @staticmethod
    def modular_class(spec: ModelSpec) -> type:
        return diffusers.MiniMaxH3ModularPipeline

    @staticmethod
    def workflow(spec: ModelSpec) -> str | tuple[str, ...] | None:
        """``t2va`` and ``fl2va`` (the ``transformer`` partition) or ``ref2va`` (``transformer_ref``)."""
        return spec.options["workflows"]

    @classmethod
    def prepare_components(cls, pipe: Any, location: str) -> None:
        """Without torchvision, the processor transformers cannot load (see
        :func:`processor_without_torchvision`)."""
        processor = processor_without_torchvision(pipe)
        if processor is not None:
            pipe.update_components(processor=processor)

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The pipeline call for one request, minus the generator: prompt, size, frames, steps,
        ``output_type="np"``, and the keyframes (``image``, ``last_image``) or ``references``."""
        kwargs: dict[str, Any] = {
            "prompt": params["prompt"],
            "height": int(params["height"]),
            "width": int(params["width"]),
            "num_frames": int(params["frames"]),
            "num_inference_steps": int(params["steps"]),
            "output_type": "np",
        }
        kwargs.update(images or {})
        return kwargs

    def result(self, outputs: Mapping[str, Any], params: Mapping[str, Any]) -> GenerationResult:  # type: ignore[override]
        """The frames at 24 fps and the stereo soundtrack (``audio`` ``[1, 2, samples]``) as one track."""
        return GenerationResult(
            video=to_uint8_video(outputs["videos"]),
            fps=float(params["fps"]),
            audio=[audio_track(outputs["audio"], int(outputs["sampling_rate"]))],
        )


class MiniMaxH3RefModel(MiniMaxH3Model):
    """``ref2va``: reference images instead of keyframes, on the ``transformer_ref`` partition."""

    image_arguments: ClassVar[Mapping[str, str]] = {}
    denoisers: ClassVar[tuple[str, ...]] = ("transformer_ref",)

    def load_inputs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``references``: one ``MiniMaxH3ImageReference`` per image, in the order given (the order
        numbers them ``<Picture 1>``, ``<Picture 2>``, ... in the prompt's presentation)."""
        return {"references": reference_images(params.get("reference_images") or ())}


def reference_images(paths: Any) -> list[Any]:
    """The reference images as MiniMax-H3 image references, opened the way a diffusers user
    does (``load_image``: EXIF orientation applied, RGB); the pipeline resizes them itself."""
    from diffusers.modular_pipelines.minimax_h3 import MiniMaxH3ImageReference
    from diffusers.utils import load_image

    return [MiniMaxH3ImageReference(image=load_image(str(path))) for path in ([paths] if isinstance(paths, str) else paths)]


def model_class(spec: ModelSpec) -> type[MiniMaxH3Model]:
    """:class:`MiniMaxH3RefModel` for the ``transformer_ref`` partition, else :class:`MiniMaxH3Model`."""
    return MiniMaxH3RefModel if spec.options["denoiser"] == "transformer_ref" else MiniMaxH3Model


def load(spec: ModelSpec, plan: LoadPlan) -> MiniMaxH3Model:
    """``ModelFamily.load``: the model ``spec`` names, loaded as ``plan`` says."""
    allow_processor_without_torchvision()
    with quiet_weight_norm():
        return model_class(spec).load(spec, plan)


@contextlib.contextmanager
def quiet_weight_norm() -> Iterator[None]:
    """Drop torch's deprecation notice for ``weight_norm``, which diffusers' audio VAE uses: it
    would print on every load and is nothing a wgp user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*weight_norm.* is deprecated", category=FutureWarning)
        yield
