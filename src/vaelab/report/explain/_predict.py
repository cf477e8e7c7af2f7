"""Predict first, then see: a question before each section's numbers, a self-check at the end.

Asking readers to predict before they see the data improves what they remember (Kim,
Reinecke & Hullman, CHI 2017). Each `Prediction` is a question with a few choices; the
choice this run supports is computed from the report's numbers (`ExplainReport`), with the
same thresholds as the page's words (`_text`). Where the effect a section is about did not
show, no choice is marked, or the honest one is, and the reveal says so.

The page gets them as figures: `Questions` (a form per question, first among a section's
figures; ``assets/predict.js`` keeps the section's measured block folded until the reader
answers or skips). In markdown each is the question followed by this run's answer. The
self-check at the end of the page is `vaelab.report.explain._selfcheck`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from vaelab.report.explain._figures import Markdown
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._text import (
    COLLAPSE_SPREAD,
    SHOWN,
    Section,
    _failure,
    _g,
    _pct,
    _pr,
    sample_score,
)


@dataclass(frozen=True)
class Choice:
    """One answer the reader can pick."""

    key: str
    label: str


@dataclass
class Prediction:
    """A question asked before a section's numbers, and the answer this run gives."""

    id: str  # unique on the page: the form is "predict-<id>"
    section: str  # the storyline section it precedes
    question: str
    choices: list[Choice]
    answer: str | None  # the key of the choice this run's numbers support; None: they don't decide
    because: str  # this run's numbers behind the answer, in a sentence or two

    def answer_label(self) -> str | None:
        """The label of the supported choice, or None."""
        return next((c.label for c in self.choices if c.key == self.answer), None)


def _sweep_ends(r: ExplainReport):
    """(smallest β, β nearest 1, largest β) points of the sweep, or None with fewer than 2 points."""
    pts = sorted(r.sweep.points, key=lambda p: p.beta)
    if len(pts) < 2:
        return None
    one = min(pts, key=lambda p: abs(p.beta - 1.0))
    return pts[0], one, pts[-1]


def _contrast(r: ExplainReport) -> tuple[int, float, int, float]:
    """(low d, its relative contrast, high d, its contrast) as section 1 quotes them."""
    conc = r.curse.concentration
    dims = conc.dims
    lo, hi = dims[0] if dims[0] > 1 else dims[1], dims[-1]
    return lo, conc.contrast_mean[dims.index(lo)], hi, conc.contrast_mean[dims.index(hi)]


def _holes_scores(r: ExplainReport):
    """Section 4's numbers: (latent size, AE prior (p, r), VAE prior (p, r)), or None."""
    h = getattr(r, "holes_large", None) or r.holes
    ae, vae = h.by_name("AE"), h.by_name("VAE")
    pa, pv = _pr(ae.samplers.get("prior")), _pr(vae.samplers.get("prior"))
    if pa is None or pv is None:
        return None
    return ae.latent_dim, pa, pv, ae.mismatch.gaussian_kl


def _bins(edges: list[int]) -> list[tuple[int, int | None]]:
    """Whole-number ranges [1, e0], [e0 + 1, e1], ..., [e_last + 1, ∞).

    Examples
    --------
    >>> _bins([6, 16, 32])
    [(1, 6), (7, 16), (17, 32), (33, None)]
    >>> [_bin_label(lo, hi) for lo, hi in _bins([1, 2, 3])]
    ['at most 1', '2', '3', 'more than 3']
    """
    lows = [1, *(e + 1 for e in edges)]
    return list(zip(lows, [*edges, None], strict=True))


def _bin_label(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"more than {lo - 1}"
    return f"at most {hi}" if lo == 1 else str(lo) if lo == hi else f"{lo} to {hi}"


# ---------------------------------------------------------------- one question per section


def curse_prediction(r: ExplainReport) -> Prediction:
    """Section 1: do distances still tell near from far in many dimensions?"""
    lo, c_lo, hi, c_hi = _contrast(r)
    choices = [
        Choice("apart", "Still clearly: the farthest point at least twice as far as the nearest"),
        Choice("less", "Less clearly: the farthest 1.25 to 2 times as far as the nearest"),
        Choice("same", "Hardly: nearest and farthest almost equally far (less than 1.25 times)"),
    ]
    because = (
        f"In {hi} dimensions a query's farthest point is on average {_g(1 + c_hi)} times as far "
        f"as its nearest (a relative gap of {_g(c_hi)}, against {_g(c_lo)} in {lo} dimensions)."
    )
    if c_hi >= c_lo:
        answer = None
        because += " The gap did not shrink on this run: the effect did not show."
    else:
        answer = "apart" if c_hi >= 1 else "less" if c_hi >= 0.25 else "same"
    return Prediction(
        "curse",
        "curse",
        f"Scatter random points in a cube. In {lo} dimensions, a point's farthest neighbour is on "
        f"average {_g(1 + c_lo)} times as far away as its nearest one. In {hi} dimensions, can "
        "distances still tell a near point from a far one?",
        choices,
        answer,
        because,
    )


def reduce_prediction(r: ExplainReport) -> Prediction | None:
    """Section 2: how many PCA directions keep 90% of the variation."""
    p = r.pca
    n, k = p.n_features, p.k_for_90
    if n < 8:
        return None
    bins = _bins(sorted({max(1, n // 10), max(2, n // 4), max(3, n // 2)}))
    choices = [Choice(f"b{i}", _bin_label(lo, hi)) for i, (lo, hi) in enumerate(bins)]
    if k is not None:
        answer: str | None = next(
            c.key for c, (lo, hi) in zip(choices, bins, strict=True) if lo <= k and (hi is None or k <= hi)
        )
        because = f"{k} of the {n} directions ({_pct(k / n)}) keep 90% of the variation."
    else:  # more than 100: one bin only if a single bin holds every count from 101 to n
        fits = [
            c.key for c, (lo, hi) in zip(choices, bins, strict=True) if lo <= 101 and (hi is None or hi >= n)
        ]
        answer = fits[0] if fits else None
        kept = p.cumulative_variance[-1] if p.cumulative_variance else 0.0
        because = (
            f"Even {len(p.cumulative_variance)} directions keep only {_pct(kept)} of the variation: "
            "more than that are needed."
            + ("" if fits else " This run did not compute more, so it cannot say how many.")
        )
    return Prediction(
        "reduce",
        "reduce",
        f"Your data has {n} numbers per sample. How many directions found by PCA does it take to "
        "keep 90% of its variation?",
        choices,
        answer,
        because,
    )


def autoencoder_prediction(r: ExplainReport) -> Prediction | None:
    """Section 3: the 2-D autoencoder's error against PCA's with 2 components."""
    ae, pca2 = r.two_d.ae.squared_error, r.pca.squared_error.get("2")
    if pca2 is None or pca2 <= 0:
        return None
    change = (ae - pca2) / pca2
    answer = "ae" if change <= -0.05 else "tie" if change < 0.05 else "pca"
    because = (
        f"Mean squared reconstruction error on test samples: autoencoder {_g(ae)}, PCA {_g(pca2)} "
        f"({_pct(abs(change))} {'less' if change < 0 else 'more'} for the autoencoder)."
    )
    if answer == "tie":
        because += " No clear gain from the curved map on this run."
    elif answer == "pca":
        because += (
            f" On this run, after {r.two_d.ae.training.epochs} passes over the data, the curved map "
            "did not beat the straight-line one: a network has to be trained towards what PCA "
            "computes directly."
        )
    return Prediction(
        "autoencoder",
        "autoencoder",
        "Squeeze each sample into 2 numbers and back, once with PCA (straight lines) and once with "
        "an autoencoder (curved maps). Which reconstructs test samples with less error?",
        [
            Choice("ae", "The autoencoder, by more than 5%"),
            Choice("tie", "About the same (within 5%)"),
            Choice("pca", "PCA"),
        ],
        answer,
        because,
    )


def holes_prediction(r: ExplainReport) -> Prediction | None:
    """Section 4: what random codes decode to under the autoencoder."""
    found = _holes_scores(r)
    if found is None:
        return None
    z, (pa, ra), (pv, rv), _ = found
    sa, sv = min(pa, ra), min(pv, rv)
    shown = sv - sa >= SHOWN
    if not shown and sa >= 0.5:
        answer = "real"
    else:
        answer = "off" if _failure(pa, ra) == "fall off the data" else "alike"
    because = (
        f"Decodings of prior draws by the autoencoder: precision {_g(pa, 2)} (the share that falls "
        f"among real samples), recall {_g(ra, 2)} (the share of the model's reconstructions of real "
        f"samples they come near); by the "
        f"VAE of the same size: {_g(pv, 2)} and {_g(rv, 2)}."
    )
    because += (
        f" On the lower of the two, {_g(sa, 2)} against the VAE's {_g(sv, 2)}."
        if shown
        else f" The autoencoder's lower score, {_g(sa, 2)}, is within {SHOWN:g} of the VAE's "
        f"{_g(sv, 2)}: the effect did not show at {z} latents on this run."
    )
    return Prediction(
        "holes",
        "holes",
        f"Draw random codes from the standard bell curve N(0, I) and decode them with an "
        f"autoencoder that uses {z}-number codes. What comes out?",
        [
            Choice("real", "Samples like the real ones, as varied as the data"),
            Choice("off", "Things unlike any real sample"),
            Choice("alike", "Realistic samples, but all alike: only part of the data"),
        ],
        answer,
        because,
    )


def vae_prediction(r: ExplainReport) -> Prediction:
    """Section 5: whose 2-D codes fit the prior better."""
    ka = r.holes.by_name("AE").mismatch.gaussian_kl
    kv = r.holes.by_name("VAE").mismatch.gaussian_kl
    because = (
        f"Measured as a KL divergence from the prior, the autoencoder's 2-D codes are {_g(ka)} nats "
        f"away, the VAE's {_g(kv)} nats"
        + ("." if kv < ka else ": on this run the VAE's codes did not fit the prior better.")
    )
    return Prediction(
        "vae",
        "vae",
        "The prior asks for codes centred at 0 with spread 1 in every direction. Train an "
        "autoencoder and a VAE with 2-number codes: whose codes come closer to that?",
        [Choice("vae", "The VAE's"), Choice("ae", "The autoencoder's")],
        "vae" if kv < ka else "ae",
        because,
    )


def objective_prediction(r: ExplainReport) -> Prediction:
    """Section 6: is the ELBO above or below log p(x), and by how much?

    The section's words already say that the ELBO is a lower bound, so the choices
    also ask how far below it sits on the reader's data.
    """
    o = r.objective
    because = (
        f"Importance-sampled log p(x) with {o.iw_samples} samples per test point: "
        f"{_g(o.log_likelihood)} ± {_g(o.log_likelihood_se)} nats; the ELBO over the same samples: "
        f"{_g(o.elbo_k)} nats."
    )
    if o.gap > 0:
        answer: str | None = "near" if o.gap < 1 else "mid" if o.gap <= 10 else "far"
        because += f" The ELBO is {_g(o.gap)} nats below: the true gap is at least this."
    else:
        answer = None
        because += (
            f" The estimate came out {_g(-o.gap)} nats below the ELBO: with {o.iw_samples} samples "
            "it is too noisy to show the gap. In theory the ELBO is never above log p(x)."
        )
    return Prediction(
        "objective",
        "objective",
        "The VAE maximises the ELBO because log p(x) cannot be computed directly. On your test "
        "samples, where will the ELBO sit against an importance-sampled estimate of log p(x)?",
        [
            Choice("above", "Above log p(x)"),
            Choice("near", "Below, by less than 1 nat"),
            Choice("mid", "Below, by 1 to 10 nats"),
            Choice("far", "Below, by more than 10 nats"),
        ],
        answer,
        because,
    )


def _low_beta_scores(r: ExplainReport) -> tuple[Any, Any, float, float] | None:
    """(smallest-β point, β≈1 point, their sample scores), when the sweep measured both."""
    ends = _sweep_ends(r)
    if ends is None:
        return None
    lo, one, _ = ends
    s_lo = sample_score(lo) if getattr(lo, "precision", None) is not None else None
    s_one = sample_score(one) if getattr(one, "precision", None) is not None else None
    if lo is one or one.beta <= 0 or s_lo is None or s_one is None:
        return None
    return lo, one, s_lo, s_one


def _collapsed(p: Any) -> bool:
    """Section 7's rule for posterior collapse at one β."""
    return p.active_units == 0 or p.samples_spread < COLLAPSE_SPREAD


def balance_predictions(r: ExplainReport) -> list[Prediction]:
    """Section 7: what reconstruction only does to the codes, and what (nearly) KL only does."""
    out = []
    low = _low_beta_scores(r)
    if low is not None:
        lo, one, s_lo, s_one = low
        what = "reconstruction only" if lo.beta == 0 else "the smallest KL weight in the sweep"
        because = (
            f"At β = {lo.beta:g} the codes carry {_g(lo.rate)} nats about each sample (the rate), "
            f"at β = {one.beta:g} they carry {_g(one.rate)}. Decodings of prior draws score {_g(s_lo, 2)} on "
            f"the lower of precision and recall at β = {lo.beta:g}, {_g(s_one, 2)} at "
            f"β = {one.beta:g}"
        )
        if lo.active_units == 0:
            answer = "collapse"
            because += f"; no latent unit is in use at β = {lo.beta:g}."
        elif s_one - s_lo >= SHOWN:
            answer = "holes"
            because += f": a fall of {_g(s_one - s_lo, 2)}, the holes of section 4 are back."
        else:
            answer = "same"
            because += ": the holes did not come back in this sweep."
        out.append(
            Prediction(
                "balance-low",
                "balance",
                f"Train the VAE again with the KL term weighted by β = {lo.beta:g} ({what}). "
                f"Compared with β = {one.beta:g}, what happens to its codes?",
                [
                    Choice("holes", "They spread out and holes open: prior draws decode worse"),
                    Choice("same", "Little changes: prior draws decode about as well"),
                    Choice("collapse", "They stop carrying information about the sample"),
                ],
                answer,
                because,
            )
        )
    ends = _sweep_ends(r)
    if ends is not None:
        _, _, hi = ends
        z = r.sweep.model.get("latent_dim", len(hi.unit_variances))
        because = (
            f"At β = {hi.beta:g}, {hi.active_units} of {z} latent units are in use and decoded prior "
            f"draws lie {_g(hi.samples_spread)}× as far from the average training sample as real "
            "samples do"
        )
        out_spread = getattr(hi, "output_spread", None)
        if out_spread is not None:
            because += (
                f"; reconstructions of different test samples keep {_pct(out_spread)} of the data's variance"
            )
        if _collapsed(hi):
            answer = "collapse"
            because += ": posterior collapse."
        else:
            answer = "varied" if hi.samples_spread >= 0.75 else "bland"
            because += ": full posterior collapse did not show up in this sweep."
        out.append(
            Prediction(
                "balance-high",
                "balance",
                f"And with β = {hi.beta:g}, where the KL term dominates?",
                [
                    Choice("varied", "Decodings stay about as varied as the data"),
                    Choice("bland", "Decodings get blander, but still depend on the code"),
                    Choice("collapse", "The decoder outputs nearly the same sample whatever the code"),
                ],
                answer,
                because,
            )
        )
    return out


def generation_prediction(r: ExplainReport) -> Prediction | None:
    """Section 8: how varied a VAE's new samples are."""
    ends = _sweep_ends(r)
    if ends is None:
        return None
    _, one, _ = ends
    s = one.samples_spread
    because = (
        f"Decoded prior draws of the β = {one.beta:g} VAE lie {_g(s)}× as far from the average "
        "training sample as real test samples do"
    )
    pr = _pr(one)
    if pr is not None:
        because += (
            f"; {_pct(pr[0])} of them fall among real samples (precision) and they come near "
            f"{_pct(pr[1])} of the model's reconstructions of real samples (recall)"
        )
    return Prediction(
        "generation",
        "generation",
        f"Draw codes from the prior and decode them with a VAE (β = {one.beta:g}, from section 7's "
        "sweep). How far will the new samples lie from the average sample, against real ones?",
        [
            Choice("less", "Much closer: under 0.75 times as far, blander than real samples"),
            Choice("same", "About as far: 0.75 to 1.25 times"),
            Choice("more", "Farther: over 1.25 times, wilder than real samples"),
        ],
        "less" if s < 0.75 else "same" if s <= 1.25 else "more",
        because + ".",
    )


def result_prediction(r: ExplainReport) -> Prediction:
    """Section 9: log p(x) as an anomaly score."""
    t = r.typicality
    share = t.shuffled_below_threshold
    return Prediction(
        "result",
        "result",
        "Shuffle the values inside each test sample (same values, random places) and score real "
        "and shuffled samples with the VAE's log p(x). What share of shuffled samples will score "
        "below the lowest 1% of real ones, and so be flagged as anomalies?",
        [
            Choice("most", "90% or more"),
            Choice("some", "50% to 90%"),
            Choice("few", "Under 50%"),
        ],
        "most" if share >= 0.9 else "some" if share >= 0.5 else "few",
        f"Real test samples score log p(x) = {_g(t.real_mean)} nats on average, shuffled ones "
        f"{_g(t.shuffled_mean)}; {_pct(share)} of shuffled samples fall below the real samples' "
        f"1st percentile ({_g(t.threshold_1pct)} nats).",
    )


def predictions(report: ExplainReport) -> list[Prediction]:
    """Every question this run can answer, in storyline order.

    Parameters
    ----------
    report : ExplainReport
        From `vaelab.report.explain.run_explain`.

    Returns
    -------
    list of Prediction
        Sections whose numbers are missing ask nothing.
    """
    found = [
        curse_prediction(report),
        reduce_prediction(report),
        autoencoder_prediction(report),
        holes_prediction(report),
        vae_prediction(report),
        objective_prediction(report),
        *balance_predictions(report),
        generation_prediction(report),
        result_prediction(report),
    ]
    return [p for p in found if p is not None]


# ---------------------------------------------------------------- the self-check


# ---------------------------------------------------------------- figures: page and markdown


def _e(s: str) -> str:
    return html.escape(s, quote=True)


@dataclass
class Questions:
    """A section's predict-first questions: forms on the page, question and answer in markdown."""

    items: list[Prediction]

    def html(self) -> str:
        forms = []
        for p in self.items:
            fid = f"predict-{p.id}"
            radios = "".join(
                f'<label class="predict-choice" data-key="{_e(c.key)}"><input type="radio" '
                f'name="{fid}" value="{_e(c.key)}"> <span>{_e(c.label)}</span></label>'
                for c in p.choices
            )
            forms.append(
                f'<form class="predict" id="{fid}" data-predict="{_e(p.id)}" novalidate>'
                f'<fieldset role="radiogroup" aria-labelledby="{fid}-q">'
                f'<legend id="{fid}-q"><span class="predict-tag">Predict first.</span> '
                f"{_e(p.question)}</legend>{radios}</fieldset>"
                '<div class="predict-actions"><button type="submit">Check my prediction</button> '
                '<button type="button" class="predict-skip">Skip: show me the numbers</button></div>'
                '<p class="predict-note" aria-live="polite"></p>'
                f'<div class="predict-reveal" id="{fid}-reveal" tabindex="-1" role="group" '
                f'aria-label="This run\'s answer" hidden></div></form>'
            )
        return "".join(forms)

    def markdown(self) -> Markdown:
        lines = []
        for p in self.items:
            lines += [f"**Predict first.** {p.question}", ""]
            lines += [f"- {c.label}" for c in p.choices]
            label = p.answer_label()
            head = f"This run's answer: {label}." if label else "This run's numbers do not decide it."
            lines += ["", f"*{head}* {p.because}", ""]
        return lines, {}

    def data(self) -> dict[str, Any]:
        return {
            "predict": {
                p.id: {
                    "section": p.section,
                    "choices": {c.key: c.label for c in p.choices},
                    "answer": p.answer,
                    "because": p.because,
                }
                for p in self.items
            }
        }


def add_predictions(report: ExplainReport, sections: list[Section]) -> list[Section]:
    """``sections`` with each one's questions as its first figure.

    Parameters
    ----------
    report : ExplainReport
    sections : list of Section
        From the storyline; changed in place.

    Returns
    -------
    list of Section
    """
    by_section: dict[str, list[Prediction]] = {}
    for p in predictions(report):
        by_section.setdefault(p.section, []).append(p)
    for sec in sections:
        if sec.id in by_section:
            sec.figures.insert(0, Questions(by_section[sec.id]))
    return sections
