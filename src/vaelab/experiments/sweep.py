"""The balance of the two loss terms: a β sweep (storyline step 7).

A β-VAE minimises distortion + β·rate, where on held-out data

- rate = E_x KL(q(z|x) ‖ p(z)), nats: how much the code says about x;
- distortion = −E_x E_q log p(x|z), nats: how badly x is rebuilt from its code.

β = 0 is reconstruction alone: an autoencoder-like code scattered away from the
prior, and prior samples that fall into holes. A large β makes every nat of
rate too expensive: the posterior collapses onto the prior, no unit stays
active (Burda et al. 2015), and the decoder outputs about the data mean
whatever the code. In between, the pairs (rate, distortion) trace a
rate–distortion curve (Alemi et al. 2018).

`sweep_beta` trains one VAE per β (same architecture, data and seed) and
records, for each, with the same measures at both ends:

- the rate and distortion on test data, and the active units;
- improved precision and recall of decoded prior samples (Kynkäänniemi et al.
  2019) in one PCA feature space fitted to the real training data and shared
  by all β (`vaelab.experiments.fidelity`), against real data and against the
  model's own reconstructions (``own_precision``, ``own_recall``);
- ``gap_fraction``: the share of prior draws farther from every training code
  (z ~ q(z|x)) than the codes' median nearest-other-code distance (about 0.5
  when the codes fill N(0, I); near 1 at β = 0, where they leave holes);
- ``output_spread``: Σ_j Var_x(x̂_j) / Σ_j Var_x(x_j) over test inputs, with
  x̂ the decoded reconstruction: how much the outputs still vary with the
  input. Near 0 is collapse, every output about the data mean;
- the holes metrics of `vaelab.experiments.holes` for prior samples, and a
  grid of prior samples. ``samples_spread``, the mean distance of decoded
  prior samples from the training-data mean divided by the same for real test
  inputs, also goes to 0 at collapse. `vaelab.report.writers.write_sweep`
writes ``sweep.json`` and the figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vaelab.core.config import ModelConfig
from vaelab.core.inference import (
    active_units,
    as_flat_tensor,
    elbo_terms,
    flat_array,
    model_device,
    seeded_subset,
)
from vaelab.core.models import VAE
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.experiments.fidelity import FeatureSpace
from vaelab.experiments.holes import HolesResult, fit_classifier, holes_metrics
from vaelab.experiments.options import DEFAULT_BETAS
from vaelab.training.batched import fit_many
from vaelab.training.config import TrainConfig
from vaelab.training.history import History

__all__ = ["DEFAULT_BETAS", "BetaSweep", "SweepPoint", "measure_sweep", "sweep_beta", "train_sweep"]


@dataclass
class SweepPoint:
    """What one β gives, measured on the test data."""

    beta: float
    rate: float  # E KL(q(z|x) ‖ p(z)), nats per example
    distortion: float  # −E log p(x|z), nats per example (one z ~ q(z|x) per x)
    neg_elbo: float  # rate + distortion: the β = 1 loss, an upper bound on −log p(x)
    active_units: int  # units with Cov_x(E_q[z_u]) > 0.01
    unit_variances: list[float]  # Cov_x(E_q[z_u]) per unit
    samples_spread: float  # mean ‖decoded prior sample − data mean‖ / same for test inputs
    train_seconds: float
    holes: HolesResult  # holes metrics of prior samples (vaelab.experiments.holes)
    samples: np.ndarray = field(repr=False)  # (n_grid, D) decoded prior samples
    precision: float | None = None  # of decoded prior samples against real training data
    recall: float | None = None
    own_precision: float | None = None  # against the model's reconstructions of that data
    own_recall: float | None = None
    gap_fraction: float | None = None  # share of prior draws in the gaps between codes
    output_spread: float | None = None  # Σ Var_x(reconstruction) / Σ Var_x(x); ≈ 0: collapse

    def to_dict(self) -> dict:
        """JSON-ready fields (samples rounded to 3 decimals)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["holes"] = self.holes.to_dict()
        d["samples"] = np.round(self.samples, 3).tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> SweepPoint:
        """Rebuild from `to_dict` output."""
        return cls(
            **{
                **d,
                "holes": HolesResult.from_dict(d["holes"]),
                "samples": np.asarray(d["samples"], np.float32),
            }
        )


@dataclass
class BetaSweep:
    """One VAE per β, same everything else; points sorted by β."""

    points: list[SweepPoint]
    data: str
    sample_shape: list[int]
    n_train: int
    n_test: int
    model: dict  # the ModelConfig (beta aside) shared by all points
    train: dict  # the TrainConfig shared by all points
    classifier_accuracy: float | None  # of the realism judge on the test data
    test_confidence: float | None  # the judge's mean max-probability on real test data
    features: dict | None = None  # the feature space of precision/recall (FeatureSpace.to_dict)

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["points"] = [p.to_dict() for p in self.points]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> BetaSweep:
        """Rebuild from `to_dict` output (e.g. sweep.json)."""
        return cls(**{**d, "points": [SweepPoint.from_dict(p) for p in d["points"]]})

    @property
    def betas(self) -> list[float]:
        return [p.beta for p in self.points]

    def column(self, name: str) -> list[float]:
        """One number per β: a SweepPoint field, or ``holes.<field>`` / ``prior.<field>``.

        ``prior.<field>`` reads the prior sampler's `vaelab.experiments.holes.SamplerRealism`,
        ``mismatch.<field>`` the `vaelab.experiments.holes.CodeMismatch`.
        """
        head, _, tail = name.partition(".")
        if not tail:
            return [getattr(p, name) for p in self.points]
        if head == "prior":
            return [getattr(p.holes.samplers["prior"], tail) for p in self.points]
        if head == "mismatch":
            return [getattr(p.holes.mismatch, tail) for p in self.points]
        return [getattr(p.holes, tail) for p in self.points]

    def ends(self) -> dict:
        """The two ends of the sweep in numbers: the smallest and the largest β."""

        def summary(p: SweepPoint) -> dict:
            prior = p.holes.samplers["prior"]
            return {
                "beta": p.beta,
                "rate": p.rate,
                "distortion": p.distortion,
                "active_units": p.active_units,
                "samples_spread": p.samples_spread,
                "output_spread": p.output_spread,
                "precision": p.precision,
                "recall": p.recall,
                "own_precision": p.own_precision,
                "own_recall": p.own_recall,
                "gap_fraction": p.gap_fraction,
                "far_fraction": p.holes.mismatch.far_fraction,
                "uncovered_fraction": p.holes.mismatch.uncovered_fraction,
                "gaussian_kl": p.holes.mismatch.gaussian_kl,
                "nn_distance_ratio": prior.nn_distance_ratio,
                "classifier_confidence": prior.classifier_confidence,
            }

        return {"low": summary(self.points[0]), "high": summary(self.points[-1])}


PointCallback = Callable[[SweepPoint], None]


def sweep_beta(
    train: Dataset,
    test: Dataset,
    betas: Sequence[float] = DEFAULT_BETAS,
    *,
    model: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    max_train: int | None = None,
    classifier=None,
    n_samples: int = 1000,
    max_reference: int = 5000,
    n_grid: int = 16,
    features: FeatureSpace | None = None,
    seed: int = 0,
    on_point: PointCallback | None = None,
) -> BetaSweep:
    """Train one VAE per β and measure rate, distortion, active units, holes and samples.

    Parameters
    ----------
    train, test : Dataset
        Values in [0, 1] for the default Bernoulli likelihood.
    betas : sequence of float
        β values (>= 0); include 0 and one large enough to collapse the
        posterior (on MNIST and digits with a Bernoulli decoder, 64 does).
    model : ModelConfig, optional
        The architecture shared by every point (its ``beta`` and
        ``input_shape`` are replaced). Default: MLP with one hidden layer of
        200 units, 10 latents, Bernoulli likelihood.
    train_config : TrainConfig, optional
        Shared by every point. Default: 20 epochs, batch 128, seed ``seed``.
        ``epochs`` and ``max_train`` are the speed knobs.
    max_train : int, optional
        Train on a seeded subset of this many examples.
    classifier : fitted scikit-learn classifier, optional
        The realism judge of `vaelab.experiments.holes`; default: `fit_classifier` on
        ``train`` when it has labels.
    n_samples, max_reference : int
        Passed to `vaelab.experiments.holes.holes_metrics` (prior sampler only).
    n_grid : int
        Decoded prior samples kept per β for the sample grid.
    features : FeatureSpace, optional
        Fitted feature space of precision and recall; default: one fitted on
        ``train`` (after ``max_train``), shared by every β.
    seed : int
    on_point : callable, optional
        Called with each `SweepPoint` as soon as it is measured (progress).

    Returns
    -------
    BetaSweep

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> d = load_dataset("digits")
    >>> s = sweep_beta(d.train, d.test, betas=(0.0, 64.0), max_train=300,
    ...                train_config=TrainConfig(epochs=20, batch_size=50, lr=3e-3), n_samples=100)
    >>> s.betas, s.points[-1].active_units
    ([0.0, 64.0], 0)
    >>> s.points[-1].output_spread < 0.01 < 0.1 < s.points[0].output_spread  # collapse at the top
    True
    """
    betas = sorted(float(b) for b in betas)
    train_config = train_config or TrainConfig(epochs=20, batch_size=128, seed=seed)
    train = seeded_subset(train, max_train, seed)
    models, _, seconds = train_sweep(train, betas, model=model, train_config=train_config)
    return measure_sweep(
        models,
        train,
        test,
        train_config=train_config,
        train_seconds=seconds,
        classifier=classifier,
        n_samples=n_samples,
        max_reference=max_reference,
        n_grid=n_grid,
        features=features,
        seed=seed,
        on_point=on_point,
    )


def train_sweep(
    train: Dataset,
    betas: Sequence[float],
    *,
    model: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    valid: Dataset | None = None,
) -> tuple[list[VAE], list[History], float]:
    """Train one VAE per β, all in one batched pass (`vaelab.training.batched.fit_many`).

    Every model is the one `fit` would train alone from the same config and seed
    (within float rounding; bit for bit with ``step="autograd"``: see `fit_many`);
    one pass over the data serves every β.

    Parameters
    ----------
    train : Dataset
    betas : sequence of float
        β values (>= 0), trained in increasing order.
    model : ModelConfig, optional
        The architecture shared by every β; default as in `sweep_beta`.
    train_config : TrainConfig, optional
        Shared by every β (its seed initialises every model).
    valid : Dataset, optional
        Validation data for the histories and early stopping.

    Returns
    -------
    models : list of VAE
        In increasing β, in eval mode.
    histories : list of History
        Each model's per-epoch curves.
    seconds : float
        Wall time of the batched training.

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> d = load_dataset("digits")
    >>> models, _, _ = train_sweep(d.train, (0.0, 1.0), train_config=TrainConfig(epochs=1))
    >>> [m.config.beta for m in models]
    [0.0, 1.0]
    """
    betas = sorted(float(b) for b in betas)
    if not betas or betas[0] < 0:
        raise ConfigError(f"betas={betas} must be a non-empty list of values >= 0")
    if model is None:
        model = ModelConfig(kind="vae", latent_dim=10, hidden=(200,), likelihood="bernoulli")
    if model.kind != "vae":
        raise ConfigError(f"a β sweep trains VAEs; got model kind={model.kind!r}")
    train_config = train_config or TrainConfig(epochs=20, batch_size=128)
    base = ModelConfig(**{**model.to_dict(), "input_shape": train.sample_shape})
    configs = [ModelConfig(**{**base.to_dict(), "beta": b}) for b in betas]
    start = time.perf_counter()
    models, histories = fit_many(configs, train, train_config, valid=valid)
    seconds = time.perf_counter() - start
    out = []
    for m in models:
        assert isinstance(m, VAE)  # every config is kind "vae"
        out.append(m)
    return out, histories, seconds


def measure_sweep(
    models: Sequence[VAE],
    train: Dataset,
    test: Dataset,
    *,
    train_config: TrainConfig,
    train_seconds: float = 0.0,
    classifier=None,
    judge: bool = True,
    n_samples: int = 1000,
    max_reference: int = 5000,
    n_grid: int = 16,
    features: FeatureSpace | None = None,
    seed: int = 0,
    on_point: PointCallback | None = None,
) -> BetaSweep:
    """Measure trained β-VAEs (from `train_sweep`) with one set of measures at every β.

    Parameters are those of `sweep_beta`; ``train_seconds`` (the batched
    training's wall time) is shared out equally among the points, and
    ``judge=False`` fits no default classifier (label-free measures only).

    Returns
    -------
    BetaSweep
    """
    if not models:
        raise ConfigError("measure_sweep needs at least one trained model")
    if classifier is None and judge and train.y is not None:
        classifier = fit_classifier(train, seed=seed)
    acc = conf = None
    x_test_flat = flat_array(test)
    if classifier is not None and test.y is not None:
        acc = float(classifier.score(x_test_flat, np.asarray(test.y)))
        conf = float(classifier.predict_proba(x_test_flat).max(axis=1).mean())
    base = models[0].config
    features = features if features is not None else FeatureSpace(seed=seed).fit(flat_array(train))
    seconds = train_seconds / len(models)

    points = []
    for net in models:
        beta = net.config.beta
        terms = elbo_terms(net, as_flat_tensor(test, model_device(net)))
        au = active_units(net, test)
        holes = holes_metrics(
            net,
            train,
            test,
            name=f"beta={beta:g}",
            classifier=classifier,
            n_samples=n_samples,
            max_reference=max_reference,
            samplers=("prior",),
            n_show=n_grid,
            features=features,
            seed=seed,
        )
        prior = holes.samplers["prior"]
        point = SweepPoint(
            beta,
            max(terms["kl"], 0.0),  # KL >= 0: at collapse the closed form's rounding leaves ±1e-8
            terms["reconstruction"],
            terms["loss"],
            au.n_active,
            au.variances,
            prior.data_mean_distance / holes.test_data_mean_distance,
            seconds,
            holes,
            prior.examples,
            prior.precision,
            prior.recall,
            prior.own_precision,
            prior.own_recall,
            holes.mismatch.gap_fraction,
            holes.reconstruction_spread,
        )
        points.append(point)
        if on_point is not None:
            on_point(point)
    cfg = base.to_dict()
    cfg.pop("beta")
    return BetaSweep(
        points,
        train.name,
        list(train.sample_shape),
        len(train),
        len(test),
        cfg,
        train_config.to_dict(),
        acc,
        conf,
        features.to_dict(),
    )
