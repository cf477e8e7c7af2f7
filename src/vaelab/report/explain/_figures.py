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
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
from matplotlib.figure import Figure as MplFigure

from vaelab.report.explain._format import _g
from vaelab.report.explain._schema import DataSummary, ExplainReport
from vaelab.report.figures.curse import plot_contrast
from vaelab.report.figures.images import display_images, feature_rows_figure, image_grid_figure

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


def is_table(look: DataSummary) -> bool:
    """Whether samples are rows of features (no image shape): drawn as bars, not pixels."""
    return len(look.sample_shape) == 1


def feature_scale(look: DataSummary) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation that a table's rows are drawn against.

    The training set's, once `DataSummary` carries them (``feature_mean``,
    ``feature_std``); until then, those of the page's test samples.
    """
    mean, std = getattr(look, "feature_mean", None), getattr(look, "feature_std", None)
    if mean is None or std is None:
        x = np.asarray(look.test_images, dtype=np.float64)
        mean, std = x.mean(0), x.std(0)
    std = np.asarray(std, dtype=np.float64)
    return np.asarray(mean, dtype=np.float64), np.where(std > 0, std, 1.0)


def look_data(look: DataSummary) -> dict[str, Any]:
    """How the page's JavaScript draws one sample: pixels, or a table row's features."""
    if not is_table(look):
        return {"look": {"table": False}}
    mean, std = feature_scale(look)
    return {"look": {"table": True, "mean": mean.tolist(), "scale": std.tolist()}}


TABLE_NOTE = (
    "Each tile is one row of your table: one bar per feature (a coloured cell when there are "
    "more than 48), in standard deviations from that feature's mean, blue above it and orange "
    "below, clipped at ±3. Features in different units need a common scale before they can "
    "be drawn side by side, and a row has no picture of its own."
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

    def canvas(self) -> str:
        # a strip of table rows gets more room: bars need two pixels each to read
        grow = 1.5 if is_table(self.look) and self.cols <= 8 else 1.0
        return (
            f'<canvas width="{round(self.width * grow)}" height="{round(self.height * grow)}" '
            f'data-grid="{self.key}" data-cols="{self.cols}" role="img" '
            f'aria-label="{html.escape(self.title)}"></canvas>'
        )

    def html(self) -> str:
        return f"<figure>{self.canvas()}<figcaption>{html.escape(self.caption)}</figcaption></figure>"

    def markdown(self) -> Markdown:
        path = f"figures/{self.key}.png"
        if is_table(self.look):
            mean, std = feature_scale(self.look)
            fig = feature_rows_figure((np.asarray(self.images) - mean) / std, self.title)
        else:
            x = display_images(self.images, self.look.image_shape, self.look.range)
            fig = image_grid_figure(x, self.cols, self.title)
        return [f"![{self.title}]({path})", ""], {path: _png(fig, 120)}

    def data(self) -> dict[str, Any]:
        return {"grids": {self.key: b64_array(self.images)}, **look_data(self.look)}


@dataclass
class LabelledRows:
    """Strips of samples one above the other, each named on its left (inputs, reconstructions)."""

    key: str  # figures/<key>.png in markdown
    rows: Sequence[tuple[str, ImageGrid]]
    title: str
    caption: str

    def html(self) -> str:
        cells = "".join(
            f'<div class="label">{html.escape(label)}</div>{grid.canvas()}' for label, grid in self.rows
        )
        return (
            f'<figure><div class="recon">{cells}</div>'
            f"<figcaption>{html.escape(self.caption)}</figcaption></figure>"
        )

    def markdown(self) -> Markdown:
        look = self.rows[0][1].look
        x = np.concatenate([np.asarray(g.images) for _, g in self.rows])
        labels = [label for label, _ in self.rows]
        if is_table(look):
            mean, std = feature_scale(look)
            fig = feature_rows_figure((x - mean) / std, f"{self.title} (rows: {', '.join(labels)})")
        else:
            n = len(self.rows[0][1].images)
            fig = image_grid_figure(display_images(x, look.image_shape, look.range), n, self.title, labels)
        path = f"figures/{self.key}.png"
        return [f"![{self.title}]({path})", ""], {path: _png(fig, 120)}

    def data(self) -> dict[str, Any]:
        return merge_data(g.data() for _, g in self.rows)


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
    """PCA's cumulative explained variance, marked at the k the text quotes."""
    p = r.pca
    total = p.total_squared_distance or 1.0
    test_kept = {k: 1.0 - e / total for k, e in p.squared_error.items()}
    k90 = (
        f" The dashed lines mark k = {p.k_for_90}, the fewest directions that keep 90% of the "
        "training data's variance."
        if p.k_for_90 is not None
        else ""
    )
    return [
        Widget(
            "<figure>"
            + _canvas(
                "pca-canvas",
                480,
                260,
                "Share of the data's variance kept by PCA against the number of components",
            )
            + "<figcaption>Share of variance kept by the first k PCA directions: the line on the "
            "training data, the dots on test data (1 − squared error of the reconstruction / "
            f"squared error of the mean sample) at k = {', '.join(test_kept)}.{k90}</figcaption>"
            "</figure>",
            {"pca": {"cumulative": p.cumulative_variance, "k90": p.k_for_90, "test_kept": test_kept}},
        )
    ]


def autoencoder_figures(r: ExplainReport) -> list[Figure]:
    """Test samples beside their reconstructions from 2 numbers: AE, VAE and PCA."""
    t, n = r.two_d, len(r.pca.reconstruction_2d)
    rows: list[tuple[str, np.ndarray]] = [("test input", r.data.test_images[:n])]  # (n, D) each
    for label, m in (("autoencoder (2-D code)", t.ae), ("VAE (2-D code)", t.vae)):
        rec = getattr(m, "reconstructions", None)  # (n, D), when the pipeline provides it
        if rec is not None:
            rows.append((label, rec[:n]))
    rows.append(("PCA (2 components)", r.pca.reconstruction_2d))
    pca2 = r.pca.squared_error.get("2")
    err = (
        f"Squared error per sample (summed over its values), averaged over the test set: "
        f"autoencoder {_g(t.ae.squared_error)}, VAE "
        f"{_g(t.vae.squared_error)}" + (f", PCA {_g(pca2)}." if pca2 is not None else ".")
    )
    caption = f"The first {n} test samples and what each method rebuilds from a 2-number code. {err}"
    if is_table(r.data):
        caption += " " + TABLE_NOTE
    grids = [
        (label, ImageGrid(f"recon_{i}", x, r.data, label, label, cols=n, width=n * 84, height=70))
        for i, (label, x) in enumerate(rows)
    ]
    return [LabelledRows("test_images", grids, "Inputs and reconstructions", caption)]


def _plane_extent(codes: np.ndarray) -> list[float]:
    """A square frame around every code and the prior's 3-sd disc, 5% spare: [x0, x1, y0, y1]."""
    lo = np.minimum(codes.min(0), -3.0)
    hi = np.maximum(codes.max(0), 3.0)
    mid, half = (lo + hi) / 2, 1.05 * float((hi - lo).max()) / 2
    return [float(mid[0] - half), float(mid[0] + half), float(mid[1] - half), float(mid[1] + half)]


def holes_figures(r: ExplainReport) -> list[Figure]:
    """The code-plane explorer (both decoders in JS) and decoded prior samples."""
    t = r.two_d
    panels = "".join(
        f'<div class="panel"><div>{title} code plane</div>'
        + _canvas(
            f"plane-{k}",
            320,
            320,
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
        f'<figure><div class="row">{panels}</div>'
        f'<figcaption id="plane-legend" class="legend">The codes of {len(t.ae.codes)} training '
        "samples in each model's 2-D code space, on each plane's own scale.</figcaption></figure>"
        '<p><button id="sample-button" type="button">Sample '
        "from the prior</button> draws a code from N(0, I) and decodes it with both models.</p>"
        '<p id="explorer-readout" class="readout" aria-live="polite"></p>',
        {
            "codes": {"ae": b64_array(t.ae.codes), "vae": b64_array(t.vae.codes)},
            "code_labels": None if t.code_labels is None else t.code_labels.tolist(),
            "class_names": r.data.class_names,
            "extent": {"ae": _plane_extent(t.ae.codes), "vae": _plane_extent(t.vae.codes)},
            **look_data(r.data),
        },
    )
    samples = [
        ImageGrid(
            f"holes_{m.name}_prior",
            m.samplers["prior"].examples,
            r.data,
            f"{title}: random prior codes decoded",
            f"{title}: {len(m.samplers['prior'].examples)} codes drawn from the prior N(0, I), decoded.",
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
    n = len(sw.points[0].samples)
    grow = 1.5 if is_table(r.data) else 1.0  # as ImageGrid: table rows need more room
    slider = Widget(
        '<div class="row"><figure><label for="beta-slider">β: </label>'
        '<input type="range" id="beta-slider" min="0" value="2" step="1" '
        'aria-describedby="beta-readout"><br>'
        + _canvas(
            "beta-samples",
            round(360 * grow),
            round(100 * grow),
            "Prior samples of the VAE trained with the chosen β",
        )
        + f"<figcaption>{n} codes drawn from the prior N(0, I), decoded by the VAE trained with "
        "the chosen β (the same codes for every β). "
        '<span id="beta-readout" class="readout" aria-live="polite"></span></figcaption>'
        "</figure><figure>"
        + _canvas("rd-canvas", 400, 270, "rate–distortion curve")
        + "<figcaption>Each dot is one VAE of the sweep, ticked at its measured rate and "
        "distortion (the table's numbers); the larger dot is the chosen β.</figcaption>"
        "</figure></div>",
        {
            "sweep": {
                "rows": rows,
                "latent_dim": sw.model["latent_dim"],
                "samples": b64_array(np.stack([p.samples for p in sw.points])),
            },
            **look_data(r.data),
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
        '<figure><div class="row"><div class="panel">start'
        + _canvas("interp-a", 80, 80, "the start: a test sample")
        + '</div><div class="panel"><label for="interp-slider">t: from start (0) to end (1)</label>'
        '<input type="range" id="interp-slider" min="0" max="100" value="50" '
        'aria-describedby="interp-readout"></div><div class="panel">end'
        + _canvas("interp-b", 80, 80, "the end: another test sample")
        + "</div>"
        '<div class="panel">autoencoder'
        + _canvas("interp-ae", 80, 80, "autoencoder decoding along the path")
        + '</div><div class="panel">VAE'
        + _canvas("interp-vae", 80, 80, "VAE decoding along the path")
        + '</div></div><figcaption id="interp-readout" class="readout" aria-live="polite">'
        "</figcaption></figure>",
        {
            "interp": {
                "images": b64_array(t.interp_images),
                "codes": {"ae": t.ae.interp_codes.tolist(), "vae": t.vae.interp_codes.tolist()},
            },
            **look_data(r.data),
        },
    )
    n = g.grid_size
    z0, z1 = (NormalDist().inv_cdf(q) for q in (g.quantile_min, g.quantile_max))
    where = (
        f"{n}×{n} codes at prior quantiles {_g(g.quantile_min)} to {_g(g.quantile_max)}: z₁ from "
        f"{z0:.2f} (left) to {z1:.2f} (right), z₂ from {z1:.2f} (top) to {z0:.2f} (bottom)."
    )
    grids = [
        ImageGrid(
            "quantile_grid",
            g.vae_grid,
            r.data,
            "VAE decoder on a grid of prior quantiles",
            f"VAE: the learned manifold, decoded at {where}",
            n,
            420,
            420,
        ),
        ImageGrid(
            "ae_grid",
            g.ae_grid,
            r.data,
            "Autoencoder decoder on the same grid",
            "Autoencoder, the same codes.",
            n,
            420,
            420,
        ),
    ]
    return [interp, Row(grids)]


def no_figures(r: ExplainReport) -> list[Figure]:
    """Sections told in words and numbers only."""
    return []
