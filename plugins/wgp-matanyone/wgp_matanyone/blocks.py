"""Building blocks of the MatAnyone network, written from the clean-room specification.

Section numbers (§) refer to ``shared/notes/matanyone-spec.md``.  Attribute names are
fixed by the official checkpoint's keys; everything else is ours.  The object axis of
the specification has length 1 (single object) and is dropped: "group" convolutions
are plain convolutions on ``1 x C x h x w`` tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- helpers


def conv(cin: int, cout: int, k: int, *, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """k x k convolution with zero padding (k-1)/2."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=bias)


def area_down(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Exact block mean (PyTorch's ``interpolate(mode='area')`` for integer factors)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


# --------------------------------------------------------------------------- ResNet trunks (§3.1, §3.3)


class Bottleneck(nn.Module):
    """torchvision "v1.5" bottleneck: the stride sits on the 3x3 conv."""

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: bool = False) -> None:
        super().__init__()
        self.conv1 = conv(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride=stride, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = (
            nn.Sequential(conv(cin, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
            if downsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class BasicBlock(nn.Module):
    """ResNet-18 basic block."""

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv(cin, planes, 3, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = (
            nn.Sequential(conv(cin, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
            if stride != 1 or cin != planes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


def bottleneck_layer(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [Bottleneck(cin, planes, stride, downsample=True)]
    layers += [Bottleneck(planes * 4, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def basic_layer(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, planes, stride), *[BasicBlock(planes, planes) for _ in range(blocks - 1)])


class PixelEncoder(nn.Module):
    """ResNet-50 stem, ``res2`` (layer1), layer2, layer3 (§5.2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = conv(3, 64, 7, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.res2 = bottleneck_layer(64, 64, 3, 1)
        self.layer2 = bottleneck_layer(256, 128, 4, 2)
        self.layer3 = bottleneck_layer(512, 256, 6, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f2 = F.relu(self.bn1(self.conv1(x)))  # before the max-pool
        f4 = self.res2(F.max_pool2d(f2, 3, stride=2, padding=1))
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4, f2, x


# --------------------------------------------------------------------------- shared blocks (§4)


class CAResBlock(nn.Module):
    """Residual block with ECA channel attention (§4.1)."""

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        self.conv1 = conv(dim, dim, 3)
        self.conv2 = conv(dim, dim, 3)
        self.conv = nn.Conv1d(1, 1, 5, padding=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(F.relu(x))))
        m = y.mean(dim=(2, 3))  # N x C
        a = torch.sigmoid(self.conv(m.unsqueeze(1))).squeeze(1)
        return y * a[:, :, None, None] + x


class GroupResBlock(nn.Module):
    """Pre-activation residual block of the decoder (§4.2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = conv(cin, cout, 3)
        self.conv2 = conv(cout, cout, 3)
        self.downsample = conv(cin, cout, 1) if cin != cout else None

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))


class UpsampleBlock(nn.Module):
    """x2 bilinear upsampling, add the projected skip, residual block (§4.2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.out_conv = GroupResBlock(cin, cout)

    def forward(self, g: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(g, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.out_conv(up + skip)


class Distributor(nn.Module):
    def __init__(self, x_dim: int, g_dim: int, out_dim: int) -> None:
        super().__init__()
        self.x_transform = conv(x_dim, out_dim, 1)
        self.g_transform = conv(g_dim, out_dim, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.x_transform(x) + self.g_transform(g)


class FusionBlock(nn.Module):
    """Pixel feature + group feature -> two channel-attention blocks (§4.3)."""

    def __init__(self, x_dim: int = 256, g_dim: int = 256, out_dim: int = 256) -> None:
        super().__init__()
        self.distributor = Distributor(x_dim, g_dim, out_dim)
        self.block1 = CAResBlock(out_dim)
        self.block2 = CAResBlock(out_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(self.distributor(x, g)))


def gated_update(transform: nn.Conv2d, g: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """GRU-like sensory update (§4.4): input order [G, S]; S' = f*S*(1-u) + u*c."""
    t = transform(torch.cat([g, s], dim=1))
    dim = s.shape[1]
    forget = torch.sigmoid(t[:, :dim])
    update = torch.sigmoid(t[:, dim : 2 * dim])
    value = torch.tanh(t[:, 2 * dim :])
    return forget * s * (1 - update) + update * value


class SensoryUpdater(nn.Module):
    """Deep sensory update of the mask encoder (§6.3)."""

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        self.transform = conv(2 * dim, 3 * dim, 3)

    def forward(self, g: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return gated_update(self.transform, g, s)


class MultiScaleSensoryUpdater(nn.Module):
    """Decoder sensory update from every decoder level (§11.3)."""

    def __init__(self, dims: tuple[int, ...] = (256, 128, 128, 64, 17), dim: int = 256) -> None:
        super().__init__()
        self.g16_conv = conv(dims[0], dim, 1)
        self.g8_conv = conv(dims[1], dim, 1)
        self.g4_conv = conv(dims[2], dim, 1)
        self.g2_conv = conv(dims[3], dim, 1)
        self.g1_conv = conv(dims[4], dim, 1)
        self.transform = conv(2 * dim, 3 * dim, 3)

    def forward(self, levels: list[torch.Tensor], s: torch.Tensor) -> torch.Tensor:
        p16, p8, p4, p2, p1 = levels
        g = self.g16_conv(p16) + self.g8_conv(area_down(p8, 2)) + self.g4_conv(area_down(p4, 4))
        g = g + self.g2_conv(area_down(p2, 8)) + self.g1_conv(area_down(p1, 16))
        return gated_update(self.transform, g, s)


class PositionalEncoding(nn.Module):
    """2-D sinusoidal encoding, x channels first, sin/cos interleaved (§4.5)."""

    def __init__(self, dim: int = 256, scale: float = 32.0, temperature: float = 128.0) -> None:
        super().__init__()
        self.channels = dim // 2  # per axis
        self.scale = scale
        exponents = torch.arange(0, self.channels, 2, dtype=torch.float32) / self.channels
        self.register_buffer("inv_freq", 1.0 / torch.pow(torch.tensor(temperature, dtype=torch.float32), exponents))
        self._cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def _axis(self, n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=torch.float32, device=self.inv_freq.device)
        pos = pos / (pos[-1] + 1e-6) * self.scale
        angles = pos[:, None] * self.inv_freq[None, :]
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # n x channels

    def forward(self, h: int, w: int) -> torch.Tensor:
        """The encoding of an h x w grid, channel-last: h x w x dim."""
        key = (h, w, str(self.inv_freq.device))
        cached = self._cache.get(key)
        if cached is None or cached.device != self.inv_freq.device:
            ex, ey = self._axis(w), self._axis(h)
            cached = torch.cat([ex[None, :, :].expand(h, w, -1), ey[:, None, :].expand(h, w, -1)], dim=-1)
            self._cache = {key: cached}  # one grid size per video
        return cached

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._cache = {}
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._cache = {}
        return super()._load_from_state_dict(*args, **kwargs)
