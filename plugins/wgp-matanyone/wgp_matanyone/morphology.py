"""Mask preprocessing (§14.2): OpenCV-exact dilate and erode, re-implemented in numpy.

No OpenCV dependency: the elliptical structuring element, the anchor at the kernel
centre without reflection, and the border rule (outside samples are ignored) follow
OpenCV's ``getStructuringElement(MORPH_ELLIPSE, (n, n))``, ``cv2.dilate`` and
``cv2.erode``.  The kernel of an even size is off-centre, so dilate-then-erode moves
the mask by about a pixel near edges, as upstream's does.
"""

from __future__ import annotations

import numpy as np


def ellipse_kernel(n: int) -> np.ndarray:
    """OpenCV's ``MORPH_ELLIPSE`` element of size n x n as a bool array."""
    if n < 1:
        raise ValueError("kernel size must be at least 1")
    kernel = np.zeros((n, n), dtype=bool)
    r = c = n // 2
    if r == 0:  # OpenCV treats 1xN / Nx1 ellipses as rectangles
        kernel[:] = True
        return kernel
    inv_r2 = 1.0 / (r * r)
    for i in range(n):
        dy = i - r
        if abs(dy) <= r:
            dx = int(np.rint(c * np.sqrt((r * r - dy * dy) * inv_r2)))  # round half to even, like cvRound
            kernel[i, max(c - dx, 0) : min(c + dx + 1, n)] = True
    return kernel


def _morph(binary: np.ndarray, n: int, dilate: bool) -> np.ndarray:
    kernel = ellipse_kernel(n)
    anchor = n // 2
    h, w = binary.shape
    fill = 0.0 if dilate else 1.0  # outside samples never raise a dilation nor lower an erosion
    padded = np.pad(binary, ((anchor, n - 1 - anchor), (anchor, n - 1 - anchor)), constant_values=fill)
    out = np.full((h, w), fill, dtype=binary.dtype)
    combine = np.maximum if dilate else np.minimum
    for i, j in zip(*np.nonzero(kernel)):
        combine(out, padded[i : i + h, j : j + w], out=out)
    return out


def dilate_binary(binary: np.ndarray, n: int) -> np.ndarray:
    """``cv2.dilate(binary, ellipse(n, n))`` for a 0/1 float array."""
    return _morph(np.asarray(binary, np.float32), n, dilate=True)


def erode_binary(binary: np.ndarray, n: int) -> np.ndarray:
    """``cv2.erode(binary, ellipse(n, n))`` for a 0/1 float array."""
    return _morph(np.asarray(binary, np.float32), n, dilate=False)


def preprocess_mask(mask: np.ndarray, *, dilate: int = 10, erode: int = 10) -> np.ndarray:
    """The user's uint8 mask (0..255) -> float32 0/255 mask for the mask step.

    Dilate (binarised at != 0) first, then erode (binarised at == 255).  With both sizes 0
    the mask passes through unchanged, soft values included.
    """
    out = np.asarray(mask, dtype=np.float32)
    if dilate > 0:
        out = dilate_binary(out != 0, dilate) * 255
    if erode > 0:
        out = erode_binary(out == 255, erode) * 255
    return out.astype(np.float32)
