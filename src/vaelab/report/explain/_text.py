"""The page's words: plain-language paragraphs and sentences built from this run's numbers.

Every sentence about a measurement is computed from the typed stage results of
`vaelab.report.explain._schema`, and every quantitative word in it ("usually",
"far worse", "better than PCA") is chosen from the number it describes. Where an
expected effect did not show up, the sentence says so (and why, where the run
shows why) instead of asserting it. Each function takes only the results its
section talks about; results that a run may lack are read with ``getattr(..., None)``
and their sentences left out, never guessed.

`GLOSSARY` defines, in plain words, every term the page uses before the section
that explains it; the page shows it near the top and links each term's first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from vaelab.experiments.compare import CompareResult
from vaelab.experiments.curse import RepresentationContrast
from vaelab.experiments.holes import HolesComparison
from vaelab.experiments.sweep import BetaSweep, SweepPoint
from vaelab.report.explain._format import _g, _pct
from vaelab.report.explain._schema import (
    SETTLED,
    CurseStage,
    GenerationStage,
    LinearStage,
    ObjectiveStage,
    PCAStage,
    TrainingRecord,
    TwoDStage,
    Typicality,
)

if TYPE_CHECKING:
    from vaelab.report.explain._figures import Figure


@dataclass
class Section:
    """One storyline step: plain words, then measurements, then formulas (TeX)."""

    id: str
    title: str
    plain: list[str]
    measure: list[str] = field(default_factory=list)
    formulas: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # measurements not available in this run
    figures: list[Figure] = field(default_factory=list)  # drawn between words and numbers


@dataclass(frozen=True)
class Term:
    """One glossary entry: its anchor, its name, how its uses look, what it means."""

    key: str  # the entry's anchor is "g-<key>"
    name: str
    pattern: str  # a regular expression matching its uses in the page's words
    definition: str


# In reading order: each definition uses only terms defined above it (tests check it).
GLOSSARY: tuple[Term, ...] = (
    Term(
        "code",
        "code, latent",
        r"\b(?:codes?|latents?)\b",
        "the short list of numbers a model uses to describe one sample. Its entries are the "
        "latent variables ('latent' means hidden: they are not measured but worked out from the "
        "sample). All possible codes together form the code space, or latent space.",
    ),
    Term(
        "autoencoder",
        "autoencoder (AE)",
        r"\b(?:autoencoders?|AE)\b",
        "two neural networks trained together: an encoder turns each sample into a code, a "
        "decoder turns the code back into a sample, and training makes the decoded sample close "
        "to the original (section 3).",
    ),
    Term(
        "pca",
        "PCA",
        r"\bPCA\b",
        "principal component analysis: the straight-line way to find codes. It keeps the few "
        "directions along which the samples differ most (section 2).",
    ),
    Term(
        "vae",
        "VAE",
        r"\b(?:VAEs?|variational autoencoders?)\b",
        "variational autoencoder: an autoencoder whose encoder gives each sample a small cloud "
        "of likely codes instead of one point, with all clouds kept in one agreed region of "
        "code space, so that new codes can be drawn there and decoded (section 5).",
    ),
    Term(
        "variance",
        "variance, spread",
        r"\bvariances?\b",
        "the average squared distance of values from their mean. Its square root, the standard "
        "deviation, is what this page calls the spread.",
    ),
    Term(
        "gaussian",
        "Gaussian (bell curve), N(0, I)",
        r"\b(?:Gaussians?|bell[- ]curves?)\b|N\(0, ?I",
        "the bell-shaped distribution: values near its mean are the most likely, and its spread "
        "sets its width. N(0, I) is the standard Gaussian in several dimensions: mean 0 and "
        "spread 1 in every direction, the directions independent of each other. The I is the "
        "identity matrix (ones on the diagonal, zeros elsewhere), the covariance that says so.",
    ),
    Term(
        "mixture",
        "mixture",
        r"\bmixtures?\b",
        "a distribution made of several Gaussians, each with its own centre, spread and weight: "
        "it can follow data that lies in several clumps.",
    ),
    Term(
        "quantile",
        "quantile, percentile",
        r"\b(?:quantiles?|percentiles?)\b",
        "the value below which a given share of a distribution lies. For the standard Gaussian "
        "the 0.1 quantile is −1.28: one draw in ten falls below it. A percentile is the same in "
        "per cent: the 99th percentile is the 0.99 quantile.",
    ),
    Term(
        "query",
        "query",
        r"\bquery\b",
        "the sample whose nearest and farthest neighbours are being looked up.",
    ),
    Term(
        "prior",
        "prior, p(z)",
        r"\bprior\b",
        "where a VAE expects codes to lie before it has seen any sample: here the standard "
        "Gaussian N(0, I). A new sample is made by drawing a code from the prior and decoding it.",
    ),
    Term(
        "likelihood",
        "likelihood, log p(x)",
        r"\blikelihoods?\b|\blog p\(x\)",
        "how probable a model finds a sample x. The decoder gives p(x|z), the probability of x "
        "for one code z; p(x) averages that over all codes the prior allows. The page uses its "
        "logarithm, log p(x): higher means the model finds x more typical. Log-likelihoods can be "
        "compared only between models of the same kind (likelihood family): a density over real "
        "values (Gaussian) can exceed 1, so its log can be positive, while a probability of "
        "on/off values (Bernoulli) cannot.",
    ),
    Term(
        "posterior",
        "posterior, p(z|x)",
        r"\bposteriors?\b",
        "which codes could have produced a given sample x, and how probably: what the model "
        "knows about x's code after seeing x. A VAE's encoder approximates it with q(z|x).",
    ),
    Term(
        "nats",
        "nats",
        r"\bnats?\b",
        "the unit of log p(x) and of information when logarithms are natural (base e): a log p(x) "
        "higher by 1 nat means e ≈ 2.72 times as probable. 1 nat is 1.44 bits.",
    ),
    Term(
        "kl",
        "KL divergence",
        r"\bKL\b|Kullback",
        "the Kullback–Leibler divergence KL(q ‖ p), in nats: how different a distribution q is "
        "from a reference p. It is 0 when they are the same and grows as they differ.",
    ),
    Term(
        "elbo",
        "ELBO",
        r"\bELBO\b|evidence lower bound",
        "the evidence lower bound: a number a VAE can compute for each sample that is never "
        "above its log p(x). A VAE is trained to make it large (section 6).",
    ),
    Term(
        "importance",
        "importance sampling",
        r"\bimportance[- ]sampl\w*",
        "estimating log p(x) from K codes drawn from the encoder's cloud q(z|x) instead of the "
        "prior, each weighted by how much likelier it is under the model than under q. More "
        "draws give a closer estimate; on average it stays below the true value.",
    ),
    Term(
        "manifold",
        "manifold",
        r"\bmanifolds?\b",
        "a smooth surface of few dimensions inside a space of many, like a curved sheet of paper "
        "in 3-D: the region where real samples lie.",
    ),
    Term(
        "tsne",
        "t-SNE",
        r"\bt-SNE\b",
        "a method that places samples in 2-D so that close neighbours stay close. It is made for "
        "pictures: it has no decoder and cannot place a new sample without starting over.",
    ),
    Term(
        "umap",
        "UMAP",
        r"\bUMAP\b",
        "a method like t-SNE that places samples in 2-D keeping close neighbours close; unlike "
        "t-SNE, it can place new samples.",
    ),
)


def _how_often(f: float) -> str:
    """An adverb for a share of cases, chosen from its value.

    Examples
    --------
    >>> _how_often(0.983), _how_often(0.8), _how_often(0.5), _how_often(0.216), _how_often(0.01)
    ('almost always', 'usually', 'about half the time', 'about one time in 5', 'rarely')
    """
    if f >= 0.97:
        return "almost always"
    if f >= 0.75:
        return "usually"
    if f >= 0.55:
        return "more often than not"
    if f >= 0.45:
        return "about half the time"
    if f >= 0.05:
        return f"about one time in {round(1 / f)}"
    return "rarely" if f > 0 else "never"


def _fold(a: float, b: float) -> str:
    """How many times a is b, for prose: ``_fold(6.45, 0.143)`` is ``'45×'``."""
    return f"{_g(a / b, 2)}×" if b > 0 else "infinitely"


def _at(values: list, dims: list, d: int):
    return values[dims.index(d)]


def curse_section(c: CurseStage, rc: RepresentationContrast, data_name: str) -> Section:
    """Step 1: distances concentrate and Gaussian mass sits in a shell."""
    conc, ann = c.concentration, c.annulus
    dims = conc.dims
    lo, hi = dims[0] if dims[0] > 1 else dims[1], dims[-1]
    c_lo, c_hi = _at(conc.contrast_mean, dims, lo), _at(conc.contrast_mean, dims, hi)
    if c_hi >= c_lo:
        verdict = "The gap did not shrink on this run: the effect did not show."
    elif c_hi < 0.25:
        verdict = f"It shrank {_fold(c_lo, c_hi)}: nearest and farthest neighbours are almost equally far."
    else:
        verdict = (
            f"It shrank {_fold(c_lo, c_hi)}, yet the farthest point is still {_pct(c_hi)} farther "
            "than the nearest: distances still tell points apart."
        )
    m = [
        f"Random points spread uniformly in a cube: in {lo} dimensions a query's farthest point "
        f"is on average {_g(c_lo)} times farther away than its nearest one, beyond the nearest "
        f"distance itself; in {hi} dimensions that relative gap is {_g(c_hi)}. {verdict}"
    ]
    d, length, sd = ann.dims[-1], ann.norm_over_sqrt_d[-1], ann.norm_sd[-1]
    inside = ann.fraction_within_unit_ball[-1]
    near = (
        f"none of {ann.n_samples} draws lies"
        if inside == 0
        else f"{_pct(inside)} of the draws lie"
        if inside < 0.5
        else f"still {_pct(inside)} of the draws lie"
    )
    m.append(
        f"Random draws from a {d}-dimensional bell curve (a standard Gaussian) have length "
        f"{_g(length)} × √d on average, with a spread of {_g(sd)} "
        f"({_pct(sd / (length * math.sqrt(d)))} of that length): {near} within distance 1 of "
        "the centre, where the density is highest."
    )
    parts = [
        f"{n} ({d} numbers per sample): {_g(cm)}"
        for n, d, cm in zip(rc.names, rc.dims, rc.contrast_mean, strict=True)
    ]
    raw, low = rc.contrast_mean[0], min(rc.contrast_mean[1:])
    verdict = (
        f"the raw {rc.names[0]} have the smallest gap ({_g(raw)} against {_g(low)} for the next "
        "smallest): they are the hardest to tell apart by distance"
        if raw < low
        else f"on this data the raw {rc.names[0]} are not the hardest to tell apart by distance "
        f"({_g(raw)} against {_g(low)}); the effect above is about independent coordinates, "
        "and real data is far from that"
    )
    m.append(
        f"On your data ({data_name}), the same relative gap, measured in different "
        f"representations: {'; '.join(parts)}. Here {verdict}."
    )
    return Section(
        "curse",
        "1. The curse of dimensionality",
        [
            "Each of your samples is a long list of numbers: one per pixel or feature. Think of it "
            "as a point in a space with that many directions (dimensions). In such a space, data is "
            "sparse: even a large dataset leaves most of the space empty. Worse, for points with "
            "independent coordinates, distances stop being informative as dimensions are added: "
            "every point becomes about as far from every other point, so 'the most similar "
            "sample' means less and less. Move the slider to see how the distances between "
            "random points bunch up as the number of dimensions d grows."
        ],
        m,
        [
            r"\text{relative contrast} = \frac{D_{\max} - D_{\min}}{D_{\min}} \to 0 "
            r"\text{ as } d \to \infty \quad(\text{Beyer et al. 1999})",
            r"z \sim \mathcal{N}(0, I_d):\quad \lVert z\rVert \approx \sqrt d \pm 0.7",
        ],
    )


def reduce_section(p: PCAStage) -> Section:
    """Step 2: what PCA keeps."""
    m = []
    k, n = p.k_for_90, p.n_features
    if k is None:
        m.append(
            f"Your data has {n} numbers per sample, and even 100 directions found by PCA keep "
            "less than 90% of its variation: it is spread over many directions."
        )
    else:
        few = "only " if k <= n / 4 else ""
        spread = (
            "the data lies close to a much smaller space"
            if k <= n / 4
            else "the data uses many of its directions"
        )
        m.append(
            f"Your data has {n} numbers per sample, and {few}{k} directions found by PCA "
            f"({_pct(k / n)} of them) keep 90% of its variation: {spread}."
        )
    se = p.squared_error
    if "2" in se:
        kept = 1 - se["2"] / p.total_squared_distance
        m.append(
            f"Keeping only 2 numbers per sample, PCA's reconstruction misses "
            f"{_g(se['2'])} (mean squared distance to the original), against "
            f"{_g(p.total_squared_distance)} if every sample were replaced by the average "
            f"sample: {_pct(kept)} of the variation survives in 2 numbers"
            + (", most of it." if kept >= 0.5 else ", so most of it is lost.")
        )
    return Section(
        "reduce",
        "2. Dimensionality reduction: what it is and why",
        [
            "Dimensionality reduction finds a short description (a code) of each sample that keeps "
            "what matters about it, so that comparing, visualising and learning become possible "
            "again. Real data is usually not spread over all its dimensions: images of digits, for "
            "example, occupy a thin, curved region of pixel space. Principal component analysis "
            "(PCA) is the simplest answer: it keeps the few straight-line directions along which "
            "the data varies most."
        ],
        m,
        [
            r"\text{PCA code: } z = U_k^\top (x - \bar x),\qquad \text{reconstruction: } "
            r"\hat x = \bar x + U_k z"
        ],
    )


def training_sentence(training: dict[str, TrainingRecord], n_valid: int) -> str:
    """How long the page's models trained, and whether their validation loss had settled.

    Examples
    --------
    >>> r = TrainingRecord(10, 100, [5.0, 4.0, 3.0, 2.99], 0.003)
    >>> training_sentence({"AE": r, "VAE": r}, 50)  # doctest: +ELLIPSIS
    'Each of the 2 networks on this page trained for 100 gradient steps (10 passes...'
    """
    recs = list(training.values())
    steps = sorted({r.steps for r in recs})
    epochs = sorted({r.epochs for r in recs})
    how = (
        f"{steps[0]} gradient steps ({epochs[0]} passes over the training samples)"
        if len(steps) == 1 and len(epochs) == 1
        else f"{steps[0]} to {steps[-1]} gradient steps"
    )
    changes = {k: r.last_quarter_change for k, r in training.items() if r.last_quarter_change is not None}
    out = f"Each of the {len(recs)} networks on this page trained for {how}."
    if not changes:
        return out
    moving = {k: c for k, c in changes.items() if abs(c) >= SETTLED}
    out += (
        f" To check that this was enough, {n_valid} training samples were held out: over the last "
        "quarter of training, the loss on them (the negative ELBO, or the reconstruction error of "
        "an autoencoder) "
    )
    if not moving:
        return (
            out + f"moved by less than {_pct(SETTLED)} for every network, so the numbers below had settled."
        )
    worst = max(moving, key=lambda k: abs(moving[k]))
    rising = [k for k, c in moving.items() if c < 0]
    out += (
        f"moved by less than {_pct(SETTLED)} for {len(changes) - len(moving)} of {len(changes)} "
        f"networks; the most for the {worst} ({_pct(abs(moving[worst]))})."
    )
    if rising:
        out += (
            f" For {', '.join(rising)} it rose: {'that network fits' if len(rising) == 1 else 'those fit'} "
            "the training samples more closely than new ones (overfitting), as a model with little "
            "or no KL term can."
        )
    return out


def autoencoder_section(
    t: TwoDStage, p: PCAStage, training: dict[str, TrainingRecord] | None = None, n_valid: int = 0
) -> Section:
    """Step 3: the AE against PCA at the same code size, and how long every model trained."""
    ae, pca2 = t.ae.squared_error, p.squared_error.get("2")
    m = [training_sentence(training, n_valid)] if training else []
    if pca2 is not None:
        change = (ae - pca2) / pca2
        if change <= -0.05:
            verdict = f"{_pct(-change)} less error. The curved (non-linear) map keeps more."
        elif change < 0.05:
            verdict = f"within {_pct(abs(change))} of each other. No clear gain from the curved map."
        else:
            epochs = getattr(getattr(t.ae, "training", None), "epochs", None)
            why = f" after {epochs} passes over the data" if epochs else ""
            verdict = (
                f"{_pct(change)} more error. On this run{why} the curved map did not beat the "
                "straight-line one. A neural network has to be trained towards what PCA computes "
                "directly, and a short training may not get there."
            )
        m.append(
            f"With a 2-number code, the autoencoder reconstructs test samples with a squared error "
            f"‖x − g(f(x))‖² of {_g(ae)} on average (summed over the {p.n_features} values of a "
            f"sample), against {_g(pca2)} for PCA with 2 components: {verdict}"
        )
    return Section(
        "autoencoder",
        "3. The autoencoder, in its own terms",
        [
            "An autoencoder is a pair of neural networks. The encoder f squeezes a sample x into a "
            "short code z; the decoder g expands the code back into a sample. They are trained "
            "together so that g(f(x)) comes out close to x. Reducing (encoding) and reconstructing "
            "(decoding) are two inverse problems solved at once. An autoencoder is a dimensionality "
            "reduction method: a curved generalisation of PCA. It was not built to invent new "
            "samples."
        ],
        m,
        [r"\min_{f,g}\ \frac1N\sum_{i} \lVert x_i - g(f(x_i))\rVert^2"],
    )


SHOWN = 0.1  # a difference in sample score this large is an effect worth stating


def sample_score(smp: Any) -> float | None:
    """How well one sampler's decodings do on both counts: the lower of precision and recall.

    ``smp`` is a `SamplerRealism` or a `SweepPoint`. Precision (against real
    training samples) is low when decodings fall off the data; recall against the
    model's own reconstructions is low when they cover only part of it (all alike).
    Recall is taken against the reconstructions because every decoder's output is
    smoother than real samples, so against real samples recall stays near 0 even for
    reconstructions: the decoder's blur would hide the sampler's coverage.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> sample_score(NS(precision=0.9, own_recall=0.2)), sample_score(NS(precision=None, own_recall=0.2))
    (0.2, None)
    """
    pr = _pr(smp)
    return None if pr is None else min(pr)


def _pr(smp: Any) -> tuple[float, float] | None:
    """(precision, recall against own reconstructions), or None when not measured."""
    p, r = getattr(smp, "precision", None), getattr(smp, "own_recall", None)
    return None if p is None or r is None else (float(p), float(r))


def _failure(p: float, r: float) -> str:
    """Which way a sampler's decodings fail: off the data, or all alike."""
    return "fall off the data" if p < r else "cover only part of it"


def _sampling_sentences(h: HolesComparison) -> list[str]:
    """Section 4's numbers: four ways to sample, scored by precision and recall."""
    ae, vae = h.by_name("AE"), h.by_name("VAE")
    rows = [
        ("the autoencoder, codes from the prior N(0, I)", _pr(ae.samplers.get("prior"))),
        ("the autoencoder, codes from a Gaussian fitted to its codes", _pr(ae.samplers.get("gaussian"))),
        ("the autoencoder, codes from a mixture fitted to its codes", _pr(ae.samplers.get("gmm"))),
        ("the VAE, codes from its prior N(0, I)", _pr(vae.samplers.get("prior"))),
    ]
    first, last = rows[0][1], rows[-1][1]
    if first is None or last is None:
        return []
    scored = [(lab, pr) for lab, pr in rows if pr is not None]
    z = ae.latent_dim
    listed = "; ".join(f"{lab}: precision {_g(p, 2)}, recall {_g(r, 2)}" for lab, (p, r) in scored)
    listed = listed[0].upper() + listed[1:]  # it starts a sentence
    ceiling = (
        f" For reference, real test samples score a precision of {_g(h.test_precision, 2)} against "
        "the training samples. Decodings that all sit in the densest part of the data can score "
        "above that, which is why recall is read beside precision."
        if h.test_precision is not None
        else ""
    )
    out = [
        f"With {z}-number codes, an autoencoder and a VAE of the same size were trained on your "
        f"data, and {ae.n_fidelity or 'the'} decodings of random codes per sampler were scored "
        "without labels by precision and recall (Kynkäänniemi et al. 2019): precision is the "
        "share of decoded samples that fall among real samples; recall the share of the model's "
        f"reconstructions of real samples that decoded samples come near. {listed}.{ceiling}"
    ]
    (pa, ra), (pv, rv) = first, last
    sa, sv = min(first), min(last)
    ka, kv = ae.mismatch.gaussian_kl, vae.mismatch.gaussian_kl
    wide = ae.mismatch.code_std_mean > 1.5
    where = f"The autoencoder's codes sit {_g(ka)} nats (KL) from N(0, I), the VAE's {_g(kv)}: " + (
        "they spread far wider than the prior, so prior draws land in a small central part of "
        "them and decode to a narrow range of samples."
        if wide
        else "they fill a different region than the prior, so many prior draws land where no "
        "training code is."
    )
    if sv - sa >= SHOWN:
        out.append(
            f"Prior draws decoded by the autoencoder {_failure(pa, ra)} (precision {_g(pa, 2)}, "
            f"recall {_g(ra, 2)}); the VAE's score {_g(pv, 2)} and {_g(rv, 2)}. On the lower of "
            f"the two, {_g(sa, 2)} against {_g(sv, 2)}: a difference of {_g(sv - sa, 2)}. {where}"
        )
    else:
        out.append(
            f"On this run the autoencoder's prior draws score {_g(sa, 2)} on the lower of "
            f"precision and recall, the VAE's {_g(sv, 2)}: the effect did not show at {z} "
            f"latents. {where}"
        )
    fitted = [(lab, min(pr)) for lab, pr in scored[1:-1]]
    if fitted:
        lab, sb = max(fitted, key=lambda r: r[1])
        rel = (
            "about as well as the VAE's prior"
            if abs(sb - sv) < 0.05
            else "better than the VAE's prior"
            if sb > sv
            else "still below the VAE's prior"
        )
        out.append(
            f"Sampling an autoencoder needs a second model of where its codes lie: "
            f"{lab.replace('the autoencoder, ', '')} brings its score to {_g(sb, 2)}, {rel} "
            f"({_g(sv, 2)}). The VAE builds that model in: its prior is where it keeps its codes."
        )
    return out


def holes_section(h: HolesComparison, large: HolesComparison | None = None) -> Section:
    """Step 4: what random codes decode to, for the AE and the VAE, measured.

    ``h``: the 2-D models (the picture); ``large``: an AE and VAE at the larger code
    size of section 6, where the numbers are quoted.
    """
    ae, vae = h.by_name("AE"), h.by_name("VAE")
    fa, fv = ae.mismatch.far_fraction, vae.mismatch.far_fraction
    s = Section(
        "holes",
        "4. What a deterministic code leaves out",
        [
            "The autoencoder places each training sample at one point in code space. Nothing in "
            "its training says what the space between those points means, nor where codes should "
            "live: they can sit anywhere, at any scale, with gaps between them. So a code picked "
            "at random (here from the standard bell curve N(0, I)) can land in a gap, where the "
            "decoder produces something unlike any real sample, or land only in a small part of "
            "the codes, so that random samples all look alike. Try it in 2-D: move over the code "
            "plane, or press 'sample from the prior'."
        ],
    )
    s.measure += _sampling_sentences(large if large is not None else h)
    pa, pv = _pr(ae.samplers.get("prior")), _pr(vae.samplers.get("prior"))
    if pa is not None and pv is not None and large is not None:
        big = large.by_name("AE")
        pb = _pr(big.samplers.get("prior"))
        if pb is not None and min(pb) < min(pa):
            tail = (
                f"With {big.latent_dim} numbers per code the autoencoder's prior draws score lower "
                f"still ({_g(min(pb), 2)}): the more dimensions, the more of the prior's volume its "
                "codes leave empty, which is why the numbers above use the larger code."
            )
        elif min(pa) < min(pv):
            tail = f"The 2-D planes show the effect at least as clearly as the {big.latent_dim}-number codes."
        else:
            tail = (
                "In 2-D the autoencoder's prior draws score no worse than the VAE's: on these data "
                f"the effect needs the larger code ({big.latent_dim} numbers) to show."
            )
        gap = "the 99th percentile of those distances"
        if fa > fv:
            far = (
                f"{_pct(fa)} of the autoencoder's 2-D prior draws land farther from every training "
                f"code than almost all training codes are from their nearest neighbour ({gap}), "
                f"against {_pct(fv)} for the VAE."
            )
        else:
            far = (
                f"Distance alone does not tell them apart here: {_pct(fa)} of the autoencoder's 2-D "
                f"prior draws and {_pct(fv)} of the VAE's land farther from every training code than "
                f"almost all training codes are from their nearest neighbour ({gap})."
            )
        s.measure.append(
            f"The 2-D models of the planes above, scored the same way: prior draws decoded by the "
            f"autoencoder score {_g(min(pa), 2)} (precision {_g(pa[0], 2)}, recall {_g(pa[1], 2)}), "
            f"by the VAE {_g(min(pv), 2)} ({_g(pv[0], 2)} and {_g(pv[1], 2)}). {far} {tail}"
        )
    return s


def vae_section(t: TwoDStage, h: HolesComparison) -> Section:
    """Step 5: the VAE's codes fill the prior."""
    a, v = t.ae, t.vae
    m = [
        f"The VAE's 2-D codes (posterior means) have mean ({_g(v.code_mean[0])}, "
        f"{_g(v.code_mean[1])}) and spread ({_g(v.code_std[0])}, {_g(v.code_std[1])}); the "
        f"autoencoder's: mean ({_g(a.code_mean[0])}, {_g(a.code_mean[1])}), spread "
        f"({_g(a.code_std[0])}, {_g(a.code_std[1])}). The prior asks for mean 0 and spread 1. "
        "A VAE's posterior means may spread less than 1: each code is also a cloud of its own "
        "spread, and the clouds together are what should fill the prior."
    ]
    ka, kv = h.by_name("AE").mismatch.gaussian_kl, h.by_name("VAE").mismatch.gaussian_kl
    if kv < ka / 2 and kv < 0.5:
        verdict = f": {_fold(ka, kv)} closer, so the VAE's codes fill the space the prior describes."
    elif kv < ka:
        verdict = (
            f": closer than the autoencoder's ({_fold(ka, kv)}), but still {_g(kv)} nats from a perfect fit."
        )
    else:
        verdict = ": on this run the VAE's codes did not fit the prior better."
    m.append(
        f"Measured as a divergence from the prior (the KL divergence of a bell curve fitted to "
        f"codes drawn from each sample's cloud), the autoencoder's codes are {_g(ka)} nats away, "
        f"the VAE's {_g(kv)} nats{verdict}"
    )
    au = getattr(v, "active_units", None)
    if au is not None:
        m.append(
            f"{au.n_active} of the VAE's {au.latent_dim} code dimensions are in use (their "
            f"posterior mean varies across samples with variance above {_g(au.threshold)})."
        )
    return Section(
        "vae",
        "5. The VAE: make the code space a distribution",
        [
            "A variational autoencoder (VAE) is built to close those gaps. First it decides in "
            "advance where codes should live: a 'prior', the standard bell curve N(0, I), centred "
            "at zero with spread one in every direction. Second, its encoder does not give one "
            "point per sample but a small cloud: a mean μ(x) and a spread σ(x). During training, "
            "the code used is a random draw from that cloud, z = μ + σ·ε with ε random noise (this "
            "trick is called the reparameterization). Third, the decoder outputs a probability "
            "distribution over samples, p(x|z). Because codes are fuzzy and pulled towards the "
            "prior, neighbouring codes must decode to similar samples, and the prior's whole "
            "region gets used, so that codes drawn from the prior should decode to something "
            "like real samples. Sections 4 and 8 show how far that holds on your data."
        ],
        m,
        [
            r"p(z) = \mathcal{N}(0, I),\quad q(z\mid x) = \mathcal{N}\big(\mu(x), "
            r"\operatorname{diag}\sigma^2(x)\big),\quad z = \mu + \sigma\odot\varepsilon,\ "
            r"\varepsilon\sim\mathcal{N}(0,I)"
        ],
    )


FAMILIES = {"bernoulli": "Bernoulli", "gaussian": "Gaussian", "gaussian-learned": "Gaussian"}


def _family(likelihood: str) -> str:
    """The likelihood family of a decoder's likelihood name: ``'gaussian-learned'`` → Gaussian."""
    return FAMILIES.get(likelihood, likelihood.split("-")[0].capitalize())


LIKELIHOOD_REASONS = {
    "binary": "your data is binary (every value is 0 or 1), so each value is a coin flip with "
    "a probability the decoder gives: a Bernoulli distribution",
    "mnist-convention": "grey-level MNIST is modelled as Bernoulli by the convention of the VAE "
    "literature (Kingma & Welling 2014; Burda et al. 2015), which reads each grey level as a "
    "probability of ink, so this page's numbers compare with published ones; it is not a proper "
    "density over grey levels, which is why the comparison with pPCA below uses a separate "
    "Gaussian model",
    "real-valued": "your values are real numbers, so the decoder gives a proper density over "
    "them: a bell curve around its output, with one noise level for every value that is learned "
    "with the rest (the noise model of pPCA below)",
}


def likelihood_sentence(likelihood: str, reason: str, standardized: bool = False) -> str:
    """Which decoder likelihood the page's models use, and why.

    Examples
    --------
    >>> likelihood_sentence("bernoulli", "binary")[:60]
    'The decoders on this page give a Bernoulli likelihood: your '

    """
    out = f"The decoders on this page give a {_family(likelihood)} likelihood: " + LIKELIHOOD_REASONS.get(
        reason, reason
    )
    if standardized:
        out += (
            ". Each feature of your table was first shifted and scaled to mean 0 and spread 1, "
            "because features in different units would otherwise let the largest one decide every "
            "distance and loss"
        )
    return out + "."


def likelihood_formula(likelihood: str | None) -> str:
    """LaTeX of log p(x|z) for the page's decoder likelihood (a unit-variance Gaussian when unknown).

    Examples
    --------
    >>> print(likelihood_formula("bernoulli").split(":")[0])
    \\text{Bernoulli decoder
    """
    if likelihood == "bernoulli":
        return (
            r"\text{Bernoulli decoder: } \log p(x\mid z) = \sum_i \big[x_i \log g_i(z) + "
            r"(1 - x_i) \log\big(1 - g_i(z)\big)\big]"
        )
    if likelihood == "gaussian-learned":
        return (
            r"\text{Gaussian decoder, learned variance } \sigma^2\text{: } \log p(x\mid z) = "
            r"-\frac{\lVert x - g(z)\rVert^2}{2\sigma^2} - \frac{d}{2}\log 2\pi\sigma^2"
        )
    return (
        r"\text{Gaussian decoder, unit variance: } \log p(x\mid z) = -\tfrac12\lVert x - g(z)\rVert^2"
        r" + \text{const}"
    )


def objective_section(
    o: ObjectiveStage,
    lin: LinearStage,
    n_test: int,
    likelihood: str | None = None,
    reason: str | None = None,
    standardized: bool = False,
) -> Section:
    """Step 6: the ELBO, its gap to log p(x), and the exact linear case.

    ``likelihood``: the decoder likelihood of the VAE above (`DataSummary.likelihood`);
    its log p(x) is set against pPCA's only when both are Gaussian.
    """
    s = Section(
        "objective",
        "6. The objective: the ELBO",
        [
            "What should a VAE maximise? The natural goal is the probability the model gives to the "
            "real data, p(x) (its 'likelihood', on a log scale log p(x): higher is better). Computing "
            "it requires averaging over every possible code, which is intractable. The VAE instead "
            "maximises a quantity it can compute, the evidence lower bound (ELBO). It has two terms. "
            "The reconstruction term rewards codes that let the decoder reproduce x (with a bell-"
            "curve decoder of spread 1 it is half the autoencoder's squared error, plus a "
            "constant). The KL term (Kullback–Leibler divergence, a measure of how different two "
            "distributions are) penalises each sample's code cloud for straying from the prior. "
            "The ELBO is always below log p(x); the shortfall is how far the encoder's cloud "
            "q(z|x) is from the true posterior p(z|x), the exact distribution of codes given x."
        ],
    )
    if likelihood is not None and reason is not None:
        s.measure.append(likelihood_sentence(likelihood, reason, standardized))
    au = o.active_units
    s.measure.append(
        f"VAE with {o.latent_dim} latent dimensions, on {n_test} test samples: "
        f"reconstruction term {_g(-o.reconstruction)} nats, KL term {_g(o.kl)} nats, so "
        f"ELBO = {_g(o.elbo)} nats per sample. {au.n_active} of its {au.latent_dim} latent units "
        f"are in use (their code μ(x) varies across samples with variance above "
        f"{_g(au.threshold)})."
    )
    gap, se = o.gap, o.log_likelihood_se
    s.measure.append(
        f"An importance-sampled estimate of log p(x) with {o.iw_samples} samples per test "
        f"point gives {_g(o.log_likelihood)} ± {_g(se)} nats: the ELBO "
        f"(here averaged over the same {o.iw_samples} samples, {_g(o.elbo_k)}) is "
        f"{_g(gap)} nats below it. "
        + (
            "That estimate is itself a lower bound, so the true gap is at least this."
            if gap >= 0
            else f"The estimate came out below the ELBO by {_g(-gap)} nats: with {o.iw_samples} "
            "samples it is too noisy to show the gap."
        )
    )
    training = lin.ppca_log_likelihood - lin.linear_vae_log_likelihood
    own = (
        f"{_g(training)} nats below pPCA's: imperfect training of its decoder"
        if training >= 0
        else f"{_g(-training)} nats above pPCA's on these test samples "
        "(pPCA fits the training samples best, not the test samples)"
    )
    s.measure.append(
        f"Exact check on a linear model: probabilistic PCA (pPCA: PCA as a bell-curve model, "
        f"{lin.latent_dim} dimensions) has an exact test log p(x) of "
        f"{_g(lin.ppca_log_likelihood)} nats. A linear VAE with the same kind of generative model "
        f"reaches an ELBO of {_g(lin.linear_vae_elbo)} (exact here too), {_g(lin.gap_to_exact)} "
        f"nats below that exact value (its noise level σ² = {_g(lin.linear_vae_sigma2)} vs "
        f"pPCA's {_g(lin.ppca_sigma2)}). The gap splits exactly in two: the linear VAE's own "
        f"log p(x) is "
        f"{_g(lin.linear_vae_log_likelihood)}, {own}; and its encoder's q(z|x) is "
        f"{_g(lin.linear_vae_posterior_kl)} nats (KL) away from the true posterior p(z|x), the "
        f"ELBO's own shortfall. Importance sampling, which the VAE above needs, estimates the "
        f"linear VAE's log p(x) as {_g(lin.linear_vae_iw_log_likelihood)}"
        + (
            f", {_g(lin.linear_vae_log_likelihood - lin.linear_vae_iw_log_likelihood)} nats "
            "below the exact value."
            if lin.linear_vae_iw_log_likelihood < lin.linear_vae_log_likelihood
            else ", on the exact value."
        )
    )
    nl = getattr(lin, "nonlinear", None)
    fam = _family(likelihood) if likelihood is not None else None
    if fam is not None and fam != "Gaussian":
        s.measure.append(
            f"pPCA's log p(x) ({_g(lin.ppca_log_likelihood)}) cannot be set against the VAE's "
            f"above ({_g(o.log_likelihood)}): pPCA is a Gaussian density over real values, the "
            f"VAE above a {fam} model, and log-likelihoods compare only within one likelihood "
            "family. A density can exceed 1, so a Gaussian log p(x) can even be positive."
        )
    if nl is not None:
        gain, nse = nl.gain_over_ppca, nl.log_likelihood_se
        if gain > 2 * nse:
            verdict = "the curved decoder models your data better than the straight-line one."
        elif gain < -2 * nse:
            verdict = (
                "on this run the curved decoder did worse than the straight-line one, which pPCA "
                "solves exactly while the VAE has to be trained."
            )
        else:
            verdict = "no clear difference on this run (within twice the standard error)."
        which = "The VAE above, whose" if nl.is_objective_model else "A non-linear VAE whose"
        s.measure.append(
            f"{which} decoder is a bell curve with one learned noise level like pPCA's "
            f"(same family, so the numbers compare), with {nl.latent_dim} latent dimensions, "
            f"reaches an importance-sampled log p(x) of {_g(nl.log_likelihood)} ± {_g(nse)} nats: "
            f"{_g(abs(gain))} nats {'above' if gain >= 0 else 'below'} pPCA's exact "
            f"{_g(lin.ppca_log_likelihood)}: {verdict}"
            + (
                ""
                if nl.is_objective_model
                else f" {nl.active_units.n_active} of its {nl.active_units.latent_dim} latent units "
                "are in use."
            )
        )
    s.formulas = [
        r"\log p(x) = \mathrm{ELBO}(x) + \mathrm{KL}\big(q(z\mid x)\,\Vert\,p(z\mid x)\big)"
        r"\ \ge\ \mathrm{ELBO}(x)",
        r"\mathrm{ELBO}(x) = \mathbb{E}_{q(z\mid x)}\big[\log p(x\mid z)\big] - "
        r"\mathrm{KL}\big(q(z\mid x)\,\Vert\,p(z)\big)",
        likelihood_formula(likelihood),
        r"\mathrm{KL}\big(q\,\Vert\,p(z)\big) = \tfrac12\sum_j \big(\mu_j^2 + \sigma_j^2 - "
        r"\log\sigma_j^2 - 1\big)",
        r"\text{pPCA: } \log p(x) = -\tfrac12\big[d\log 2\pi + \log\det C + (x-\bar x)^\top "
        r"C^{-1}(x-\bar x)\big],\ C = WW^\top + \sigma^2 I",
    ]
    return s


COLLAPSE_SPREAD = 0.2  # prior samples this close to the data mean (relative): collapse


def _point_score(p: SweepPoint) -> float | None:
    """`sample_score` of one β's prior samples; None if not measured."""
    return sample_score(p) if getattr(p, "precision", None) is not None else None


def balance_section(
    sw: BetaSweep, objective_epochs: int | None = None, threshold: float | None = None
) -> Section:
    """Step 7: the β sweep, from AE-like codes to posterior collapse.

    ``objective_epochs``: the training passes of section 6's VAE, when they differ
    from the sweep's, so the page says why its β = 1 numbers differ. ``threshold``:
    the variance above which a unit counts as in use (`ActiveUnits.threshold`).
    """
    pts = sorted(sw.points, key=lambda p: p.beta)
    lo, hi = pts[0], pts[-1]
    z = sw.model["latent_dim"]
    what = "reconstruction only" if lo.beta == 0 else "the smallest weight in this sweep"
    m = [
        f"β weighs the KL term. At β = {lo.beta:g} ({what}) the codes carry "
        f"{_g(lo.rate)} nats of information about each sample (the rate) and the "
        f"distortion (the reconstruction term with its sign flipped) is {_g(lo.distortion)} "
        f"nats; at β = "
        f"{hi.beta:g}, the rate is {_g(hi.rate)} nats and the distortion {_g(hi.distortion)}."
    ]
    rates = [p.rate for p in pts]
    dists = [p.distortion for p in pts]
    ordered = all(a >= b for a, b in zip(rates, rates[1:], strict=False)) and all(
        a <= b for a, b in zip(dists, dists[1:], strict=False)
    )
    if ordered and lo.rate > hi.rate and lo.distortion < hi.distortion:
        m.append(
            f"Every step down in β bought better reconstruction with more rate: over the sweep, "
            f"{_g(lo.rate - hi.rate)} nats more rate lowered the distortion by "
            f"{_g(hi.distortion - lo.distortion)} nats. That is a rate–distortion trade-off."
        )
    elif lo.rate > hi.rate and lo.distortion < hi.distortion:
        m.append(
            "From the smallest β to the largest, rate fell and distortion rose, but not at every "
            "step: the models of neighbouring points differ by training noise as well as by β."
        )
    else:
        m.append(
            "On this run the sweep did not trade rate for distortion: the effect did not show, "
            "most likely because its models trained too briefly to settle."
        )
    units = ", ".join(f"{p.active_units} at β = {p.beta:g}" for p in pts)
    in_use = f"variance above {_g(threshold)}" if threshold is not None else "variance"
    m.append(
        f"Latent units in use (their code μ(x) varies across test samples with {in_use}, "
        f"Burda et al. 2015), out of {z}: {units}."
    )
    dead = next((p for p in pts if p.active_units == 0), None)
    if hi.active_units == 0 or hi.samples_spread < COLLAPSE_SPREAD:
        start = f"From β = {dead.beta:g} on, no" if dead is not None else "At the largest β, few"
        m.append(
            f"{start} latent unit carries information, and the decoder barely depends on the "
            f"code: at β = {hi.beta:g} its samples lie {_g(hi.samples_spread)}× as far from the "
            "average training sample as real samples do. That is posterior collapse — the "
            "decoder outputs nearly the same average sample whatever the code."
        )
    else:
        m.append(
            f"Even at β = {hi.beta:g}, {hi.active_units} of {z} latent units stay in use "
            f"and decoded samples keep {_g(hi.samples_spread)}× the spread of real ones: "
            "full posterior collapse did not show up in this sweep."
        )
    one = min(pts, key=lambda p: abs(math.log(p.beta / 1.0)) if p.beta > 0 else math.inf)
    s_lo, s_one = _point_score(lo), _point_score(one)
    if lo is not one and one.beta > 0 and s_lo is not None and s_one is not None:
        if s_one - s_lo >= SHOWN:
            verdict = (
                "with reconstruction alone" if lo.beta == 0 else "as the KL weight shrinks"
            ) + f", the holes of section 4 come back (a fall of {_g(s_one - s_lo, 2)})."
        else:
            verdict = "the holes of section 4 did not come back in this sweep."
        m.append(
            f"Holes: decodings of prior draws score {_g(s_lo, 2)} on the lower of precision "
            f"({_g(lo.precision or 0.0, 2)}) and recall ({_g(lo.own_recall or 0.0, 2)}) at "
            f"β = {lo.beta:g}, as in section 4; at β = {one.beta:g}, {_g(s_one, 2)}: {verdict}"
        )
    epochs = sw.train.get("epochs")
    if objective_epochs is not None and epochs != objective_epochs:
        m.append(
            f"Each VAE of the sweep trained for {epochs} passes over the data, the VAE of "
            f"section 6 for {objective_epochs}: the sweep's β = 1 point is a separate model, "
            "so its numbers differ from section 6's."
        )
    return Section(
        "balance",
        "7. The balance of the two terms",
        [
            "The two terms pull in opposite directions. The reconstruction term wants each code to "
            "say as much as possible about its sample. The KL term wants every code cloud to look "
            "like the prior, which says nothing about the sample. With reconstruction only, "
            "nothing keeps the codes where the prior is: the model drifts back towards an "
            "autoencoder. With KL only, codes ignore the data and the decoder learns to output "
            "the average sample. Multiplying the KL term by a weight β and sweeping it shows the "
            "whole trade-off."
        ],
        m,
        [
            r"\mathcal{L}_\beta = D + \beta R,\quad D = -\mathbb{E}_q\big[\log p(x\mid z)\big]"
            r"\ (\text{distortion}),\quad R = \mathrm{KL}\big(q(z\mid x)\,\Vert\,p(z)\big)"
            r"\ (\text{rate})\quad(\text{Alemi et al. 2018})"
        ],
    )


def generation_section(g: GenerationStage) -> Section:
    """Step 8: sampling, interpolation, the quantile grid."""
    n = NormalDist()
    z_lo, z_hi = n.inv_cdf(g.quantile_min), n.inv_cdf(g.quantile_max)
    return Section(
        "generation",
        "8. Generation falls out",
        [
            "Once a VAE's codes fill its prior, generating new samples is simple: draw a code "
            "from the prior and decode it. Walking in a straight line between the codes of two "
            "real samples decodes to a gradual change from one to the other. With a 2-D code, "
            "decoding a grid of points spread evenly over the prior's probability shows "
            "everything the model has learned in one picture."
        ],
        [
            f"The grids above: the VAE's decoder on a {g.grid_size}×{g.grid_size} grid of codes "
            f"at prior quantiles {_g(g.quantile_min)} to {_g(g.quantile_max)} in each direction "
            f"(z from {_g(z_lo)} to {_g(z_hi)}), next to the autoencoder's decoder on the same "
            "codes."
        ],
    )


def result_section(
    c: CompareResult,
    t: Typicality,
    unavailable: dict[str, str],
    likelihood: str | None = None,
    epochs: int | None = None,
) -> Section:
    """Step 9: the VAE as a dimensionality reducer and a typicality score.

    ``epochs``: the training passes of the 2-D AE and VAE compared here (sections 3–5).
    """
    s = Section(
        "result",
        "9. What you end up with",
        [
            "A VAE is a probabilistic dimensionality reducer: like PCA or an autoencoder it gives "
            "each sample a short code, and in addition it can generate new samples and tell how "
            "typical a sample is, through log p(x). One way to judge codes is to check whether "
            "neighbours in code space belong to the same class (k-nearest-neighbour accuracy, kNN) "
            "and whether code-space neighbours were neighbours in the original data "
            "(trustworthiness, 1 is best)."
        ],
    )
    parts = []
    for key, meth in c.methods.items():
        if not meth.available:
            s.missing.append(unavailable.get(key, f"{meth.label}: {'; '.join(meth.notes)}"))
            continue
        knn, tw = meth.knn_accuracy[0], meth.trustworthiness
        parts.append(
            f"{meth.label}: kNN accuracy {'n/a' if knn is None else _g(knn)}, "
            f"trustworthiness {'n/a' if tw is None else _g(tw)}"
        )
    s.measure.append(f"2-D codes of {c.n_test} test samples (k = {c.knn_k[0]}): " + "; ".join(parts) + ".")
    s.measure += _ranking(c, epochs if epochs is not None else c.epochs)
    if "labels" in unavailable:  # one class: kNN accuracy was not measured
        s.missing.append(unavailable["labels"])
    share = t.shuffled_below_threshold
    works = (
        "log p(x) tells them apart well"
        if share >= 0.9
        else "log p(x) catches some of them"
        if share >= 0.5
        else "on this data log p(x) is a weak anomaly score"
    )
    under = f" under the VAE's {_family(likelihood)} decoder" if likelihood else ""
    s.measure.append(
        f"As a typicality score: real test samples get log p(x) = {_g(t.real_mean)} nats{under} on "
        f"average; the same samples with their values shuffled get {_g(t.shuffled_mean)}. "
        f"{_pct(share)} of shuffled samples score below the lowest 1% of real ones, so they "
        f"would be flagged as anomalies: {works}."
    )
    return s


def _ranking(c: CompareResult, epochs: int) -> list[str]:
    """Where the VAE stands against PCA on each score, with the size of the difference."""
    vae, pca = c.methods.get("vae"), c.methods.get("pca")
    if vae is None or pca is None or not (vae.available and pca.available):
        return []
    scores: list[tuple[str, Any, Any]] = [
        ("kNN accuracy", vae.knn_accuracy[0], pca.knn_accuracy[0]),
        ("trustworthiness", vae.trustworthiness, pca.trustworthiness),
    ]
    above, level, below = [], [], []
    for name, v, p in scores:
        if v is None or p is None:
            continue
        if v >= p + 0.02:
            above.append(f"{name} (by {_g(v - p, 2)})")
        elif v > p - 0.02:
            level.append(name)
        else:
            below.append(f"{name} (by {_g(p - v, 2)})")
    out = []
    if above:
        out.append(f"The VAE's codes beat PCA's on {' and '.join(above)}.")
    if level:
        out.append(f"The VAE and PCA are level (within 0.02) on {' and '.join(level)}.")
    if below:
        out.append(
            f"The VAE's codes score below PCA's on {' and '.join(below)}: here the curved code "
            "did not beat the straight-line one. A VAE is trained to model the data, not to "
            f"separate classes, and these 2-D models trained for {epochs} passes over the data; "
            "this run does not measure whether longer training would change the order."
        )
    return out
