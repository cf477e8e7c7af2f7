"""Render the explainer report as one self-contained, offline HTML file."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from importlib import resources

import numpy as np

from vaelab.report.explain._text import Section, build_sections

ASSETS = resources.files("vaelab.report.explain") / "assets"


def b64_array(a: np.ndarray) -> dict:
    """An array as ``{"shape", "b64"}`` of little-endian float32 bytes, for the page's JS.

    Examples
    --------
    >>> b64_array(np.zeros((2, 3)))["shape"]
    [2, 3]
    """
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def katex_css() -> str:
    """KaTeX's CSS with its woff2 fonts inlined as data URLs (other formats dropped)."""
    css = _asset("katex.min.css")

    def font(m: re.Match) -> str:
        data = (ASSETS / m.group(1)).read_bytes()
        return f'url(data:font/woff2;base64,{base64.b64encode(data).decode()}) format("woff2")'

    css = re.sub(r'url\(fonts/([^)]+\.woff2)\) format\("woff2"\)(,url\([^)]+\) format\("[a-z]+"\))*',
                 font, css)
    return css


def _fig_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def page_data(report: dict) -> dict:
    """The JSON the page's JavaScript reads: decoders, codes, curves, image grids."""
    a = report["arrays"]
    d = report["data"]
    codes = np.concatenate([a["ae_codes"], a["vae_codes"]])
    lo = np.minimum(np.percentile(codes, 0.5, axis=0), -3.2)
    hi = np.maximum(np.percentile(codes, 99.5, axis=0), 3.2)
    h = report["curse"]["histograms"]
    out = {
        "image_shape": d["image_shape"], "range": d["range"],
        "decoders": {k: {"activation": a[f"{k}_decoder"]["activation"],
                         "output": a[f"{k}_decoder"]["output"],
                         "layers": [{"w": b64_array(lay["w"]), "b": b64_array(lay["b"])}
                                    for lay in a[f"{k}_decoder"]["layers"]]}
                     for k in ("ae", "vae")},
        "codes": {"ae": b64_array(a["ae_codes"]), "vae": b64_array(a["vae_codes"])},
        "code_labels": None if a.get("code_labels") is None else a["code_labels"].tolist(),
        "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])],
        "curse_hist": {k: h[k] for k in ("dims", "edges", "counts", "n_pairs", "relative_sd",
                                         "n_points")},
        "pca_cumulative": report["pca"]["cumulative_variance"],
        "interp": {"images": b64_array(a["interp_images"]),
                   "codes": {k: a[f"{k}_interp_codes"].tolist() for k in ("ae", "vae")}},
        "sweep": {"rows": report["sweep"]["rows"], "latent_dim": report["sweep"]["latent_dim"],
                  "samples": b64_array(a["sweep_samples"])},
        "grids": {},
    }
    for key in ("quantile_grid", "ae_grid", "holes_AE_prior", "holes_VAE_prior", "test_images"):
        if key in a:
            out["grids"][key] = b64_array(a[key])
    return out


def _canvas(cid: str, w: int, h: int, label: str, extra: str = "") -> str:
    return (f'<canvas id="{cid}" width="{w}" height="{h}" role="img" '
            f'aria-label="{html.escape(label)}" {extra}></canvas>')


def _grid(key: str, label: str, cols: int, w: int = 360, h: int = 92) -> str:
    return (f'<canvas width="{w}" height="{h}" data-grid="{key}" data-cols="{cols}" role="img" '
            f'aria-label="{html.escape(label)}"></canvas>')


def _figures(sec: Section, report: dict) -> str:
    a = report["arrays"]
    if sec.id == "curse":
        from vaelab.experiments.curse import DistanceConcentration
        from vaelab.report.figures.curse import plot_contrast

        conc = DistanceConcentration.from_dict(report["curse"]["concentration"])
        png = _fig_png(plot_contrast({"uniform": conc}))
        return ('<div class="row"><figure><label for="dim-slider">dimension d: </label>'
                '<input type="range" id="dim-slider" min="0" value="0" step="1" '
                'aria-describedby="dim-readout"><br>'
                + _canvas("dim-canvas", 460, 260, "histogram of pairwise distances")
                + '<figcaption id="dim-readout" class="readout" aria-live="polite"></figcaption>'
                '</figure><figure><img class="fig" alt="Relative contrast between farthest and '
                'nearest neighbour falls towards 0 as the dimension grows, for uniform random '
                f'points." src="data:image/png;base64,{png}"></figure></div>')
    if sec.id == "reduce":
        return ('<figure>' + _canvas("pca-canvas", 460, 240, "Share of the data's variance kept "
                "by PCA against the number of components") +
                '<figcaption>Share of variance kept by the first k PCA directions.</figcaption>'
                '</figure>')
    if sec.id == "autoencoder":
        return ('<figure>' + _grid("test_images", "Sixteen test samples from your data", 8,
                                   h=100) + '<figcaption>Some of your test samples.</figcaption>'
                '</figure>')
    if sec.id == "holes":
        out = ('<div class="row">'
               + "".join(f'<div class="panel"><div>{title} code plane</div>'
                         + _canvas(f"plane-{k}", 300, 300,
                                   f"{title} code plane: training codes coloured by label; move "
                                   "the pointer or use the arrow keys to choose a code",
                                   'class="plane" tabindex="0"')
                         + f'<div>{title} decodes it as</div>'
                         + _canvas(f"decoded-{k}", 112, 112, f"{title} decoding of the chosen code")
                         + '</div>' for k, title in (("ae", "Autoencoder"), ("vae", "VAE")))
               + '</div><p><button id="sample-button" type="button">Sample from the prior'
               '</button> draws a code from N(0, I) and decodes it with both models.</p>'
               '<p id="explorer-readout" class="readout" aria-live="polite"></p>')
        if "holes_AE_prior" in a:
            out += ('<div class="row"><figure>' + _grid("holes_AE_prior", "Autoencoder decodings "
                    "of random prior codes", 8) + '<figcaption>Autoencoder: random codes decoded.'
                    '</figcaption></figure><figure>' + _grid("holes_VAE_prior", "VAE decodings of "
                    "random prior codes", 8) + '<figcaption>VAE: random codes decoded.'
                    '</figcaption></figure></div>')
        return out
    if sec.id == "generation":
        out = ('<div class="row"><div class="panel">start'
               + _canvas("interp-a", 80, 80, "first test image") + '</div>'
               '<div class="panel"><label for="interp-slider">interpolate</label><br>'
               '<input type="range" id="interp-slider" min="0" max="100" value="50" '
               'aria-describedby="interp-readout"></div><div class="panel">end'
               + _canvas("interp-b", 80, 80, "second test image") + '</div>'
               '<div class="panel">autoencoder' + _canvas("interp-ae", 80, 80,
                                                          "autoencoder decoding along the path")
               + '</div><div class="panel">VAE' + _canvas("interp-vae", 80, 80,
                                                          "VAE decoding along the path")
               + '</div></div><p id="interp-readout" class="readout" aria-live="polite"></p>')
        if "quantile_grid" in a:
            g = report["generation"]["grid_size"]
            out += ('<div class="row"><figure>' + _grid("quantile_grid", "VAE decoder on a grid "
                    "of prior quantiles", g, 420, 420) + '<figcaption>VAE: the learned manifold.'
                    '</figcaption></figure><figure>' + _grid("ae_grid", "Autoencoder decoder on "
                    "the same grid", g, 420, 420) + '<figcaption>Autoencoder, same codes.'
                    '</figcaption></figure></div>')
        return out
    if sec.id == "balance":
        return ('<div class="row"><figure><label for="beta-slider">β: </label>'
                '<input type="range" id="beta-slider" min="0" value="2" step="1" '
                'aria-describedby="beta-readout"><br>'
                + _canvas("beta-samples", 360, 100, "Prior samples of the VAE trained with the "
                          "chosen β") + '<figcaption id="beta-readout" class="readout" '
                'aria-live="polite"></figcaption></figure><figure>'
                + _canvas("rd-canvas", 380, 260, "rate–distortion curve")
                + '</figure></div>')
    return ""


def _section_html(sec: Section, report: dict) -> str:
    parts = [f'<section id="{sec.id}" aria-labelledby="{sec.id}-h">'
             f'<h2 id="{sec.id}-h">{html.escape(sec.title)}</h2>']
    parts += [f'<p class="plain">{html.escape(p)}</p>' for p in sec.plain]
    parts.append(_figures(sec, report))
    if sec.measure:
        parts.append('<div class="measure"><strong>Measured in this run.</strong> '
                     + " ".join(html.escape(m) for m in sec.measure) + "</div>")
    for m in sec.missing:
        parts.append(f'<div class="measure missing"><strong>Measurement unavailable.</strong> '
                     f'{html.escape(m)}. No number is shown for it.</div>')
    for f in sec.formulas:
        parts.append(f'<div class="formula"><div class="math">{html.escape(f)}</div></div>')
    parts.append("</section>")
    return "\n".join(parts)


_CSP = ("default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'")


def render_html(report: dict) -> str:
    """The whole page as one string: text, figures, data, JS and CSS inline.

    Parameters
    ----------
    report : dict
        From `vaelab.report.explain.run_explain` (with its ``arrays``).

    Returns
    -------
    str
        An HTML document that needs no network.
    """
    sections = build_sections(report)
    d = report["data"]
    data_json = json.dumps(page_data(report), separators=(",", ":")).replace("</", "<\\/")
    nav = "".join(f'<li><a href="#{s.id}">{html.escape(s.title[3:])}</a></li>' for s in sections)
    body = "\n".join(_section_html(s, report) for s in sections)
    cfg = report["config"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>vaelab explain: the VAE on {html.escape(d['name'])}</title>
<style>{katex_css()}</style><style>{_asset('explain.css')}</style></head>
<body><main>
<h1>Why variational autoencoders? Measured on your data</h1>
<p class="sub">Data: {html.escape(d['name'])}, {d['n_train']} training and {d['n_test']} test
samples of {d['n_features']} numbers each. Every number on this page was measured by
<code>vaelab explain --data {html.escape(str(cfg['source']))} --seed {cfg['seed']}</code>
({html.escape(cfg['preset'])} setting) in {report['timings']['total']:.0f} s; all of them are
in explain.json next to this file.</p>
<nav aria-label="sections"><ol>{nav}</ol></nav>
{body}
</main>
<script type="application/json" id="vaelab-data">{data_json}</script>
<script>{_asset('katex.min.js')}</script>
<script>{_asset('explain.js')}</script>
</body></html>
"""
