"""The MatAnyone network: modules whose state dict is the official checkpoint's layout.

Written from the clean-room specification (``shared/notes/matanyone-spec.md``, § numbers
below); no upstream code was read.  ``MatAnyone`` holds the weights and the per-step
computations; :mod:`wgp_matanyone.inference` runs the per-frame controller and the
video protocol (``MatAnyone.matte``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from wgp_hookspecs import UserError

from .blocks import (
    CAResBlock,
    FusionBlock,
    MultiScaleSensoryUpdater,
    PixelEncoder,
    PositionalEncoding,
    SensoryUpdater,
    UpsampleBlock,
    area_down,
    basic_layer,
    conv,
)

PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLED_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl")
NUM_QUERIES = 16
NUM_HEADS = 8


# --------------------------------------------------------------------------- top-level parts


class KeyProjection(nn.Module):
    """Key, shrinkage and selection from f16 through its own 1024->256 projection (§5.4)."""

    def __init__(self) -> None:
        super().__init__()
        self.pix_feat_proj = conv(1024, 256, 1)
        self.key_proj = conv(256, 64, 3)
        self.d_proj = conv(256, 1, 3)
        self.e_proj = conv(256, 64, 3)

    def forward(self, f16: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.pix_feat_proj(f16)
        return self.key_proj(t), self.d_proj(t) ** 2 + 1, torch.sigmoid(self.e_proj(t))


class MaskEncoder(nn.Module):
    """ResNet-18 trunk on [image, mask], value fuser, deep sensory update (§6)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = conv(4, 64, 7, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = basic_layer(64, 64, 2, 1)
        self.layer2 = basic_layer(64, 128, 2, 2)
        self.layer3 = basic_layer(128, 256, 2, 2)
        self.fuser = FusionBlock(256, 256, 256)
        self.sensory_update = SensoryUpdater(256)

    def forward(self, image: torch.Tensor, pix: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        g = F.max_pool2d(self.bn1(self.conv1(torch.cat([image, alpha], dim=1))), 3, stride=2, padding=1)
        g = self.layer3(self.layer2(self.layer1(F.relu(g))))
        return self.fuser(pix, g)


class PixelFuser(nn.Module):
    """Readout + compressed [sensory, mask] fused with the pixel feature (§9)."""

    def __init__(self) -> None:
        super().__init__()
        self.fuser = FusionBlock(256, 256, 256)
        self.sensory_compress = conv(257, 256, 1)

    def forward(self, pix: torch.Tensor, readout: torch.Tensor, sensory: torch.Tensor, prev_alpha: torch.Tensor) -> torch.Tensor:
        a = area_down(prev_alpha, 16)
        return self.fuser(pix, readout + self.sensory_compress(torch.cat([sensory, a], dim=1)))


class DecoderFeatureProcessor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transforms = nn.ModuleList([conv(512, 256, 1), conv(256, 128, 1), conv(64, 128, 1), conv(3, 64, 1)])


class MaskDecoder(nn.Module):
    """Upsampling path with skips, the alpha head and the decoder sensory update (§11)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder_feat_proc = DecoderFeatureProcessor()
        self.up_16_8 = UpsampleBlock(256, 128)
        self.up_8_4 = UpsampleBlock(128, 128)
        self.up_4_2 = UpsampleBlock(128, 64)
        self.up_2_1 = UpsampleBlock(64, 16)
        self.pred_seg = conv(16, 1, 3)  # segmentation head: loaded, never run
        self.pred_mat = conv(16, 1, 3)
        self.sensory_update = MultiScaleSensoryUpdater((256, 128, 128, 64, 17), 256)

    def forward(
        self, feats: tuple[torch.Tensor, ...], m16: torch.Tensor, sensory: torch.Tensor, update_sensory: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _, f8, f4, f2, f1 = feats
        t = self.decoder_feat_proc.transforms
        p8 = self.up_16_8(m16, t[0](f8))
        p4 = self.up_8_4(p8, t[1](f4))
        p2 = self.up_4_2(p4, t[2](f2))
        p1 = self.up_2_1(p2, t[3](f1))
        logit = self.pred_mat(F.relu(p1))
        if update_sensory:
            sensory = self.sensory_update([m16, p8, p4, p2, torch.cat([p1, logit], dim=1)], sensory)
        return logit, sensory


class CrossAttention(nn.Module):
    """``read_from_pixel`` (with norm) and ``read_from_query`` (without)."""

    def __init__(self, norm: bool) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(256, NUM_HEADS, batch_first=True)
        self.norm = nn.LayerNorm(256) if norm else None


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(256, NUM_HEADS, batch_first=True)
        self.norm = nn.LayerNorm(256)


class FFN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(256, 2048)
        self.linear2 = nn.Linear(2048, 256)
        self.norm = nn.LayerNorm(256)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q + self.linear2(F.relu(self.linear1(self.norm(q))))


class PixelFFN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = CAResBlock(256)


class QueryTransformerBlock(nn.Module):
    """One block of the object transformer (§10.4)."""

    def __init__(self) -> None:
        super().__init__()
        self.read_from_pixel = CrossAttention(norm=True)
        self.self_attn = SelfAttention()
        self.ffn = FFN()
        self.read_from_query = CrossAttention(norm=False)
        self.pixel_ffn = PixelFFN()

    def forward(
        self, q: torch.Tensor, y: torch.Tensor, q_pe: torch.Tensor, p_pe: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = y.shape
        yf = y.flatten(2).transpose(1, 2)  # B x P x C
        assert self.read_from_pixel.norm is not None
        qn = self.read_from_pixel.norm(q)
        out = self.read_from_pixel.cross_attn(qn + q_pe, yf + p_pe, yf, attn_mask=mask, need_weights=False)[0]
        q = qn + out
        qn = self.self_attn.norm(q)
        q = qn + self.self_attn.self_attn(qn + q_pe, qn + q_pe, qn)[0]
        q = self.ffn(q)
        out = self.read_from_query.cross_attn(yf + p_pe, q + q_pe, q, need_weights=False)[0]
        yf = yf + out
        y = self.pixel_ffn.conv(yf.transpose(1, 2).reshape(b, c, h, w))
        return q, y


class ObjectTransformer(nn.Module):
    """16 object queries exchanging information with the pixel map over 3 blocks (§10)."""

    def __init__(self, num_blocks: int = 3) -> None:
        super().__init__()
        self.query_init = nn.Embedding(NUM_QUERIES, 256)
        self.query_emb = nn.Embedding(NUM_QUERIES, 256)
        self.summary_to_query_init = nn.Linear(256, 256)
        self.summary_to_query_emb = nn.Linear(256, 256)
        self.pixel_init_proj = conv(256, 256, 1)
        self.pixel_emb_proj = conv(256, 256, 1)
        self.spatial_pe = PositionalEncoding(256)
        self.blocks = nn.ModuleList([QueryTransformerBlock() for _ in range(num_blocks)])
        self.mask_pred = nn.ModuleList(
            [nn.Sequential(nn.ReLU(inplace=False), conv(256, 1, 1)) for _ in range(num_blocks + 1)]
        )

    def forward(self, x: torch.Tensor, summaries: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        values = summaries[..., :-1] / (summaries[..., -1:] + 1e-4)  # B x 16 x 256
        q = self.query_init.weight.unsqueeze(0) + self.summary_to_query_init(values)
        q_pe = self.query_emb.weight.unsqueeze(0) + self.summary_to_query_emb(values)
        y = self.pixel_init_proj(x)
        p_pe = self.spatial_pe(h, w).reshape(1, h * w, 256) + self.pixel_emb_proj(x).flatten(2).transpose(1, 2)
        mask = attention_mask(self.mask_pred[0](y))
        for i, block in enumerate(self.blocks):
            q, y = block(q, y, q_pe, p_pe, mask)
            if i + 1 < len(self.blocks):  # the last block's aux mask is unused
                mask = attention_mask(self.mask_pred[i + 1](y))
        return y


def attention_mask(logits: torch.Tensor) -> torch.Tensor:
    """Boolean (B*8) x 16 x P mask, True = blocked (§10.3)."""
    b = logits.shape[0]
    p = torch.sigmoid(logits.flatten(1))  # B x P
    fg = p.clamp(1e-7, 1 - 1e-7)
    bg = (1 - p).clamp(1e-7, 1 - 1e-7)
    logit_fg, logit_bg = torch.log(fg / (1 - fg)), torch.log(bg / (1 - bg))
    foreground = logit_fg >= torch.maximum(logit_bg, logit_fg)
    half = NUM_QUERIES // 2
    mask = torch.cat([(~foreground)[:, None].expand(-1, half, -1), foreground[:, None].expand(-1, half, -1)], dim=1)
    mask = mask & ~mask.all(dim=-1, keepdim=True)  # a fully blocked row is unblocked
    return mask.repeat_interleave(NUM_HEADS, dim=0)


class ObjectSummarizer(nn.Module):
    """16 weighted sums (8 foreground, 8 background) of the value map, each with its area (§6.4)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_enc = PositionalEncoding(256)
        self.input_proj = nn.Linear(256, 256)
        self.feature_pred = nn.Sequential(nn.Linear(256, 256), nn.ReLU(inplace=True), nn.Linear(256, 256))
        self.weights_pred = nn.Sequential(nn.Linear(256, 256), nn.ReLU(inplace=True), nn.Linear(256, NUM_QUERIES))

    def forward(self, alpha: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        h, w = value.shape[-2:]
        m = area_down(alpha, alpha.shape[-1] // w).flatten(1).unsqueeze(-1)  # B x P x 1
        half = NUM_QUERIES // 2
        masks = torch.cat([m.expand(-1, -1, half), (1 - m).expand(-1, -1, half)], dim=-1)  # B x P x 16
        tokens = value.flatten(2).transpose(1, 2)  # B x P x 256
        z = self.input_proj(tokens) + self.pos_enc(h, w).reshape(1, h * w, 256)
        features = self.feature_pred(z)
        weights = torch.sigmoid(self.weights_pred(z)) * masks
        sums = weights.transpose(1, 2) @ features  # B x 16 x 256
        areas = weights.sum(dim=1).unsqueeze(-1)  # B x 16 x 1
        return torch.cat([sums, areas], dim=-1)


class UncertaintyHead(nn.Module):
    """``temp_sparity``: where to trust the memory readout over the previous value (§8)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1x1_v2 = conv(769, 64, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv3x3 = conv(64, 32, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3x3_out = conv(32, 1, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1x1_v2(x)))
        x = F.relu(self.bn2(self.conv3x3(x)))
        return self.conv3x3_out(x)


class SensoryAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.projection = conv(256, 257, 1)


class AuxComputer(nn.Module):
    """Training-only head: present for a strict load, never run."""

    def __init__(self) -> None:
        super().__init__()
        self.sensory_aux = SensoryAux()


# --------------------------------------------------------------------------- the model


class MatAnyone(nn.Module):
    """MatAnyone v1 (single object, working memory only, fp32).

    ``MatAnyone.from_pretrained(path)`` loads the official layout strictly;
    ``model.matte(frames, mask)`` runs the video protocol and returns float alpha.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config = dict(config or {})
        self.pixel_encoder = PixelEncoder()
        self.pix_feat_proj = conv(1024, 256, 1)
        self.key_proj = KeyProjection()
        self.mask_encoder = MaskEncoder()
        self.mask_decoder = MaskDecoder()
        self.pixel_fuser = PixelFuser()
        self.object_transformer = ObjectTransformer()
        self.object_summarizer = ObjectSummarizer()
        self.aux_computer = AuxComputer()
        self.temp_sparity = UncertaintyHead()
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(3, 1, 1), persistent=False)
        self.eval()

    # ------------------------------------------------------------------ per-step computations

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """Padded [0,1] image (1x3xHxW) -> normalised network input (§5.1)."""
        return (image - self.pixel_mean) / self.pixel_std

    def encode_image(self, image: torch.Tensor) -> dict[str, Any]:
        """Multi-scale features, pixel feature, key, shrinkage and selection (§5)."""
        feats = self.pixel_encoder(image)
        key, shrinkage, selection = self.key_proj(feats[0])
        return {"feats": feats, "pix": self.pix_feat_proj(feats[0]), "key": key, "shrinkage": shrinkage, "selection": selection}

    def encode_value(
        self, image: torch.Tensor, pix: torch.Tensor, sensory: torch.Tensor, alpha: torch.Tensor, deep_update: bool, summarize: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(value, sensory, summary) of an image and its mask or alpha (§6)."""
        value = self.mask_encoder(image, pix, alpha)
        if deep_update:
            sensory = self.mask_encoder.sensory_update(value, sensory)
        summary = self.object_summarizer(alpha, value) if summarize else None
        return value, sensory, summary

    def uncertainty_blend(
        self, readout: torch.Tensor, prev_value: torch.Tensor, prev_pix: torch.Tensor, pix: torch.Tensor, prev_alpha: torch.Tensor
    ) -> torch.Tensor:
        """R * U + V_prev * (1 - U) with U from the uncertainty head (§8)."""
        x = torch.cat([prev_pix, pix, area_down(prev_alpha, 16), readout - prev_value], dim=1)
        u = torch.sigmoid(self.temp_sparity(x))
        return readout * u + prev_value * (1 - u)

    def predict(
        self, enc: dict[str, Any], readout: torch.Tensor, sensory: torch.Tensor, prev_alpha: torch.Tensor,
        summaries: torch.Tensor, update_sensory: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel fusion, object transformer and decoder: (raw logit, sensory) (§9-§11)."""
        fused = self.pixel_fuser(enc["pix"], readout, sensory, prev_alpha)
        m16 = self.object_transformer(fused, summaries)
        return self.mask_decoder(enc["feats"], m16, sensory, update_sensory)

    # ------------------------------------------------------------------ video

    def matte(
        self,
        frames: Iterable[Any],
        mask: Any,
        *,
        warmup: int = 10,
        erode: int = 10,
        dilate: int = 10,
        return_warmup: bool = False,
        on_frame: Callable[[int, int], None] | None = None,
        check: Callable[[], None] | None = None,
        total: int | None = None,
    ) -> Any:
        """Float32 alpha ``[T,H,W]`` in 0..1 for uint8 RGB ``frames`` and the frame-0 ``mask``.

        See :func:`wgp_matanyone.inference.matte` for the arguments.
        """
        from .inference import matte

        return matte(self, frames, mask, warmup=warmup, erode=erode, dilate=dilate, return_warmup=return_warmup,
                     on_frame=on_frame, check=check, total=total)

    # ------------------------------------------------------------------ weights

    def init_random(self, seed: int = 0) -> MatAnyone:
        """Deterministic "unit-gain" random weights for tests and ``wgp models tiny``.

        Weights ~ N(0, 1/fan_in), biases 0, embeddings N(0, 1), BatchNorm at identity, and
        the alpha head's bias at 0.5 so that the output holds exact 0s, exact 1s and soft
        values that follow the mask.  (PyTorch's default init shrinks every layer: its
        alpha hardly depends on the mask.)
        """
        import math

        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name.endswith(("query_init.weight", "query_emb.weight")):
                    param.copy_(torch.randn(param.shape, generator=generator))
                elif param.dim() > 1:
                    fan_in = param.shape[1] if name.endswith("in_proj_weight") else param[0].numel()
                    param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(fan_in))
                elif ".bn" in name or "downsample.1" in name:
                    param.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("weight"):  # LayerNorm
                    param.fill_(1.0)
                else:
                    param.zero_()
            self.mask_decoder.pred_mat.bias.fill_(0.5)
        return self

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> MatAnyone:
        """Load a folder (``model.safetensors`` + optional ``config.json``) or one ``.safetensors`` file, strictly."""
        weights, config = locate_weights(Path(path).expanduser())
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"cannot read MatAnyone weights {weights}: {exc}") from None
        model = cls(config)
        model.load_strict(state, str(weights))
        return model.to(device)

    def load_strict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """``load_state_dict(strict=True)`` with errors that name the offending tensors."""
        expected = self.state_dict()
        missing = [k for k in expected if k not in state]
        extra = [k for k in state if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {len(missing)} tensor(s): {_names(missing)}")
            if extra:
                parts.append(f"unexpected {len(extra)} tensor(s): {_names(extra)}")
            raise UserError(f"{source} is not a MatAnyone checkpoint: {'; '.join(parts)}")
        for key, tensor in expected.items():
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise UserError(f"{source}: tensor {key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}")
        self.load_state_dict(state, strict=True)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the official layout: ``model.safetensors`` and ``config.json``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
        config = {"cfg": self.config.get("cfg", {}), "single_object": True}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return folder


def _names(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def locate_weights(path: Path) -> tuple[Path, dict[str, Any]]:
    """The safetensors file and the parsed ``config.json`` (or ``{}``) of a weights location."""
    if path.is_dir():
        candidate = path / WEIGHTS_NAME
        if not candidate.is_file():
            found = sorted(path.glob("*.safetensors"))
            pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLED_SUFFIXES)
            if len(found) == 1:
                candidate = found[0]
            elif pickled and not found:
                raise UserError(f"{path} holds only pickled weights ({', '.join(pickled)}); wgp loads safetensors only: "
                                f"use the official model.safetensors")
            else:
                raise UserError(f"{path} has no {WEIGHTS_NAME}")
        config = _read_config(path / CONFIG_NAME)
        return candidate, config
    if not path.exists():
        raise UserError(f"MatAnyone weights not found: {path}")
    if path.suffix in PICKLED_SUFFIXES:
        raise UserError(f"{path.name} is a pickled checkpoint; wgp loads safetensors only (use the official model.safetensors)")
    if path.suffix != ".safetensors":
        raise UserError(f"{path.name} is not a .safetensors file or a folder holding {WEIGHTS_NAME}")
    return path, _read_config(path.with_name(CONFIG_NAME))


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} must hold a JSON object")
    if config.get("single_object", True) is not True:
        raise UserError(f"{path}: only single_object checkpoints are supported")
    return config
