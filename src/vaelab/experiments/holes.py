"""Holes in the code space: what random codes decode to (storyline step 4).

An autoencoder's codes are scattered points and nothing says where codes should
live; a VAE's KL term pulls the aggregate posterior (the codes of all training
data) towards the prior N(0, I). This module measures the difference for
models that share architecture and latent size.

Realism of decoded samples (`SamplerRealism`), for codes drawn by each sampler
("prior": N(0, I); "gaussian": a Gaussian moment-matched to the model's own
training codes (posterior means for a VAE); "gmm": an ex-post GaussianMixture
fitted to them):

- ``nn_distance_median``: the median, over decoded samples, of the Euclidean
  distance (data space, decoder means) to the nearest training example;
- ``nn_distance_ratio``: that, divided by the model's *reference distance*
  (`HolesResult.reference_distance`): the median, over held-out test inputs,
  of the distance from their *reconstruction* to the nearest training example.
  Both are decoder outputs measured against the same training examples, so a
  ratio near 1 means "as close to real data as the reconstruction of a real
  input"; well above 1 means the samples lie off the data;
- the confidence (max class probability) and entropy (nats) of a classifier
  trained on the real training pixels (scikit-learn LogisticRegression),
  compared with the same on real test data. Junk decodes to low confidence
  and high entropy.

Mismatch between the aggregate posterior and N(0, I) (`CodeMismatch`), measured
on one draw z ~ q(z|x) per training input (`vaelab.core.inference.aggregate_posterior_codes`;
for an AE, its codes f(x)):

- ``far_fraction``: the fraction of prior draws whose nearest training code is
  farther than ``threshold``, the ``percentile`` (99th) of code→nearest-other-code
  distances: a prior draw landing in a hole of the code space;
- ``uncovered_fraction``: the mirror image, the fraction of codes whose nearest
  prior draw (as many draws as codes) is farther than the same percentile of
  draw→nearest-other-draw distances: codes in regions the prior never samples.
  Codes spread far wider than N(0, I) (as an MNIST autoencoder's are) swallow
  the prior whole, so few prior draws are "far", yet most codes are never
  reached; the two fractions together are the latent-space analogue of
  precision and recall (Kynkäänniemi et al. 2019);
- ``gaussian_kl``: KL(N(m, S) ‖ N(0, I)) in nats, with m and S the mean and
  covariance of the codes: ½(tr S + mᵀm − Z − log det S).

- ``gap_fraction``: the share of prior draws farther from every code than
  the codes' *typical* (median) code→nearest-other-code distance, and
  ``draw_distance_ratio``, the median draw→nearest-code distance over that
  median. Codes that fill N(0, I) give about 0.5 and 1 (a draw is then just
  another code); codes on a thin set inside a wide cloud leave most draws in
  the gaps between them (fraction → 1, ratio > 1), the more so the larger
  the code.

Label-free sample quality (`vaelab.experiments.fidelity`): the improved
precision and recall of Kynkäänniemi et al. (2019), k = 3, in a PCA feature
space fitted once on the real training data and shared by all models and
samplers (`SamplerRealism.precision` / ``recall``). Decoders output means,
smoother than real samples, and a set of smooth images has small k-NN balls:
its recall against real data stays near 0 whatever the codes (measured on
digits and MNIST). So each sampler is also scored against the model's own
reconstructions of the same real training samples (``own_precision`` /
``own_recall``): the decoder's blur is then on both sides, and what remains
is whether the sampled codes land where the data's codes are. Each model's
reconstructions of test inputs are scored against real data too
(`HolesResult.reconstruction_precision`): the ceiling its samples can reach;
and real test inputs against real training inputs
(`HolesComparison.test_precision`): the ceiling of the measure at this
sample size.

`compare_holes` runs it all for several models with one shared classifier
and feature space (``holes.json`` and its figures:
`vaelab.report.writers.write_holes`); `HolesComparison.table` lists one row
per (model, sampler).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from vaelab.core.inference import aggregate_posterior_codes, decode, encode, flat_array, seeded_subset
from vaelab.core.models import Model
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.experiments.fidelity import FeatureSpace, PrecisionRecall, precision_recall
from vaelab.experiments.latent import gaussian_codes, gmm_codes, prior_codes
from vaelab.experiments.options import SAMPLERS

__all__ = [
    "SAMPLERS",
    "CodeMismatch",
    "HolesComparison",
    "HolesResult",
    "SamplerRealism",
    "code_mismatch",
    "compare_holes",
    "fit_classifier",
    "holes_metrics",
    "moment_matched_kl",
]


def _nn_distance(reference: NearestNeighbors, queries: np.ndarray) -> np.ndarray:
    return reference.kneighbors(queries, n_neighbors=1)[0][:, 0]


def _probs_stats(classifier, x: np.ndarray) -> tuple[float, float]:
    """Mean max-probability and mean entropy (nats) of a classifier's predictions."""
    p = np.clip(classifier.predict_proba(x), 1e-12, 1.0)
    return float(p.max(axis=1).mean()), float(-(p * np.log(p)).sum(axis=1).mean())


def fit_classifier(train: Dataset, max_train: int = 10000, seed: int = 0) -> LogisticRegression:
    """A multinomial logistic regression on the raw training pixels: the judge of realism.

    Parameters
    ----------
    train : Dataset
        Must have labels.
    max_train : int
        Seeded subset size (time grows linearly with it).
    seed : int

    Returns
    -------
    sklearn.linear_model.LogisticRegression
        Fitted (``max_iter=300``; a convergence warning is silenced: the
        probabilities are what matter here, and they are stable by then).

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> d = load_dataset("digits")
    >>> clf = fit_classifier(d.train)
    >>> clf.score(d.test.x.reshape(len(d.test), -1), d.test.y) > 0.9
    True
    """
    if train.y is None:
        raise ConfigError(f"the classifier needs labels, but {train.name or 'the data'} has none")
    train = seeded_subset(train, max_train, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=300).fit(flat_array(train), np.asarray(train.y))


def moment_matched_kl(codes: np.ndarray) -> float:
    """KL(N(m, S) ‖ N(0, I)) in nats, with m, S the mean and covariance of ``codes`` (N, Z).

    0 when the codes look like N(0, I) to second order; large when they are
    shifted, spread too wide, or squeezed onto a lower-dimensional set
    (log det S → −∞; eigenvalues are floored at 1e-12).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(moment_matched_kl(rng.standard_normal((100000, 2))), 3)
    0.0
    >>> round(moment_matched_kl(3.0 * rng.standard_normal((100000, 1))), 2)  # ½(9 − 1 − log 9)
    2.9
    """
    codes = np.asarray(codes, dtype=np.float64)
    m = codes.mean(axis=0)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    eig = np.clip(np.linalg.eigvalsh(cov), 1e-12, None)
    return float(0.5 * (eig.sum() + m @ m - len(m) - np.log(eig).sum()))


@dataclass
class CodeMismatch:
    """How far the aggregate posterior (training codes) is from the prior N(0, I)."""

    n_codes: int  # training codes used
    n_draws: int  # prior draws tested
    percentile: float  # of code→nearest-other-code distances, defines "far"
    threshold: float  # that distance
    far_fraction: float  # share of prior draws farther than threshold from every code
    uncovered_fraction: float  # share of codes farther than prior_threshold from every prior draw
    prior_threshold: float  # the same percentile of prior-draw→nearest-other-draw distances
    gaussian_kl: float  # KL(N(mean, cov of codes) ‖ N(0, I)), nats
    code_mean_norm: float  # ‖mean of codes‖
    code_std_mean: float  # mean over dims of the codes' standard deviation
    median_threshold: float | None = None  # median code→nearest-other-code distance
    gap_fraction: float | None = None  # share of prior draws farther than that from every code
    draw_distance_ratio: float | None = None  # median draw→nearest-code distance / median_threshold

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def code_mismatch(
    codes: np.ndarray, n_draws: int = 2000, percentile: float = 99.0, seed: int = 0
) -> CodeMismatch:
    """Measure the holes the prior falls into: `CodeMismatch` of ``codes`` (N, Z) against N(0, I).

    "Far" is defined by the codes themselves: the ``percentile`` of each code's
    distance to its nearest other code. If the codes filled N(0, I), a prior
    draw would be as close to them as they are to each other, and about
    (100 − percentile) % of draws would count as far.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> code_mismatch(rng.standard_normal((2000, 2))).far_fraction < 0.05
    True
    >>> code_mismatch(5 + rng.standard_normal((2000, 2))).far_fraction > 0.9
    True
    >>> code_mismatch(10 * rng.standard_normal((2000, 2))).uncovered_fraction > 0.9
    True
    >>> round(code_mismatch(rng.standard_normal((2000, 2))).gap_fraction, 1)  # a draw is a code
    0.5
    """
    codes = np.asarray(codes, dtype=np.float64)
    if len(codes) < 3:
        raise ConfigError(f"need at least 3 codes to measure code-to-code distances, got {len(codes)}")
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile={percentile} must be in (0, 100]")
    nn = NearestNeighbors(n_neighbors=2).fit(codes)
    own = nn.kneighbors(codes, n_neighbors=2)[0][:, 1]  # column 0 is the code itself
    threshold = float(np.percentile(own, percentile))
    typical = float(np.median(own))
    draws = prior_codes(n_draws, codes.shape[1], seed).astype(np.float64)
    draw_distance = _nn_distance(nn, draws)
    far = draw_distance > threshold
    mirror = prior_codes(len(codes), codes.shape[1], seed + 1).astype(np.float64)
    nn_prior = NearestNeighbors(n_neighbors=2).fit(mirror)
    prior_threshold = float(np.percentile(nn_prior.kneighbors(mirror)[0][:, 1], percentile))
    uncovered = _nn_distance(nn_prior, codes) > prior_threshold
    return CodeMismatch(
        len(codes),
        n_draws,
        float(percentile),
        threshold,
        float(far.mean()),
        float(uncovered.mean()),
        prior_threshold,
        moment_matched_kl(codes),
        float(np.linalg.norm(codes.mean(axis=0))),
        float(codes.std(axis=0).mean()),
        typical,
        float((draw_distance > typical).mean()),
        float(np.median(draw_distance) / max(typical, 1e-12)),
    )


@dataclass
class SamplerRealism:
    """How real the decodings of one sampler's codes look."""

    sampler: str  # "prior", "gaussian" (fitted to the codes) or "gmm" (fitted to the codes)
    n: int
    nn_distance_median: float  # median distance of a decoded sample to its nearest training example
    nn_distance_ratio: float  # nn_distance_median / HolesResult.reference_distance
    far_fraction: float  # share of these codes farther than CodeMismatch.threshold from every code
    classifier_confidence: float | None  # mean max-probability; None without labels
    classifier_entropy: float | None  # mean entropy, nats
    data_mean_distance: float  # mean distance of a decoded sample to the training-data mean
    examples: np.ndarray = field(repr=False)  # (n_show, D) decoded samples, for figures
    precision: float | None = None  # share of decoded samples inside the real manifold (fidelity)
    recall: float | None = None  # share of real training samples inside the samples' manifold
    own_precision: float | None = None  # the same against the model's reconstructions of those
    own_recall: float | None = None  # training samples: the sampler alone, the decoder's blur aside

    def to_dict(self) -> dict:
        """JSON-ready fields (examples rounded to 3 decimals)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["examples"] = np.round(self.examples, 3).tolist()
        return d


@dataclass
class HolesResult:
    """Holes metrics of one model."""

    name: str
    kind: str  # "vae" or "ae"
    latent_dim: int
    reference_distance: float  # median NN distance of test reconstructions to training data
    test_nn_distance: float  # median NN distance of real test inputs to training data
    reconstruction_distance: float  # median ‖x − reconstruction‖ on test inputs
    test_data_mean_distance: float  # mean distance of a real test input to the training mean
    mismatch: CodeMismatch
    samplers: dict[str, SamplerRealism]
    reconstruction_precision: float | None = None  # of test reconstructions against training data
    reconstruction_recall: float | None = None
    reconstruction_spread: float | None = None  # Σ_j Var_x(rec_j) / Σ_j Var(x_j) on test inputs
    n_fidelity: int | None = None  # samples per set in every precision/recall here

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["mismatch"] = self.mismatch.to_dict()
        d["samplers"] = {k: v.to_dict() for k, v in self.samplers.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> HolesResult:
        """Rebuild from `to_dict` output."""
        d = dict(d)
        d["mismatch"] = CodeMismatch(**d["mismatch"])
        d["samplers"] = {
            k: SamplerRealism(**{**v, "examples": np.asarray(v["examples"], np.float32)})
            for k, v in d["samplers"].items()
        }
        return cls(**d)


def holes_metrics(
    model: Model,
    train: Dataset,
    test: Dataset,
    *,
    name: str | None = None,
    classifier=None,
    n_samples: int = 2000,
    max_reference: int = 10000,
    percentile: float = 99.0,
    samplers: Sequence[str] = SAMPLERS,
    gmm_components: int = 10,
    n_show: int = 16,
    features: FeatureSpace | None = None,
    fidelity: bool = True,
    k: int = 3,
    seed: int = 0,
) -> HolesResult:
    """Measure the holes in one model's code space.

    Parameters
    ----------
    model : VAE or Autoencoder
        Trained.
    train, test : Dataset
        The training data (nearest neighbours, codes) and held-out data
        (reference distance, classifier baseline).
    name : str, optional
        Label in tables and figures (default: the model kind).
    classifier : fitted scikit-learn classifier with ``predict_proba``, optional
        Judges realism; see `fit_classifier`. None: no classifier metrics.
    n_samples : int
        Codes drawn per sampler, and prior draws in `code_mismatch`.
    max_reference : int
        Seeded subset of the training data (and of the test data) used for
        nearest neighbours and codes; bounds the cost on big datasets.
    percentile : float
        Defines "far" in `code_mismatch`.
    samplers : sequence of {"prior", "gaussian", "gmm"}
    gmm_components : int
        Components of the "gmm" sampler.
    n_show : int
        Decoded examples kept per sampler for figures.
    features : FeatureSpace, optional
        Fitted feature space of the precision/recall scores; default: one
        fitted here on ``train`` (pass one to share it between models).
    fidelity : bool
        Score precision and recall (False leaves them None). Each set holds
        ``min(n_samples, len(test), max_reference)`` samples: the decoded
        samples, and a seeded subset of the training data as the real set
        (``precision``, ``recall``) or the model's reconstructions of that
        subset (``own_precision``, ``own_recall``).
    k : int
        Neighbour of the precision/recall balls (3 in Kynkäänniemi et al. 2019).
    seed : int

    Returns
    -------
    HolesResult
    """
    unknown = sorted(set(samplers) - set(SAMPLERS))
    if unknown:
        raise ConfigError(f"samplers={list(samplers)} has unknown {unknown}; expected {SAMPLERS}")
    x_train = flat_array(seeded_subset(train, max_reference, seed))
    x_test = flat_array(seeded_subset(test, max_reference, seed + 1))
    train_mean = flat_array(train).mean(axis=0)
    nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x_train)
    rec = decode(model, encode(model, x_test))  # (M, D) decoder means of test inputs
    reference = float(np.median(_nn_distance(nn, rec)))
    spread = float(rec.var(axis=0).sum() / max(x_test.var(axis=0).sum(), 1e-12))
    n_pr = min(n_samples, len(x_test), len(x_train))
    space, real, own = None, np.zeros(0), np.zeros(0)
    if fidelity and n_pr > k:
        space = features if features is not None else FeatureSpace(seed=seed).fit(flat_array(train))
        x_real = seeded_subset(x_train, n_pr, seed + 5)  # (n_pr, D)
        real = space.transform(x_real)  # (n_pr, F)
        own = space.transform(decode(model, encode(model, x_real)))  # their reconstructions

    def score(xs: np.ndarray, ref: np.ndarray) -> PrecisionRecall | None:
        """Precision and recall of the first n_pr rows of ``xs`` against ``ref`` (features)."""
        return None if space is None else precision_recall(ref, space.transform(xs[:n_pr]), k)

    codes = encode(model, x_train)  # (N, Z) posterior means: what the samplers are fitted to
    q_codes = aggregate_posterior_codes(model, x_train, seed)  # (N, Z) z ~ q(z|x)
    mismatch = code_mismatch(q_codes, n_samples, percentile, seed)
    code_nn = NearestNeighbors(n_neighbors=1).fit(q_codes)

    draw = {
        "prior": lambda: prior_codes(n_samples, codes.shape[1], seed + 2),
        "gaussian": lambda: gaussian_codes(codes, n_samples, seed + 3),
        "gmm": lambda: gmm_codes(codes, n_samples, min(gmm_components, len(codes)), seed=seed + 4)[0],
    }
    realism = {}
    for s in samplers:
        z = draw[s]()
        xs = decode(model, z)
        d = float(np.median(_nn_distance(nn, xs)))
        conf, ent = (None, None) if classifier is None else _probs_stats(classifier, xs)
        pr, pr_own = score(xs, real), score(xs, own)
        realism[s] = SamplerRealism(
            s,
            n_samples,
            d,
            d / max(reference, 1e-12),
            float((_nn_distance(code_nn, z) > mismatch.threshold).mean()),
            conf,
            ent,
            float(np.linalg.norm(xs - train_mean, axis=1).mean()),
            xs[:n_show],
            None if pr is None else pr.precision,
            None if pr is None else pr.recall,
            None if pr_own is None else pr_own.precision,
            None if pr_own is None else pr_own.recall,
        )
    rec_pr = score(seeded_subset(rec, n_pr, seed + 6), real)
    return HolesResult(
        name or model.config.kind,
        model.config.kind,
        model.config.latent_dim,
        reference,
        float(np.median(_nn_distance(nn, x_test))),
        float(np.median(np.linalg.norm(x_test - rec, axis=1))),
        float(np.linalg.norm(x_test - train_mean, axis=1).mean()),
        mismatch,
        realism,
        None if rec_pr is None else rec_pr.precision,
        None if rec_pr is None else rec_pr.recall,
        spread,
        None if space is None else n_pr,
    )


@dataclass
class HolesComparison:
    """Holes metrics of several models, judged by one classifier."""

    models: list[HolesResult]
    classifier: str | None  # description of the judge, None without labels
    classifier_accuracy: float | None  # on the test data
    test_confidence: float | None  # the judge's mean max-probability on real test data
    test_entropy: float | None  # and its mean entropy, nats
    data: str  # dataset name
    sample_shape: list[int]
    features: dict | None = None  # the feature space of precision/recall (FeatureSpace.to_dict)
    test_precision: float | None = None  # real test inputs against real training inputs:
    test_recall: float | None = None  # the measure's ceiling at this sample size

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["models"] = [m.to_dict() for m in self.models]
        return d

    def table(self) -> list[dict]:
        """One row per (model, sampler): the numbers that decide whether codes can be sampled.

        Keys: ``model``, ``kind``, ``latent_dim``, ``sampler``, ``precision``,
        ``recall``, ``own_precision``, ``own_recall``, ``far_fraction`` (these codes far from every training
        code), ``gap_fraction`` (of the model's prior draws, the same for each
        sampler), ``nn_distance_ratio``, ``classifier_confidence``.
        """
        return [
            {
                "model": m.name,
                "kind": m.kind,
                "latent_dim": m.latent_dim,
                "sampler": s,
                "precision": r.precision,
                "recall": r.recall,
                "own_precision": r.own_precision,
                "own_recall": r.own_recall,
                "far_fraction": r.far_fraction,
                "gap_fraction": m.mismatch.gap_fraction,
                "nn_distance_ratio": r.nn_distance_ratio,
                "classifier_confidence": r.classifier_confidence,
            }
            for m in self.models
            for s, r in m.samplers.items()
        ]

    @classmethod
    def from_dict(cls, d: Mapping) -> HolesComparison:
        """Rebuild from `to_dict` output (e.g. holes.json)."""
        return cls(**{**d, "models": [HolesResult.from_dict(m) for m in d["models"]]})

    def by_name(self, name: str) -> HolesResult:
        """The result of the model called ``name``."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"no model named {name!r}; have {[m.name for m in self.models]}")


def compare_holes(
    models: Mapping[str, Model],
    train: Dataset,
    test: Dataset,
    *,
    classifier=None,
    max_classifier_train: int = 10000,
    judge: bool = True,
    features: FeatureSpace | None = None,
    fidelity: bool = True,
    seed: int = 0,
    **kwargs,
) -> HolesComparison:
    """`holes_metrics` for several models (e.g. ``{"AE": ae, "VAE": vae}``), one shared judge.

    Parameters
    ----------
    models : mapping of name → trained model
        Compare like with like: same architecture and latent size.
    train, test : Dataset
    classifier : fitted classifier, optional
        Default: `fit_classifier` on ``train`` when it has labels, else none.
    max_classifier_train : int
        Subset size for the default classifier.
    judge : bool
        False: no default classifier (the label-free precision and recall only).
    features : FeatureSpace, optional
        Fitted feature space of precision and recall, shared by all models;
        default: `vaelab.experiments.fidelity.FeatureSpace` fitted on ``train``.
    fidelity : bool
        Score precision and recall (see `holes_metrics`).
    seed : int
    **kwargs
        Passed to `holes_metrics` (n_samples, max_reference, percentile,
        samplers, k, ...).

    Returns
    -------
    HolesComparison

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> from vaelab.core.models import ModelConfig, build_model
    >>> d = load_dataset("digits")
    >>> nets = {k: build_model(ModelConfig(kind=k, input_shape=(1, 8, 8), latent_dim=2,
    ...                                    hidden=(16,))).eval() for k in ("ae", "vae")}
    >>> res = compare_holes(nets, d.train, d.test, n_samples=200, samplers=("prior",))
    >>> [m.name for m in res.models], res.classifier_accuracy > 0.9
    (['ae', 'vae'], True)
    >>> row = res.table()[0]  # untrained decoders: far from the digits
    >>> row["sampler"], row["precision"] < 0.2 < 0.5 < res.test_precision
    ('prior', True)
    """
    if classifier is None and judge and train.y is not None:
        classifier = fit_classifier(train, max_classifier_train, seed)
    acc = conf = ent = None
    if classifier is not None and test.y is not None:
        x_test = flat_array(test)
        acc = float(classifier.score(x_test, np.asarray(test.y)))
        conf, ent = _probs_stats(classifier, x_test)
    test_pr = None
    if fidelity:
        features = features if features is not None else FeatureSpace(seed=seed).fit(flat_array(train))
        k = kwargs.get("k", 3)
        max_reference = kwargs.get("max_reference", 10000)
        x_train = seeded_subset(flat_array(train), max_reference, seed)  # as in holes_metrics
        n_pr = min(kwargs.get("n_samples", 2000), len(test), len(x_train))
        if n_pr > k:
            test_pr = precision_recall(
                seeded_subset(x_train, n_pr, seed + 5),  # the real set of holes_metrics
                seeded_subset(flat_array(test), n_pr, seed + 7),
                k,
                features=features,
            )
    results = [
        holes_metrics(
            m,
            train,
            test,
            name=k,
            classifier=classifier,
            features=features,
            fidelity=fidelity,
            seed=seed,
            **kwargs,
        )
        for k, m in models.items()
    ]
    desc = None if classifier is None else type(classifier).__name__ + " on training pixels"
    return HolesComparison(
        results,
        desc,
        acc,
        conf,
        ent,
        train.name,
        list(train.sample_shape),
        None if features is None else features.to_dict(),
        None if test_pr is None else test_pr.precision,
        None if test_pr is None else test_pr.recall,
    )
