"""The page's words: no term before its definition, and every quantitative word follows its number.

One quick explainer run per module; the number-following tests feed it edited copies
(`dataclasses.replace`) and check that the words flip with the numbers.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from vaelab.report.explain import _text as txt
from vaelab.report.explain._html import render_html
from vaelab.report.explain._sections import build_sections

pytestmark = pytest.mark.slow

# Terms a newcomer needs defined, found by the design review; kept apart from
# GLOSSARY's own patterns so that a term the glossary forgets is caught.
TERMS = {
    "code": r"\b(?:codes?|latents?)\b",
    "autoencoder": r"\bautoencoders?\b",
    "pca": r"\bPCA\b",
    "vae": r"\bVAEs?\b",
    "variance": r"\bvariances?\b",
    "gaussian": r"\bGaussian\b|\bbell curve\b|N\(0, ?I\)",
    "mixture": r"\bmixture\b",
    "quantile": r"\bquantiles?\b|\bpercentile\b",
    "query": r"\bquery\b",
    "prior": r"\bprior\b",
    "likelihood": r"\blikelihood\b|log p\(x\)",
    "posterior": r"\bposterior\b",
    "nats": r"\bnats?\b",
    "kl": r"\bKL\b|\bKullback",
    "elbo": r"\bELBO\b|\bevidence lower bound\b",
    "importance": r"\bimportance[- ]sampl",
    "manifold": r"\bmanifold\b",
    "tsne": r"\bt-SNE\b",
    "umap": r"\bUMAP\b",
}


@pytest.fixture(scope="module")
def report():
    from vaelab.report.explain import ExplainConfig, run_explain

    return run_explain(ExplainConfig(preset="quick", max_test=200))


class _Text(HTMLParser):
    """The page's visible words in order, with where each glossary entry starts and which
    link (href) each piece of words sits in. Navigation, scripts, styles and MathML are left out."""

    SKIP = {"script", "style", "nav", "math", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.entries: dict[str, int] = {}  # glossary key → offset of its entry
        self.links: list[tuple[int, int, str]] = []  # (start, end, href) of each link's words
        self.words: list[tuple[int, int]] = []  # spans of the sections' own words (p.plain, .measure)
        self._skip = 0
        self._href: list[tuple[str, int]] = []
        self._mine: list[tuple[int, int]] = []  # (depth, start) of the open word blocks
        self._stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SKIP:
            self._skip += 1
        if a.get("id", "").startswith("g-"):
            self.entries[a["id"][2:]] = len(self.text)
        if tag == "a":
            self._href.append((a.get("href", ""), len(self.text)))
        cls = a.get("class", "")
        self._stack.append(tag)
        if (tag == "p" and "plain" in cls) or (tag == "div" and cls == "measure"):
            self._mine.append((len(self._stack), len(self.text)))
        self.text += " "

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skip -= 1
        if tag == "a" and self._href:
            href, start = self._href.pop()
            self.links.append((start, len(self.text), href))
        if self._mine and self._mine[-1][0] == len(self._stack):
            self.words.append((self._mine.pop()[1], len(self.text)))
        if self._stack:
            self._stack.pop()
        self.text += " "

    def handle_data(self, data):
        if not self._skip:
            self.text += data


def _parse(page: str) -> _Text:
    p = _Text()
    p.feed(page)
    return p


def undefined_before_use(page: str) -> list[str]:
    """Terms whose first use on the page comes before their glossary entry (or that have none)."""
    p = _parse(page)
    starts = [p.text.find("Words used on this page"), p.text.find("1. The curse")]
    body = min(i for i in starts if i >= 0)  # the page's words: glossary or step 1, whichever first
    bad = []
    for key, pattern in TERMS.items():
        m = re.search(pattern, p.text[body:])
        if m is None:
            continue
        first = body + m.start()
        entry = p.entries.get(key)
        if entry is None or entry > first:
            bad.append(
                f"{key}: first used at {p.text[first : first + 40]!r}, defined "
                + ("nowhere" if entry is None else "after it")
            )
    return bad


def test_no_term_is_used_before_its_definition(report):
    assert undefined_before_use(render_html(report)) == []


def test_the_check_fails_without_a_glossary_before_the_words(report):
    """The old page (no glossary) fails; so does a glossary placed after the words."""
    page = render_html(report)
    glossary = re.search(r'<section id="glossary".*?</section>', page, re.S)
    assert glossary is not None
    without = page.replace(glossary.group(0), "")
    missing = {b.split(":")[0] for b in undefined_before_use(without)}
    assert {"nats", "prior", "posterior", "likelihood", "quantile", "query"} <= missing
    moved = without.replace("</main>", glossary.group(0) + "</main>")
    late = {b.split(":")[0] for b in undefined_before_use(moved)}
    assert {"nats", "prior", "code"} <= late


def test_glossary_entries_use_only_terms_defined_above_them():
    keys = [t.key for t in txt.GLOSSARY]
    assert set(TERMS) <= set(keys), set(TERMS) - set(keys)
    for i, term in enumerate(txt.GLOSSARY):
        for key, pattern in TERMS.items():
            if key != term.key and re.search(pattern, term.definition):
                assert keys.index(key) < i, f"{term.key}'s definition uses {key}, defined below it"
        assert re.search(term.pattern, term.name), term.key  # its pattern finds its own name


def test_first_use_in_the_words_links_to_the_glossary(report):
    p = _parse(render_html(report))
    words = sorted(p.words)
    for key, pattern in TERMS.items():
        if key not in p.entries:
            continue
        firsts = [
            (a + m.start(), a + m.end())
            for a, b in words
            if (m := re.search(pattern, p.text[a:b])) is not None
        ]
        if not firsts:
            continue
        start, end = min(firsts)
        hrefs = [h for a, b, h in p.links if a <= start and end <= b]
        assert hrefs, f"{key}: first use {p.text[start:end]!r} is not a link"
        assert hrefs[0].startswith("#g-"), (key, hrefs)


def test_formulas_are_mathml_and_the_page_loads_no_script_library(report):
    page = render_html(report)
    assert page.count("<math ") >= 8 and "KaTeX parse error" not in page  # no KaTeX inlined
    for tex in re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', page):
        assert tex
    math = re.sub(r"<annotation.*?</annotation>", "", "".join(re.findall(r"<math .*?</math>", page, re.S)))
    assert "\\" not in math  # every TeX command converted
    assert 'mathvariant="script"' not in math and 'mathvariant="double-struck"' not in math


# ---- words follow numbers -------------------------------------------------------------


def _holes_with(h, model, sampler=None, mismatch=None, **kw):
    """``h`` with one model's sampler fields (``sampler``) or mismatch fields replaced."""
    models = []
    for r in h.models:
        if r.name == model:
            if sampler is not None:
                r = replace(r, samplers={**r.samplers, sampler: replace(r.samplers[sampler], **kw)})
            if mismatch is not None:
                r = replace(r, mismatch=replace(r.mismatch, **mismatch))
        models.append(r)
    return replace(h, models=models)


def _words(section) -> str:
    return " ".join(section.plain + section.measure)


def _section4(report, ae_prior=None, vae_prior=None, gmm=None) -> str:
    """Section 4's words with the larger models' samplers set to (precision, own recall).

    With ``gmm`` given, the fitted Gaussian sampler scores below it, so the mixture is the best fit.
    """
    h = report.holes_large
    gauss = None if gmm is None else (0.0, 0.0)
    for model, sampler, pr in (
        ("AE", "prior", ae_prior),
        ("VAE", "prior", vae_prior),
        ("AE", "gmm", gmm),
        ("AE", "gaussian", gauss),
    ):
        if pr is not None:
            h = _holes_with(h, model, sampler, precision=pr[0], own_recall=pr[1])
    return _words(txt.holes_section(report.holes, h))


def test_section_4_states_the_effect_and_its_size_from_the_lower_score(report):
    off = _section4(report, ae_prior=(0.2, 0.9), vae_prior=(0.8, 0.85))
    assert "fall off the data" in off and "0.2 against 0.8: a difference of 0.6" in off
    alike = _section4(report, ae_prior=(1.0, 0.05), vae_prior=(0.95, 0.85))
    assert "cover only part of it" in alike and "0.05 against 0.85" in alike
    level = _section4(report, ae_prior=(0.8, 0.8), vae_prior=(0.82, 0.85))
    assert "the effect did not show" in level and "a difference of" not in level


def test_the_2d_comparison_says_which_code_size_shows_the_effect_more(report):
    """The 2-D sentence follows the two autoencoders' prior scores, not a fixed verdict."""
    small = _holes_with(report.holes, "AE", "prior", precision=0.5, own_recall=0.6)
    small = _holes_with(small, "VAE", "prior", precision=0.9, own_recall=0.8)

    def words(big_ae, small=small):
        big = _holes_with(report.holes_large, "AE", "prior", precision=big_ae[0], own_recall=big_ae[1])
        return _words(txt.holes_section(small, big))

    lower = words((0.9, 0.1))
    assert "score lower still (0.1)" in lower and "as clearly as" not in lower
    level = words((0.9, 0.7))
    assert "The 2-D planes show the effect at least as clearly as" in level and "lower still" not in level
    # where the 2-D autoencoder scores no worse than the 2-D VAE, the page does not claim the planes show it
    even = words((0.9, 0.7), _holes_with(small, "VAE", "prior", precision=0.5, own_recall=0.55))
    assert "as clearly as" not in even and "the effect needs the larger code" in even


def test_the_far_share_is_quoted_as_an_effect_only_where_the_autoencoder_has_more(report):
    """Two shares of 0% are no effect: the page says distance does not tell the models apart."""

    def words(fa, fv):
        h = _holes_with(report.holes, "AE", mismatch={"far_fraction": fa})
        h = _holes_with(h, "VAE", mismatch={"far_fraction": fv})
        return _words(txt.holes_section(h, report.holes_large))

    more = words(0.3, 0.01)
    assert (
        "30% of the autoencoder's 2-D prior draws land farther" in more and "against 1% for the VAE" in more
    )
    none = words(0.0, 0.0)
    assert "Distance alone does not tell them apart here: 0% of the autoencoder's" in none
    assert "against 0%" not in none


def test_no_classifier_sentence_in_section_4(report):
    """Label-free measures only: a classifier's confidence is no test of realism."""
    assert "classifier" not in _section4(report)


def test_mixture_sentence_compares_with_the_vae(report):
    same = _section4(report, vae_prior=(0.8, 0.85), gmm=(0.82, 0.9))
    assert "needs a second model of where its codes lie" in same and "about as well as the VAE" in same
    better = _section4(report, vae_prior=(0.6, 0.85), gmm=(0.9, 0.9))
    assert "better than the VAE's prior" in better
    worse = _section4(report, vae_prior=(0.9, 0.9), gmm=(0.5, 0.9))
    assert "still below the VAE's prior" in worse


def test_knn_against_pca_is_commented_either_way(report):
    c = report.compare
    if c.methods["vae"].knn_accuracy[0] is None:
        pytest.skip("no labels")
    p = c.methods["pca"].knn_accuracy[0]

    def with_vae(knn, tw):
        vae = replace(c.methods["vae"], knn_accuracy=[knn], trustworthiness=tw)
        return replace(c, methods={**c.methods, "vae": vae})

    tw = c.methods["pca"].trustworthiness
    below = _words(txt.result_section(with_vae(p - 0.2, tw), report.typicality, {}))
    assert "below PCA's on kNN accuracy (by 0.2)" in below and "did not beat" in below
    above = _words(txt.result_section(with_vae(min(p + 0.1, 1.0), tw), report.typicality, {}))
    assert "beat PCA's on kNN accuracy" in above and "below PCA's on kNN" not in above


def test_log_likelihoods_of_different_families_are_not_compared(report):
    o, lin, n = report.objective, report.linear, report.data.n_test
    bern = " ".join(txt.objective_section(o, lin, n, "bernoulli").measure)
    assert "compare only within one likelihood family" in bern and "Bernoulli" in bern
    gauss = " ".join(txt.objective_section(o, lin, n, "gaussian-learned").measure)
    assert "cannot be set against" not in gauss


def test_large_log_likelihoods_keep_the_decimal_their_quoted_gap_needs(report):
    """MNIST's linear VAE: exact log p(x) 259.54, importance-sampled 257.43. Rounded to whole
    nats the sentence read "260 ... 257, 2.11 nats below", a gap of 3 beside the quoted 2.11."""
    o, lin, n = report.objective, report.linear, report.data.n_test
    lin = replace(lin, linear_vae_log_likelihood=259.54, linear_vae_iw_log_likelihood=257.43)
    words = " ".join(txt.objective_section(o, lin, n, "gaussian-learned").measure)
    assert "log p(x) is 259.5," in words
    assert "log p(x) as 257.4, 2.11 nats below the exact value" in words


def test_holes_at_small_beta_are_stated_from_the_sweep(report):
    sw = report.sweep
    one = next(p for p in sw.points if p.beta == 1.0)
    rest = [p for p in sw.points if p.beta > 0]

    def with_low(precision):
        zero = replace(one, beta=0.0, precision=precision, own_recall=0.95)
        return replace(sw, points=[zero, *rest])

    score = min(one.precision, one.own_recall)
    back = " ".join(txt.balance_section(with_low(max(score - 0.5, 0.0))).measure)
    assert "At β = 0 (reconstruction only)" in back and "with reconstruction alone, the holes" in back
    none = " ".join(txt.balance_section(with_low(score)).measure)
    assert "did not come back in this sweep" in none and "come back (" not in none
    # no sentence claims what β → 0 does unless the sweep measured it
    for sec in build_sections(report):
        assert "β → 0" not in _words(sec)


def test_generation_points_at_the_grids_where_they_are(report):
    words = _words(txt.generation_section(report.generation))
    assert "Below" not in words and "above" in words


def test_curse_and_typicality_verdicts_follow_their_numbers(report):
    c = report.curse
    conc = c.concentration
    flat = replace(conc, contrast_mean=[conc.contrast_mean[0]] * len(conc.contrast_mean))
    words = " ".join(
        txt.curse_section(replace(c, concentration=flat), report.representation_contrast, "d").measure
    )
    assert "did not shrink" in words and "almost equally far" not in words
    t = report.typicality
    weak = " ".join(txt.result_section(report.compare, replace(t, shuffled_below_threshold=0.2), {}).measure)
    assert "weak anomaly score" in weak and "tells them apart well" not in weak
