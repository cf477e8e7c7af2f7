"""Image grids: samples, reconstructions, traversals. Pure numpy + matplotlib, no pyplot."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vaelab._atomic import atomic_write_bytes


def tile(images: np.ndarray, n_cols: int, pad: int = 1) -> np.ndarray:
    """Arrange ``(N, H, W)`` images into one ``(rows·(H+pad), n_cols·(W+pad))`` array.

    Examples
    --------
    >>> tile(np.ones((4, 2, 2)), n_cols=2, pad=0).shape
    (4, 4)
    """
    n, h, w = images.shape
    rows = -(-n // n_cols)
    out = np.ones((rows * (h + pad) - pad, n_cols * (w + pad) - pad), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def as_images(x: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Flat samples ``(N, D)`` as greyscale ``(N, H, W)`` (first channel of (C, H, W))."""
    if len(sample_shape) != 3:
        raise ValueError(f"samples of shape {sample_shape} are not images (C, H, W)")
    return np.clip(x.reshape(-1, *sample_shape)[:, 0], 0.0, 1.0)


def image_grid_figure(
    images: np.ndarray, n_cols: int, title: str, row_labels: list[str] | None = None
) -> Figure:
    """A titled figure of an image grid (values in [0, 1], black on white)."""
    grid = tile(1.0 - images, n_cols)
    fig = Figure(
        figsize=(
            max(3.0, n_cols * 0.45),
            max(2.0, grid.shape[0] / grid.shape[1] * n_cols * 0.45 + 0.6),
        )
    )
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    if row_labels:
        h = images.shape[1] + 1
        ax.set_yticks([h * i + h / 2 - 1 for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """Save a figure (PNG or SVG by suffix) atomically, creating the parent directory."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix[1:].lower() or None, dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    return path
