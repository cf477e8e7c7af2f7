"""Check yourself: the storyline's six questions at the end of the page, answered with this run's numbers.

Each `CheckItem` is one question and the answer built from the report
(`ExplainReport`); `SelfCheck` puts them on the page (a text box and a hidden answer
each, revealed by ``assets/predict.js``) and in the markdown (question, then answer).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from vaelab.report.explain._figures import Markdown
from vaelab.report.explain._predict import (
    _collapsed,
    _contrast,
    _holes_scores,
    _low_beta_scores,
    _sweep_ends,
)
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._text import SHOWN, Section, _failure, _g, _pr


@dataclass
class CheckItem:
    """One self-check question and its answer from this run's numbers."""

    question: str
    answer: str


# ---------------------------------------------------------------- the numbers, shared


def self_check(r: ExplainReport) -> list[CheckItem]:
    """The storyline's six questions, each answered with this run's numbers.

    Parameters
    ----------
    r : ExplainReport

    Returns
    -------
    list of CheckItem
        Six items, in storyline order.
    """
    lo_d, c_lo, hi_d, c_hi = _contrast(r)
    k, n = r.pca.k_for_90, r.pca.n_features
    shrink = (
        f"on this run the relative gap between a random point's farthest and nearest neighbour "
        f"fell from {_g(c_lo)} in {lo_d} dimensions to {_g(c_hi)} in {hi_d}"
        if c_hi < c_lo
        else f"on this run the relative gap between farthest and nearest did not shrink from {lo_d} "
        f"to {hi_d} dimensions (the effect did not show)"
    )
    kept = (
        f"PCA keeps 90% of your data's variation with {k} of its {n} directions"
        if k is not None
        else f"on your data even 100 PCA directions keep less than 90% of the {n}"
    )
    a1 = (
        "In many dimensions data is sparse and distances stop telling points apart: "
        f"{shrink}. Real data usually lies near a much smaller space: {kept}. A short code that keeps "
        "what matters makes comparing, picturing and learning possible again."
    )

    holes = _holes_scores(r)
    ka2 = r.holes.by_name("AE").mismatch.gaussian_kl
    kv2 = r.holes.by_name("VAE").mismatch.gaussian_kl
    if holes is not None:
        z, (pa, ra), (pv, rv), ka = holes
        sa, sv = min(pa, ra), min(pv, rv)
        a2 = (
            "Nothing in an autoencoder's training says where codes should lie or what the space "
            f"between them means. Here its {z}-number codes sit {_g(ka)} nats (KL) from N(0, I), so "
            f"codes drawn from N(0, I) and decoded score precision {_g(pa, 2)} and recall "
            f"{_g(ra, 2)}, against {_g(pv, 2)} and {_g(rv, 2)} for the VAE."
            + (
                f" They {_failure(pa, ra)}."
                if sv - sa >= SHOWN
                else " On this run the difference did not show at this code size."
            )
            + " Sampling an autoencoder needs a second model of where its codes lie."
        )
        vae_gen = (
            f" With {z}-number codes its prior draws score {_g(sv, 2)} on the lower of precision "
            f"and recall, the autoencoder's {_g(sa, 2)}."
        )
    else:
        a2 = (
            "Nothing in an autoencoder's training says where codes should lie or what the space "
            f"between them means: its 2-D codes here sit {_g(ka2)} nats (KL) from N(0, I)."
        )
        vae_gen = ""
    a3 = (
        "It decides in advance where codes live (the prior N(0, I)), gives each sample a cloud "
        "q(z|x) = N(μ(x), σ²(x)) instead of a point, trains on draws z = μ + σ·ε from that cloud, and "
        "adds a KL term that pulls every cloud towards the prior. On this run its 2-D codes are "
        f"{_g(kv2)} nats from the prior, the autoencoder's {_g(ka2)}." + vae_gen
    )

    a4 = (
        "The reconstruction term makes codes informative: the decoder must rebuild x from them. "
        "The KL term (the rate) keeps each code cloud close to the prior, so the code space has no "
        "holes."
    )
    low, ends = _low_beta_scores(r), _sweep_ends(r)
    if low is not None:
        lo, one, s_lo, s_one = low
        a4 += (
            f" Reconstruction only (β = {lo.beta:g}): rate {_g(lo.rate)} nats, and prior draws "
            f"score {_g(s_lo, 2)} against {_g(s_one, 2)} at β = {one.beta:g}"
            + (": holes open." if s_one - s_lo >= SHOWN else ": on this run the holes did not come back.")
        )
    if ends is not None:
        hi = ends[2]
        a4 += (
            f" Nearly KL only (β = {hi.beta:g}): rate {_g(hi.rate)} nats, {hi.active_units} latent "
            f"units in use, decoded prior draws {_g(hi.samples_spread)}× as far from the average "
            "sample as real ones"
            + (
                ": posterior collapse, the decoder outputs about the same sample whatever the code."
                if _collapsed(hi)
                else ": on this run the codes did not collapse fully."
            )
        )

    o = r.objective
    a5 = (
        "log p(x) = ELBO + KL(q(z|x) ‖ p(z|x)), and a KL divergence is never negative, so the ELBO "
        "is never above log p(x); the shortfall is how far the encoder's q(z|x) is from the true "
        f"posterior p(z|x). Here the ELBO is {_g(o.elbo_k)} nats and the importance-sampled "
        f"log p(x) {_g(o.log_likelihood)} ± {_g(o.log_likelihood_se)}: "
        + (
            f"{_g(o.gap)} nats below."
            if o.gap > 0
            else "the estimate is too noisy to show the gap on this run."
        )
        + f" On the exact linear model the shortfall is {_g(r.linear.linear_vae_posterior_kl)} nats."
    )

    g = r.generation
    a6 = (
        "Draw a code z from the prior N(0, I) and decode it; to blend two samples, decode codes on "
        "the line between theirs."
    )
    if ends is not None:
        one = ends[1]
        pr = _pr(one)
        a6 += (
            f" On this run the β = {one.beta:g} VAE's new samples lie {_g(one.samples_spread)}× as "
            "far from the average sample as real ones"
            + (f", with precision {_g(pr[0], 2)} and recall {_g(pr[1], 2)}." if pr is not None else ".")
        )
    a6 += (
        f" Section 8 decodes a {g.grid_size}×{g.grid_size} grid of prior quantiles "
        f"{_g(g.quantile_min)} to {_g(g.quantile_max)}: the whole 2-D map in one picture."
    )
    return [
        CheckItem("Why reduce dimension?", a1),
        CheckItem("Why can't an autoencoder's codes simply be sampled?", a2),
        CheckItem("What does the VAE change?", a3),
        CheckItem("What does each loss term do, and what do you get with only one?", a4),
        CheckItem("Why is the ELBO a lower bound, and how far below log p(x) is it here?", a5),
        CheckItem("How do you generate new samples?", a6),
    ]


def _e(s: str) -> str:
    return html.escape(s, quote=True)


@dataclass
class SelfCheck:
    """The six storyline questions: a text box and a reveal each; question and answer in markdown."""

    items: list[CheckItem]

    def html(self) -> str:
        parts = []
        for i, c in enumerate(self.items, 1):
            cid = f"check-{i}"
            parts.append(
                f'<div class="check" id="{cid}"><h3 id="{cid}-q">{i}. {_e(c.question)}</h3>'
                f'<label for="{cid}-text">Your answer, in a few words (it stays in this page):</label>'
                f'<textarea id="{cid}-text" rows="2"></textarea>'
                f'<button type="button" class="check-show" aria-controls="{cid}-a" '
                'aria-expanded="false">Show the answer</button>'
                '<p class="check-note" aria-live="polite"></p>'
                f'<div class="check-answer" id="{cid}-a" tabindex="-1" hidden>'
                f"<strong>This run's answer.</strong> {_e(c.answer)}</div></div>"
            )
        return '<div class="selfcheck">' + "".join(parts) + "</div>"

    def markdown(self) -> Markdown:
        lines = []
        for i, c in enumerate(self.items, 1):
            lines += [f"**{i}. {c.question}**", "", f"*This run's answer.* {c.answer}", ""]
        return lines, {}

    def data(self) -> dict[str, Any]:
        return {}


def self_check_section(report: ExplainReport) -> Section:
    """The last section: the six questions, answers hidden until the reader has a go."""
    return Section(
        "selfcheck",
        "10. Check yourself",
        [
            "Six questions that sum up the page. Answer each in your own words first, then compare "
            "with the answer built from this run's numbers."
        ],
        figures=[SelfCheck(self_check(report))],
    )
