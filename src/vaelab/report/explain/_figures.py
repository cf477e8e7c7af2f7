"""Each section's figures: what the page draws, as HTML, as markdown, and as the page's data.

A figure is a small object with three renderings: ``html()`` (markup; interactive
widgets are canvases that the page's JavaScript fills), ``markdown()`` (lines and
PNG files) and ``data()`` (what the JavaScript reads from the page's JSON). The
functions at the bottom, one per section, say which figures a section shows; the
HTML and markdown writers only loop over them.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from matplotlib.figure import Figure as MplFigure

from vaelab.report.explain._schema import DataSummary, ExplainReport
from vaelab.report.figures.curse import plot_contrast
from vaelab.report.figures.images import image_grid_figure

Markdown = tuple[list[str], dict[str, bytes]]  # lines, and files by relative path


class Figure(Protocol):
    """What every section figure can do."""

    def html(self) -> str: ...

    def markdown(self) -> Markdown: ...

    def data(self) -> dict[str, Any]: ...


def b64_array(a: np.ndarray) -> dict:
    """An array as ``{"shape", "b64"}`` of little-endian float32 bytes, for the page's JS.

    Examples
    --------
    >>> b64_array(np.zeros((2, 3)))["shape"]
    [2, 3]
    """
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _png(fig: MplFigure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _canvas(cid: str, w: int, h: int, label: str, extra: str = "") -> str:
    return (
        f'<canvas id="{cid}" width="{w}" height="{h}" role="img" '
        f'aria-label="{html.escape(label)}" {extra}></canvas>'
    )


# ---------------------------------------------------------------- figure kinds


@dataclass
class Plot:
    """A matplotlib figure: an inline PNG on the page, ``figures/<name>.png`` in markdown."""

    name: str
    alt: str  # what the figure shows, for screen readers
    title: str  # short, for the markdown link
    draw: Callable[[], MplFigure]

    def html(self) -> str:
        png = base64.b64encode(_png(self.draw(), 90)).decode("ascii")
        return (
            f'<figure><img class="fig" alt="{html.escape(self.alt)}" '
            f'src="data:image/png;base64,{png}"></figure>'
        )

    def markdown(self) -> Markdown:
        path = f"figures/{self.name}.png"
        return [f"![{self.title}]({path})", ""], {path: _png(self.draw(), 120)}

    def data(self) -> dict[str, Any]:
        return {}


@dataclass
class ImageGrid:
    """Samples drawn as a grid of images: a canvas the page fills, a PNG in markdown."""

    key: str  # the page data's grids[key]; figures/<key>.png in markdown
    images: np.ndarray  # (n, D) on the data's scale
    look: DataSummary  # image shape and grey-scale range
    title: str
    caption: str
    cols: int = 8
    width: int = 360
    height: int = 92

    def html(self) -> str:
        return (
            f'<figure><canvas width="{self.width}" height="{self.height}" '
            f'data-grid="{self.key}" data-cols="{self.cols}" role="img" '
            f'aria-label="{html.escape(self.title)}"></canvas>'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )

    def markdown(self) -> Markdown:
        c, h, w = self.look.image_shape
        lo, hi = self.look.range
        x = np.asarray(self.images).reshape(-1, c, h, w)[:, 0]
        x = np.clip((x - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
        path = f"figures/{self.key}.png"
        png = _png(image_grid_figure(x, self.cols, self.title), 120)
        return [f"![{self.title}]({path})", ""], {path: png}

    def data(self) -> dict[str, Any]:
        return {"grids": {self.key: b64_array(self.images)}}


@dataclass
class Widget:
    """An interactive figure: markup the page's JavaScript drives, and the data it reads.

    Markdown has no interaction: it shows the ``fallback`` figures instead (none: nothing).
    """

    markup: str
    page_data: dict[str, Any] = field(default_factory=dict)
    fallback: Sequence[Figure] = ()

    def html(self) -> str:
        return self.markup

    def markdown(self) -> Markdown:
        return _join_markdown(self.fallback)

    def data(self) -> dict[str, Any]:
        return self.page_data


@dataclass
class Row:
    """Figures side by side."""

    items: Sequence[Figure]

    def html(self) -> str:
        return '<div class="row">' + "".join(f.html() for f in self.items) + "</div>"

    def markdown(self) -> Markdown:
        return _join_markdown(self.items)

    def data(self) -> dict[str, Any]:
        return merge_data(f.data() for f in self.items)


@dataclass
class Table:
    """A table of numbers: what an interactive figure shows, readable without it."""

    caption: str
    header: list[str]
    rows: list[list[str]]

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        return f"<table><caption>{html.escape(self.caption)}</caption><tr>{head}</tr>{body}</table>"

    def markdown(self) -> Markdown:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return [*lines, ""], {}

    def data(self) -> dict[str, Any]:
        return {}


def _join_markdown(figures: Sequence[Figure]) -> Markdown:
    lines: list[str] = []
    files: dict[str, bytes] = {}
    for f in figures:
        ls, fs = f.markdown()
        lines += ls
        files.update(fs)
    return lines, files


def merge_data(parts) -> dict[str, Any]:
    """Merge figures' page data; ``grids`` (and any other dict) merges one level deep."""
    out: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = {**out[k], **v}
            else:
                out[k] = v
    return out


# ---------------------------------------------------------------- one function per section


def curse_figures(r: ExplainReport) -> list[Figure]:
    """A dimension slider over pairwise-distance histograms; contrast against d."""
    h = r.curse.histograms
    slider = Widget(
        '<figure><label for="dim-slider">dimension d: </label>'
        '<input type="range" id="dim-slider" min="0" value="0" step="1" '
        'aria-describedby="dim-readout"><br>'
        + _canvas("dim-canvas", 460, 260, "histogram of pairwise distances")
        + '<figcaption id="dim-readout" class="readout" aria-live="polite"></figcaption>'
        "</figure>",
        {
            "curse_hist": {
                "dims": h.dims,
                "edges": h.edges,
                "counts": h.counts,
                "n_pairs": h.n_pairs,
                "relative_sd": h.relative_sd,
                "n_points": h.n_points,
            }
        },
    )
    contrast = Plot(
        "curse_contrast",
        "Relative contrast between farthest and nearest neighbour "
        "falls towards 0 as the dimension grows, for uniform random points.",
        "relative contrast against dimension",
        lambda: plot_contrast({"uniform": r.curse.concentration}),
    )
    return [Row([slider, contrast])]


def reduce_figures(r: ExplainReport) -> list[Figure]:
    """PCA's cumulative explained variance."""
    return [
        Widget(
            "<figure>"
            + _canvas(
                "pca-canvas",
                460,
                240,
                "Share of the data's variance kept by PCA against the number of components",
            )
            + "<figcaption>Share of variance kept by the first k PCA directions."
            "</figcaption></figure>",
            {"pca_cumulative": r.pca.cumulative_variance},
        )
    ]


def autoencoder_figures(r: ExplainReport) -> list[Figure]:
    """Some test samples: what the models reduce."""
    return [
        ImageGrid(
            "test_images",
            r.data.test_images,
            r.data,
            "Sixteen test samples from your data",
            "Some of your test samples.",
            height=100,
        )
    ]


def holes_figures(r: ExplainReport) -> list[Figure]:
    """The code-plane explorer (both decoders in JS) and decoded prior samples."""
    t = r.two_d
    codes = np.concatenate([t.ae.codes, t.vae.codes])  # (2 n_show, 2)
    lo = np.minimum(np.percentile(codes, 0.5, axis=0), -3.2)
    hi = np.maximum(np.percentile(codes, 99.5, axis=0), 3.2)
    panels = "".join(
        f'<div class="panel"><div>{title} code plane</div>'
        + _canvas(
            f"plane-{k}",
            300,
            300,
            f"{title} code plane: training codes coloured by "
            "label; move the pointer or use the arrow keys to choose a code",
            'class="plane" tabindex="0"',
        )
        + f"<div>{title} decodes it as</div>"
        + _canvas(f"decoded-{k}", 112, 112, f"{title} decoding of the chosen code")
        + "</div>"
        for k, title in (("ae", "Autoencoder"), ("vae", "VAE"))
    )
    explorer = Widget(
        f'<div class="row">{panels}</div><p><button id="sample-button" type="button">Sample '
        "from the prior</button> draws a code from N(0, I) and decodes it with both models.</p>"
        '<p id="explorer-readout" class="readout" aria-live="polite"></p>',
        {
            "codes": {"ae": b64_array(t.ae.codes), "vae": b64_array(t.vae.codes)},
            "code_labels": None if t.code_labels is None else t.code_labels.tolist(),
            "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])],
        },
    )
    samples = [
        ImageGrid(
            f"holes_{m.name}_prior",
            m.samplers["prior"].examples,
            r.data,
            f"{title}: random prior codes decoded",
            f"{title}: random codes decoded.",
        )
        for m, title in ((r.holes.by_name("AE"), "Autoencoder"), (r.holes.by_name("VAE"), "VAE"))
    ]
    return [explorer, Row(samples)]


def balance_figures(r: ExplainReport) -> list[Figure]:
    """A β slider over prior samples and the rate–distortion curve; the numbers as a table."""
    sw = r.sweep
    rows = [
        {"beta": p.beta, "rate": p.rate, "distortion": p.distortion, "active_units": p.active_units}
        for p in sw.points
    ]
    per_beta = [
        ImageGrid(f"sweep_{i}", p.samples, r.data, f"β = {p.beta:g}: prior samples", f"β = {p.beta:g}")
        for i, p in enumerate(sw.points)
    ]
    slider = Widget(
        '<div class="row"><figure><label for="beta-slider">β: </label>'
        '<input type="range" id="beta-slider" min="0" value="2" step="1" '
        'aria-describedby="beta-readout"><br>'
        + _canvas("beta-samples", 360, 100, "Prior samples of the VAE trained with the chosen β")
        + '<figcaption id="beta-readout" class="readout" aria-live="polite"></figcaption>'
        "</figure><figure>" + _canvas("rd-canvas", 380, 260, "rate–distortion curve") + "</figure></div>",
        {
            "sweep": {
                "rows": rows,
                "latent_dim": sw.model["latent_dim"],
                "samples": b64_array(np.stack([p.samples for p in sw.points])),
            }
        },
        fallback=per_beta,
    )
    table = Table(
        "The β sweep on the test data (nats per sample)",
        ["β", "rate (nats)", "distortion (nats)", "active units"],
        [[f"{p.beta:g}", f"{p.rate:.3g}", f"{p.distortion:.4g}", f"{p.active_units}"] for p in sw.points],
    )
    return [slider, table]


def generation_figures(r: ExplainReport) -> list[Figure]:
    """An interpolation slider (both decoders in JS) and the quantile grids."""
    t, g = r.two_d, r.generation
    interp = Widget(
        '<div class="row"><div class="panel">start'
        + _canvas("interp-a", 80, 80, "first test image")
        + '</div><div class="panel"><label for="interp-slider">interpolate</label><br>'
        '<input type="range" id="interp-slider" min="0" max="100" value="50" '
        'aria-describedby="interp-readout"></div><div class="panel">end'
        + _canvas("interp-b", 80, 80, "second test image")
        + "</div>"
        '<div class="panel">autoencoder'
        + _canvas("interp-ae", 80, 80, "autoencoder decoding along the path")
        + '</div><div class="panel">VAE'
        + _canvas("interp-vae", 80, 80, "VAE decoding along the path")
        + '</div></div><p id="interp-readout" class="readout" aria-live="polite"></p>',
        {
            "interp": {
                "images": b64_array(t.interp_images),
                "codes": {"ae": t.ae.interp_codes.tolist(), "vae": t.vae.interp_codes.tolist()},
            }
        },
    )
    n = g.grid_size
    grids = [
        ImageGrid(
            "quantile_grid",
            g.vae_grid,
            r.data,
            "VAE decoder on a grid of prior quantiles",
            "VAE: the learned manifold.",
            n,
            420,
            420,
        ),
        ImageGrid(
            "ae_grid",
            g.ae_grid,
            r.data,
            "Autoencoder decoder on the same grid",
            "Autoencoder, same codes.",
            n,
            420,
            420,
        ),
    ]
    return [interp, Row(grids)]


def no_figures(r: ExplainReport) -> list[Figure]:
    """Sections told in words and numbers only."""
    return []
