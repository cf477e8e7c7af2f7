"""The page's words: plain-language paragraphs and sentences built from this run's numbers.

Every sentence about a measurement is computed from the typed stage results of
`vaelab.report.explain._schema`; where an expected effect did not show up, the
sentence says so instead of asserting it. Each function takes only the results
its section talks about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vaelab.experiments.compare import CompareResult
from vaelab.experiments.curse import RepresentationContrast
from vaelab.experiments.holes import HolesComparison
from vaelab.experiments.sweep import BetaSweep
from vaelab.report.explain._schema import (
    CurseStage,
    GenerationStage,
    LinearStage,
    ObjectiveStage,
    PCAStage,
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


def _g(x: float, digits: int = 3) -> str:
    """A number for prose.

    Examples
    --------
    >>> _g(3.14159), _g(1234.5), _g(0.000123)
    ('3.14', '1234', '0.000123')
    """
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _at(values: list, dims: list, d: int):
    return values[dims.index(d)]


def curse_section(c: CurseStage, rc: RepresentationContrast, data_name: str) -> Section:
    """Step 1: distances concentrate and Gaussian mass sits in a shell."""
    conc, ann = c.concentration, c.annulus
    dims = conc.dims
    lo, hi = dims[0] if dims[0] > 1 else dims[1], dims[-1]
    c_lo, c_hi = _at(conc.contrast_mean, dims, lo), _at(conc.contrast_mean, dims, hi)
    m = [
        f"Random points spread uniformly in a cube: in {lo} dimensions a query's farthest point "
        f"is on average {_g(c_lo)} times farther away than its nearest one, beyond the nearest "
        f"distance itself; in {hi} dimensions that relative gap has shrunk to {_g(c_hi)}. "
        + (
            "Nearest and farthest neighbours become almost equally far."
            if c_hi < c_lo / 10
            else "The gap shrank, but less than expected."
        )
    ]
    m.append(
        f"Random draws from a {ann.dims[-1]}-dimensional bell curve (a standard Gaussian) "
        f"have length {_g(ann.norm_over_sqrt_d[-1])} × √d on average, with a spread of only "
        f"{_g(ann.norm_sd[-1])}: almost none lie near the centre, where the density is "
        f"highest ({_g(100 * ann.fraction_within_unit_ball[-1])}% within distance 1)."
    )
    parts = [
        f"{n} ({d} numbers per sample): {_g(cm)}"
        for n, d, cm in zip(rc.names, rc.dims, rc.contrast_mean, strict=True)
    ]
    raw, low = rc.contrast_mean[0], min(rc.contrast_mean[1:])
    verdict = (
        f"the raw {rc.names[0]} are the hardest to tell apart by distance"
        if raw < low
        else f"on this data the raw {rc.names[0]} are not the hardest to "
        "tell apart by distance; the effect above is about independent coordinates, and "
        "real data is far from that"
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
            "sparse: even a large dataset leaves most of the space empty. Worse, distances stop "
            "being informative: every point is roughly as far from every other point, so 'the most "
            "similar sample' barely means anything. Move the slider to see how the distances "
            "between random points bunch up as the number of dimensions d grows."
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
    if p.k_for_90 is not None:
        m.append(
            f"Your data has {p.n_features} numbers per sample, yet {p.k_for_90} directions "
            f"found by PCA keep 90% of its variation."
        )
    se = p.squared_error
    if "2" in se:
        m.append(
            f"Keeping only 2 numbers per sample, PCA's reconstruction misses "
            f"{_g(se['2'])} (mean squared distance to the original), against "
            f"{_g(p.total_squared_distance)} if every sample were replaced by the average "
            f"sample: {_g(100 * (1 - se['2'] / p.total_squared_distance))}% of the "
            "variation survives in 2 numbers."
        )
    return Section(
        "reduce",
        "2. Dimensionality reduction: what it is and why",
        [
            "Dimensionality reduction finds a short description (a code) of each sample that keeps "
            "what matters about it, so that comparing, visualising and learning become possible "
            "again. Real data is not spread over all its dimensions: images of digits occupy a thin, "
            "curved region of pixel space. Principal component analysis (PCA) is the simplest "
            "answer: it keeps the few straight-line directions along which the data varies most."
        ],
        m,
        [
            r"\text{PCA code: } z = U_k^\top (x - \bar x),\qquad \text{reconstruction: } "
            r"\hat x = \bar x + U_k z"
        ],
    )


def autoencoder_section(t: TwoDStage, p: PCAStage) -> Section:
    """Step 3: the AE against PCA at the same code size."""
    ae, pca2 = t.ae.squared_error, p.squared_error.get("2")
    m = []
    if pca2 is not None:
        m.append(
            f"With a 2-number code, the autoencoder reconstructs test samples with a mean "
            f"squared error of {_g(ae)}, against {_g(pca2)} for PCA with 2 components: "
            + (
                "the curved (non-linear) map keeps more."
                if ae < pca2
                else "on this run it did not beat the straight-line map (training may have been "
                "too short, or the data too linear)."
            )
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


def holes_section(h: HolesComparison) -> Section:
    """Step 4: random codes decode to junk for the AE, measured."""
    s = Section(
        "holes",
        "4. What a deterministic code leaves out",
        [
            "The autoencoder places each training sample at one point in code space. Nothing in "
            "its training says what the space between those points means, nor where codes should "
            "live: they can sit anywhere, at any scale, with gaps between them. So if you pick a "
            "code at random and decode it, you usually land in a gap, and the decoder produces "
            "something unlike any real sample. Try it below: move over the code plane, or press "
            "'sample from the prior'."
        ],
    )
    ae, vae = h.by_name("AE"), h.by_name("VAE")
    ra, rv = ae.samplers["prior"].nn_distance_ratio, vae.samplers["prior"].nn_distance_ratio
    s.measure.append(
        f"Codes drawn at random from a standard bell curve and decoded by the autoencoder are "
        f"{_g(ra)}× farther from the nearest real training sample than its reconstructions of "
        f"test samples; for the VAE (section 5) the same ratio is {_g(rv)}×. "
        + (
            "Random codes are far worse for the autoencoder."
            if ra > rv * 1.5
            else "Random codes are worse for the autoencoder, though only modestly on this run."
            if ra > rv * 1.05
            else "On this run the difference is small: the effect did not clearly show up."
        )
    )
    fa, fv = ae.mismatch.far_fraction, vae.mismatch.far_fraction
    s.measure.append(
        f"{_g(100 * fa)}% of those random codes land farther from every autoencoder training code "
        f"than almost all training codes are from their nearest neighbour (the 99th percentile); "
        f"for the VAE, {_g(100 * fv)}%."
    )
    ca = ae.samplers["prior"].classifier_confidence
    cv = vae.samplers["prior"].classifier_confidence
    if ca is not None and cv is not None and h.test_confidence is not None:
        s.measure.append(
            f"A classifier trained on real samples is on average {_g(100 * h.test_confidence)}% "
            f"sure of its answer on real test samples, {_g(100 * ca)}% on the autoencoder's random "
            f"decodings and {_g(100 * cv)}% on the VAE's."
        )
    g = ae.samplers.get("gmm")
    if g is not None:
        s.measure.append(
            f"Fitting a mixture of bell curves to the autoencoder's own codes and sampling from it "
            f"brings that distance ratio to {_g(g.nn_distance_ratio)}×: the codes can be "
            "sampled only once you model where they are — which is what the VAE builds in."
        )
    return s


def vae_section(t: TwoDStage, h: HolesComparison) -> Section:
    """Step 5: the VAE's codes fill the prior."""
    a, v = t.ae, t.vae
    m = [
        f"The VAE's 2-D codes (posterior means) have mean ({_g(v.code_mean[0])}, "
        f"{_g(v.code_mean[1])}) and spread ({_g(v.code_std[0])}, {_g(v.code_std[1])}); the "
        f"autoencoder's: mean ({_g(a.code_mean[0])}, {_g(a.code_mean[1])}), spread "
        f"({_g(a.code_std[0])}, {_g(a.code_std[1])}). The prior asks for mean 0 and spread 1."
    ]
    ka, kv = h.by_name("AE").mismatch.gaussian_kl, h.by_name("VAE").mismatch.gaussian_kl
    m.append(
        f"Measured as a divergence from the prior (KL of a bell curve fitted to the codes), "
        f"the autoencoder's codes are {_g(ka)} nats away, the VAE's {_g(kv)} nats"
        + (
            ": the VAE fills the space the prior describes."
            if kv < ka
            else ": on this run the VAE did not fit the prior better."
        )
    )
    return Section(
        "vae",
        "5. The VAE: make the code space a distribution",
        [
            "A variational autoencoder (VAE) fixes the gaps by design. First it decides in advance "
            "where codes should live: a 'prior', the standard bell curve N(0, I), centred at zero "
            "with spread one in every direction. Second, its encoder does not give one point per "
            "sample but a small cloud: a mean μ(x) and a spread σ(x). During training, the code "
            "used is a random draw from that cloud, z = μ + σ·ε with ε random noise (this trick is "
            "called the reparameterization). Third, the decoder outputs a probability distribution "
            "over samples, p(x|z). Because codes are fuzzy and pulled towards the prior, "
            "neighbouring codes must decode to similar samples, and the prior's whole region gets "
            "used: any code drawn from the prior decodes to something meaningful."
        ],
        m,
        [
            r"p(z) = \mathcal{N}(0, I),\quad q(z\mid x) = \mathcal{N}\big(\mu(x), "
            r"\operatorname{diag}\sigma^2(x)\big),\quad z = \mu + \sigma\odot\varepsilon,\ "
            r"\varepsilon\sim\mathcal{N}(0,I)"
        ],
    )


def objective_section(o: ObjectiveStage, lin: LinearStage, n_test: int) -> Section:
    """Step 6: the ELBO, its gap to log p(x), and the exact linear case."""
    s = Section(
        "objective",
        "6. The objective: the ELBO",
        [
            "What should a VAE maximise? The natural goal is the probability the model gives to the "
            "real data, p(x) (its 'likelihood', on a log scale log p(x): higher is better). Computing "
            "it requires averaging over every possible code, which is intractable. The VAE instead "
            "maximises a quantity it can compute, the evidence lower bound (ELBO). It has two terms. "
            "The reconstruction term rewards codes that let the decoder reproduce x (with a bell-"
            "curve decoder it is exactly the autoencoder's squared error). The KL term (Kullback–"
            "Leibler divergence, a measure of how different two distributions are) penalises each "
            "sample's code cloud for straying from the prior. The ELBO is always below log p(x); "
            "the shortfall is how far the encoder's cloud q(z|x) is from the true posterior "
            "p(z|x), the exact distribution of codes given x."
        ],
    )
    au = o.active_units
    s.measure.append(
        f"VAE with {o.latent_dim} latent dimensions, on {n_test} test samples: "
        f"reconstruction term −{_g(o.reconstruction)} nats, KL term {_g(o.kl)} nats, so "
        f"ELBO = {_g(o.elbo)} nats per sample. {au.n_active} of its {au.latent_dim} latent units "
        f"are in use (their code μ(x) varies across samples with variance above "
        f"{_g(au.threshold)})."
    )
    gap = o.gap
    s.measure.append(
        f"An importance-sampled estimate of log p(x) with {o.iw_samples} samples per test "
        f"point gives {_g(o.log_likelihood)} ± {_g(o.log_likelihood_se)} nats: the ELBO "
        f"(here averaged over the same {o.iw_samples} samples, {_g(o.elbo_k)}) is "
        f"{_g(gap)} nats below it. "
        + (
            "That estimate is itself a lower bound, so the true gap is at least this."
            if gap >= 0
            else "The estimate came out below the ELBO — too few samples."
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
        f"Exact check on a linear model: probabilistic PCA (PCA as a bell-curve model, "
        f"{lin.latent_dim} dimensions) has an exact test log p(x) of "
        f"{_g(lin.ppca_log_likelihood)} nats. A linear VAE with the same kind of generative model "
        f"reaches an ELBO of {_g(lin.linear_vae_elbo)} (exact here too), {_g(lin.gap_to_exact)} "
        f"nats below that exact value (its noise level σ² = {_g(lin.linear_vae_sigma2)} vs "
        f"pPCA's {_g(lin.ppca_sigma2)}). The gap splits exactly in two: the linear VAE's own "
        f"log p(x) is "
        f"{_g(lin.linear_vae_log_likelihood)}, {own}; and its encoder's q(z|x) is "
        f"{_g(lin.linear_vae_posterior_kl)} nats (KL) away from the true posterior p(z|x), the "
        f"ELBO's own shortfall. Importance sampling, which the VAE above needs, estimates the "
        f"linear VAE's log p(x) as {_g(lin.linear_vae_iw_log_likelihood)}."
    )
    s.formulas = [
        r"\log p(x) = \underbrace{\mathbb{E}_{q(z\mid x)}[\log p(x\mid z)] - "
        r"\mathrm{KL}\big(q(z\mid x)\,\Vert\,p(z)\big)}_{\text{ELBO}} + "
        r"\underbrace{\mathrm{KL}\big(q(z\mid x)\,\Vert\,p(z\mid x)\big)}_{\ge 0}",
        r"\text{Gaussian decoder, unit variance: } \log p(x\mid z) = -\tfrac12\lVert x - g(z)"
        r"\rVert^2 + \text{const}",
        r"\mathrm{KL}\big(q\,\Vert\,p(z)\big) = \tfrac12\sum_j \big(\mu_j^2 + \sigma_j^2 - "
        r"\log\sigma_j^2 - 1\big)",
        r"\text{pPCA: } \log p(x) = -\tfrac12\big[d\log 2\pi + \log\lvert C\rvert + (x-\bar x)^\top "
        r"C^{-1}(x-\bar x)\big],\ C = WW^\top + \sigma^2 I",
    ]
    return s


COLLAPSE_SPREAD = 0.2  # prior samples this close to the data mean (relative): collapse


def balance_section(sw: BetaSweep, objective_epochs: int | None = None) -> Section:
    """Step 7: the β sweep, from AE-like codes to posterior collapse.

    ``objective_epochs``: the training passes of section 6's VAE, when they differ
    from the sweep's, so the page says why its β = 1 numbers differ.
    """
    lo, hi = sw.points[0], sw.points[-1]
    z = sw.model["latent_dim"]
    m = [
        f"β weighs the KL term. At β = {lo.beta:g} (almost reconstruction only) the codes carry "
        f"{_g(lo.rate)} nats of information about each sample (the rate) and the "
        f"reconstruction term is {_g(lo.distortion)} nats (the distortion); at β = "
        f"{hi.beta:g}, the rate is {_g(hi.rate)} nats and the distortion {_g(hi.distortion)}."
    ]
    if hi.active_units == 0 or hi.samples_spread < COLLAPSE_SPREAD:
        m.append(
            f"With the KL term dominant, {hi.active_units} of {z} latent units carry "
            f"information, and the decoder barely depends on the code: its samples lie "
            f"{_g(hi.samples_spread)}× as far from the average training sample as real "
            "samples do. That is posterior collapse — the decoder outputs nearly the same "
            "average sample whatever the code."
        )
    else:
        m.append(
            f"Even at β = {hi.beta:g}, {hi.active_units} of {z} latent units stay in use "
            f"and decoded samples keep {_g(hi.samples_spread)}× the spread of real ones: "
            "full posterior collapse did not show up in this sweep."
        )
    if lo.rate > hi.rate and lo.distortion < hi.distortion:
        m.append(
            "Lower β buys better reconstruction with more rate: the sweep traces a rate–distortion trade-off."
        )
    else:
        m.append("The sweep did not order rate and distortion as expected on this run.")
    epochs = sw.train.get("epochs")
    if objective_epochs is not None and epochs != objective_epochs:
        m.append(
            f"Each VAE of the sweep trained for {epochs} passes over the data, the VAE of "
            f"section 6 for {objective_epochs}: the sweep's β = 1 point is a separate model, "
            "so its numbers differ from section 6's."
        )
    m.append(
        "A unit counts as in use when its code μ(x) varies across test samples with "
        "variance above 0.01 (Burda et al. 2015). With reconstruction alone (β → 0) a VAE "
        "drifts back towards an autoencoder: the codes' clouds shrink to points and the "
        "holes of section 4 return."
    )
    return Section(
        "balance",
        "7. The balance of the two terms",
        [
            "The two terms pull in opposite directions. The reconstruction term wants each code to "
            "say as much as possible about its sample. The KL term wants every code cloud to look "
            "like the prior, which says nothing about the sample. With reconstruction only, you get "
            "back an autoencoder with holes. With KL only, codes ignore the data and the decoder "
            "learns to output the average sample. Multiplying the KL term by a weight β and "
            "sweeping it shows the whole trade-off."
        ],
        m,
        [
            r"\mathcal{L}_\beta = \underbrace{-\mathbb{E}_q[\log p(x\mid z)]}_{\text{distortion}} + "
            r"\beta\,\underbrace{\mathrm{KL}(q(z\mid x)\,\Vert\,p(z))}_{\text{rate}}"
            r"\quad(\text{Alemi et al. 2018})"
        ],
    )


def generation_section(g: GenerationStage) -> Section:
    """Step 8: sampling, interpolation, the quantile grid."""
    return Section(
        "generation",
        "8. Generation falls out",
        [
            "Because the VAE's codes fill the prior, generating new samples is simple: draw a code "
            "from the prior and decode it. Walking in a straight line between the codes of two real "
            "samples decodes to a gradual change from one to the other. With a 2-D code, decoding a "
            "grid of points spread evenly over the prior's probability shows everything the model "
            "has learned in one picture."
        ],
        [
            f"Below: the VAE's decoder on a {g.grid_size}×{g.grid_size} grid at prior quantiles "
            f"{_g(g.quantile_min)} to {_g(g.quantile_max)}, next to the autoencoder's decoder on "
            "the same codes."
        ],
    )


def result_section(c: CompareResult, t: Typicality, unavailable: dict[str, str]) -> Section:
    """Step 9: the VAE as a dimensionality reducer and a typicality score."""
    s = Section(
        "result",
        "9. What you end up with",
        [
            "A VAE is a probabilistic dimensionality reducer: like PCA or an autoencoder it gives "
            "each sample a short code, and in addition it can generate new samples and tell how "
            "typical a sample is, through log p(x). One way to judge codes is to check whether "
            "neighbours in code space belong to the same class (k-nearest-neighbour accuracy) and "
            "whether code-space neighbours were neighbours in the original data "
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
    if "labels" in unavailable:  # one class: kNN accuracy was not measured
        s.missing.append(unavailable["labels"])
    s.measure.append(
        f"As a typicality score: real test samples get log p(x) = {_g(t.real_mean)} nats on "
        f"average; the same samples with their values shuffled get {_g(t.shuffled_mean)}. "
        f"{_g(100 * t.shuffled_below_threshold)}% of shuffled samples score below the "
        "lowest 1% of real ones, so they would be flagged as anomalies."
    )
    return s
