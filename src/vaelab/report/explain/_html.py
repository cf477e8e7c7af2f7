"""Render the explainer report as one self-contained, offline HTML file."""

from __future__ import annotations

import html
import json
import re
from importlib import resources

from latex2mathml.converter import convert

from vaelab.report.explain._figures import b64_array, merge_data
from vaelab.report.explain._format import reproduce_command, trained_on_gpu
from vaelab.report.explain._lab import lab_html, lab_json, lab_position
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._sections import build_sections, used_terms
from vaelab.report.explain._text import Section, Term

ASSETS = resources.files("vaelab.report.explain") / "assets"


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def mathml(tex: str, display: bool = True) -> str:
    r"""LaTeX as MathML, which browsers render natively: no script, no font, no network.

    The TeX source rides along as the formula's annotation (copyable, read by screen
    readers that prefer it). Two touches on `latex2mathml`'s output: ``\sim`` comes out
    as the identifier ``~`` and becomes the relation ∼; ``\log`` gets a thin space
    after it, as TeX sets it.

    Examples
    --------
    >>> m = mathml(r"z \sim \mathcal{N}(0, I)")
    >>> m.startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">')
    True
    >>> "<mo>&#x0223C;</mo>" in m and "&#x1D4A9;" in m and "<annotation" in m
    True
    """
    m = convert(tex, display="block" if display else "inline")
    m = m.replace("<mi>&#x0007E;</mi>", "<mo>&#x0223C;</mo>")
    m = m.replace("<mi>log</mi>", '<mi>log</mi><mspace width="0.1667em"/>')
    head, _, rest = m.partition(">")
    body = rest.removesuffix("</math>")
    note = f'<annotation encoding="application/x-tex">{html.escape(tex)}</annotation>'
    return f"{head}><semantics>{body}{note}</semantics></math>"


def page_data(report: ExplainReport, sections: list[Section]) -> dict:
    """The JSON the page's JavaScript reads: the 2-D decoders, plus each figure's data."""
    d = report.data
    decoders = {
        kind: {
            "activation": m.decoder.activation,
            "output": m.decoder.output,
            "layers": [{"w": b64_array(w), "b": b64_array(b)} for w, b in m.decoder.layers],
        }
        for kind, m in (("ae", report.two_d.ae), ("vae", report.two_d.vae))
    }
    base = {"image_shape": d.image_shape, "range": d.range, "decoders": decoders, "grids": {}}
    return merge_data([base, *(f.data() for s in sections for f in s.figures)])


def link_terms(text: str, terms: list[Term], linked: set[str]) -> str:
    r"""``text`` as HTML, its first use of each glossary term not yet in ``linked`` a link.

    Matches are taken left to right and never overlap; ``linked`` gains the keys linked.

    Examples
    --------
    >>> t = [Term("kl", "KL", r"\bKL\b", "..."), Term("nats", "nats", r"\bnats?\b", "...")]
    >>> seen = set()
    >>> link_terms("KL < 1 nat & KL", t, seen)
    '<a class="term" href="#g-kl">KL</a> &lt; 1 <a class="term" href="#g-nats">nat</a> &amp; KL'
    >>> link_terms("2 nats", t, seen)
    '2 nats'
    """
    out, pos = [], 0
    while True:
        found = [
            (m.start(), m.end(), t.key)
            for t in terms
            if t.key not in linked and (m := re.compile(t.pattern).search(text, pos)) is not None
        ]
        if not found:
            break
        start, end, key = min(found)
        out += [html.escape(text[pos:start]), f'<a class="term" href="#g-{key}">']
        out += [html.escape(text[start:end]), "</a>"]
        linked.add(key)
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def glossary_html(terms: list[Term]) -> str:
    """The glossary: one entry per term, each with the anchor its first use links to."""
    entries = "".join(
        f'<dt id="g-{t.key}">{html.escape(t.name)}</dt><dd>{html.escape(t.definition)}</dd>' for t in terms
    )
    return (
        '<section id="glossary" aria-labelledby="glossary-h"><h2 id="glossary-h">Words used on '
        'this page</h2><p class="plain">Each term is explained where the story needs it; this '
        "list is here for when you meet one first. Its first use below links back here.</p>"
        f"<dl>{entries}</dl></section>"
    )


def _section_html(sec: Section, terms: list[Term], linked: set[str]) -> str:
    parts = [
        f'<section id="{sec.id}" aria-labelledby="{sec.id}-h">'
        f'<h2 id="{sec.id}-h">{html.escape(sec.title)}</h2>'
    ]
    parts += [f'<p class="plain">{link_terms(p, terms, linked)}</p>' for p in sec.plain]
    parts += [f.html() for f in sec.figures]
    if sec.measure:
        parts.append(
            '<div class="measure"><strong>Measured in this run.</strong> '
            + " ".join(link_terms(m, terms, linked) for m in sec.measure)
            + "</div>"
        )
    for m in sec.missing:
        parts.append(
            f'<div class="measure missing"><strong>Measurement unavailable.</strong> '
            f"{html.escape(m)}. No number is shown for it.</div>"
        )
    for f in sec.formulas:
        parts.append(f'<div class="formula">{mathml(f)}</div>')
    parts.append("</section>")
    return "\n".join(parts)


_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def render_html(report: ExplainReport) -> str:
    """The whole page as one string: text, figures, data, JS and CSS inline.

    Parameters
    ----------
    report : ExplainReport
        From `vaelab.report.explain.run_explain`.

    Returns
    -------
    str
        An HTML document that needs no network.
    """
    sections = build_sections(report)
    d, cfg = report.data, report.config
    data_json = json.dumps(page_data(report, sections), separators=(",", ":")).replace("</", "<\\/")
    terms = used_terms(sections)
    nav_items = [f'<li><a href="#{s.id}">{html.escape(s.title[3:])}</a></li>' for s in sections]
    linked: set[str] = set()
    parts = [_section_html(s, terms, linked) for s in sections]
    lab_script = ""
    if report.lab is not None:  # the training lab, right after the balance of the two terms
        at = lab_position([s.id for s in sections])
        parts.insert(at, lab_html(report.lab, d.n_features))
        lab_nav = '<ul><li><a href="#lab">Lab: train the two models yourself</a></li></ul></li>'
        nav_items[at - 1] = nav_items[at - 1].removesuffix("</li>") + lab_nav  # keeps the numbering
        lab_script = (
            f'<script type="application/json" id="vaelab-lab">{lab_json(report.lab, d)}</script>\n'
            f"<script>{_asset('lab.js')}</script>"
        )
    nav = '<li><a href="#glossary">Words used on this page</a></li>' + "".join(nav_items)
    body = "\n".join([glossary_html(terms), *parts])
    where = ", models trained on the GPU" if trained_on_gpu(cfg) else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>vaelab explain: the VAE on {html.escape(d.name)}</title>
<style>{_asset("explain.css")}</style></head>
<body><main>
<h1>Why variational autoencoders? Measured on your data</h1>
<p class="sub">Data: {html.escape(d.name)}, {d.n_train} training and {d.n_test} test
samples of {d.n_features} numbers each. Every number on this page was measured by
<code>{html.escape(reproduce_command(cfg))}</code>
({html.escape(cfg["preset"])} setting{where}) in {report.timings["total"]:.0f} s; all of them are
in explain.json next to this file.</p>
<nav aria-label="sections"><ol>{nav}</ol></nav>
{body}
</main>
<script type="application/json" id="vaelab-data">{data_json}</script>
<script>{_asset("explain.js")}</script>
<script>{_asset("predict.js")}</script>
{lab_script}
</body></html>
"""
