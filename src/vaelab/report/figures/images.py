"""Image grids: samples, reconstructions, traversals. Pure numpy + matplotlib, no pyplot."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from vaelab._atomic import atomic_write_bytes


def tile(images: np.ndarray, n_cols: int, pad: int = 1) -> np.ndarray:
    """Arrange ``(N, H, W)`` or ``(N, H, W, 3)`` images into one grid with white gaps.

    Examples
    --------
    >>> tile(np.ones((4, 2, 2)), n_cols=2, pad=0).shape
    (4, 4)
    >>> tile(np.ones((3, 2, 5, 3)), n_cols=2).shape
    (5, 11, 3)
    """
    n, h, w = images.shape[:3]
    rows = -(-n // n_cols)
    out = np.ones((rows * (h + pad) - pad, n_cols * (w + pad) - pad, *images.shape[3:]), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def as_images(x: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Flat samples ``(N, D)`` as greyscale ``(N, H, W)`` (first channel of (C, H, W))."""
    if len(sample_shape) != 3:
        raise ValueError(f"samples of shape {sample_shape} are not images (C, H, W)")
    return np.clip(x.reshape(-1, *sample_shape)[:, 0], 0.0, 1.0)


def display_images(x: np.ndarray, image_shape: Sequence[int], value_range: Sequence[float]) -> np.ndarray:
    """Flat samples ``(N, C·H·W)`` as pictures in [0, 1]: grey ``(N, H, W)``, or ``(N, H, W, 3)``.

    Values are scaled by ``value_range`` (the data's [min, max]); three or four channels
    are shown as RGB (a fourth is dropped), any other count by its first channel.

    Examples
    --------
    >>> display_images(np.full((2, 12), 5.0), (3, 2, 2), (0, 10)).shape
    (2, 2, 2, 3)
    >>> float(display_images(np.full((1, 4), 5.0), (1, 2, 2), (0, 10)).max())
    0.5
    """
    c, h, w = image_shape
    lo, hi = value_range
    x = np.clip((np.asarray(x, dtype=np.float32).reshape(-1, c, h, w) - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    return x[:, :3].transpose(0, 2, 3, 1) if c in (3, 4) else x[:, 0]


def image_grid_figure(
    images: np.ndarray, n_cols: int, title: str, row_labels: list[str] | None = None
) -> Figure:
    """A titled figure of an image grid: grey ``(N, H, W)`` black on white, or RGB ``(N, H, W, 3)``.

    Values are in [0, 1].
    """
    grid = tile(images if images.ndim == 4 else 1.0 - images, n_cols)
    fig = Figure(
        figsize=(
            max(3.0, n_cols * 0.45) + (1.8 if row_labels else 0.0),
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


# Diverging, colour-blind safe: Okabe-Ito vermillion below the mean, white at it, blue above.
FEATURE_CMAP = LinearSegmentedColormap.from_list("vaelab_diverging", ["#D55E00", "#FFFFFF", "#0072B2"])


def feature_rows_figure(z: np.ndarray, title: str) -> Figure:
    """Rows of a table as a heat map: one row per sample, one column per feature.

    ``z`` holds each feature in standard deviations from its training mean, so features
    in different units share one scale; it is drawn clipped to ±3.

    Examples
    --------
    >>> feature_rows_figure(np.zeros((4, 13)), "rows").axes[0].get_xlabel()
    'feature'
    """
    z = np.asarray(z)
    n, d = z.shape
    fig = Figure(figsize=(min(9.0, max(4.0, 0.25 * d + 1.5)), min(8.0, max(2.0, 0.25 * n + 1.0))))
    ax = fig.add_subplot()
    im = ax.imshow(z, cmap=FEATURE_CMAP, vmin=-3, vmax=3, aspect="auto", interpolation="nearest")
    ax.set_xlabel("feature")
    ax.set_ylabel("sample")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="standard deviations from the mean")
    fig.tight_layout()
    return fig
