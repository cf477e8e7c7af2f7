"""The explainer's stages: each trains or measures one storyline step and returns its result.

Every stage is a plain function: data and models in, a typed result of
`vaelab.report.explain._schema` out (plus the models a later stage needs). The
measurements themselves are vaelab's experiments and core functions; what is here
is which model each step trains and with what budget.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from sklearn.decomposition import PCA

from vaelab.core import ppca
from vaelab.core.config import ModelConfig
from vaelab.core.importance import iw_log_likelihood
from vaelab.core.inference import active_units, as_flat_tensor, decode, elbo_terms, encode
from vaelab.core.likelihoods import GaussianLearned
from vaelab.core.models import VAE, Model, build_model, linear_vae_config
from vaelab.core.objectives import gaussian_kl_per_dim
from vaelab.data import Dataset, standardize
from vaelab.errors import ConfigError, DataError
from vaelab.experiments import curse
from vaelab.experiments.compare import CompareResult, compare_methods
from vaelab.experiments.holes import HolesComparison, compare_holes
from vaelab.experiments.latent import quantile_grid
from vaelab.experiments.sweep import BetaSweep, measure_sweep
from vaelab.report.explain._config import ExplainConfig
from vaelab.report.explain._schema import (
    CodeModel,
    CurseStage,
    DataSummary,
    DecoderExport,
    GaussianVAE,
    GenerationStage,
    LinearStage,
    ObjectiveStage,
    PCAStage,
    TrainingRecord,
    TwoDStage,
    Typicality,
)
from vaelab.runs.run import DataSpec, load_data
from vaelab.training.batched import fit_many
from vaelab.training.config import TrainConfig
from vaelab.training.history import History
from vaelab.training.loop import fit

# β = 0: reconstruction alone (the holes come back); 1 is the true ELBO, step 6's VAE; 1000:
# the posterior collapses. With a learned Gaussian noise the decoder's term grows with the
# number of values (D/2 · log of the error), so on Fashion-MNIST 2 of 16 units stay in use
# at β = 100 and none at 1000; Bernoulli MNIST collapses from 30 (benchmarks/explain_matrix.py)
BETAS = (0.0, 0.3, 1.0, 3.0, 30.0, 1000.0)
CURSE_DIMS = (1, 2, 3, 5, 8, 10, 20, 30, 50, 100, 200, 300, 500, 1000)
RANK_TOL = 1e-6  # a principal variance below this share of the largest counts as zero
BATCH = 128
LR = 2e-3
VALID_MAX = 1000  # training samples held out for the validation curves


@dataclass
class Data:
    """The splits every stage shares, and the flat tensors the models see."""

    train: Dataset
    valid: Dataset  # held out of the training samples: shows that training had settled
    test: Dataset
    xtr: torch.Tensor  # (N, D) float32
    xte: torch.Tensor  # (M, D)
    likelihood: str  # of every non-linear model

    @property
    def noise_sigma(self) -> float:
        """The root mean per-feature variance of the training samples: where learned σ starts."""
        return max(float(self.xtr.var(0).mean()), 1e-12) ** 0.5

    @property
    def n_features(self) -> int:
        return int(self.xtr.shape[1])


# ---------------------------------------------------------------- helpers


def _subset(ds: Dataset, n: int | None, seed: int) -> Dataset:
    if n is None or len(ds) <= n:
        return ds
    return ds.subset(np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False)))


def _epochs(steps: int, n: int, batch: int = BATCH) -> int:
    return max(1, math.ceil(steps / max(1, math.ceil(n / batch))))


def _train_config(steps: int, n: int, cfg: ExplainConfig, lr: float = LR) -> TrainConfig:
    return TrainConfig(
        epochs=_epochs(steps, n),
        batch_size=BATCH,
        lr=lr,
        lr_schedule="cosine",
        seed=cfg.seed,
        device=cfg.device,
    )


def _record(history: History, steps: int) -> TrainingRecord:
    """The validation curve of one training, and how much it still fell in its last quarter."""
    v = [float(x) for x in history.valid_loss]
    q = max(1, len(v) // 4)
    change = None if len(v) < 2 else (v[-q - 1] - v[-1]) / max(abs(v[-1]), 1e-12)
    return TrainingRecord(len(history.epoch), steps, v, change)


def _steps(epochs: int, n: int, batch: int = BATCH) -> int:
    return epochs * max(1, math.ceil(n / batch))


def model_config(data: Data, kind: str, latent_dim: int, hidden: tuple[int, ...], **kw) -> ModelConfig:
    """A page model's config: the data's likelihood, and a learned noise σ that starts at the data's scale.

    With σ = 1 on grey levels in [0, 1] the first steps read every pixel as noise
    and the KL term switches the code off before the decoder learns; starting σ
    at the root mean per-feature variance avoids that.
    """
    lik = kw.pop("likelihood", data.likelihood)
    sigma = data.noise_sigma if lik == "gaussian-learned" else 1.0
    return ModelConfig(
        kind=kind,
        input_shape=(data.n_features,),
        latent_dim=latent_dim,
        hidden=hidden,
        likelihood=lik,
        sigma=sigma,
        **kw,
    )


def _train(
    mc: ModelConfig, data: Data, steps: int, cfg: ExplainConfig, progress: bool, lr: float = LR
) -> tuple[Model, TrainingRecord]:
    """One model trained on ``cfg.device``, back on the CPU where the page measures it."""
    model = build_model(mc, seed=cfg.seed)
    tc = _train_config(steps, len(data.train), cfg, lr)
    history = fit(model, data.train, tc, valid=data.valid, progress=progress)
    return model.cpu().eval(), _record(history, _steps(tc.epochs, len(data.train)))


def _train_together(
    configs: list[ModelConfig], data: Data, steps: int, cfg: ExplainConfig
) -> list[tuple[Model, TrainingRecord]]:
    """Models of one network shape trained in one batched pass (`fit_many`), same seed and budget.

    They may differ in kind, likelihood and β; each ends where `fit` alone would
    have taken it, up to float rounding. They train on ``cfg.device`` and come back
    to the CPU.
    """
    tc = _train_config(steps, len(data.train), cfg)
    models, histories = fit_many(configs, data.train, tc, valid=data.valid)
    n_steps = _steps(tc.epochs, len(data.train))
    return [(m.cpu().eval(), _record(h, n_steps)) for m, h in zip(models, histories, strict=True)]


def _f(a) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def export_decoder(model: Model) -> DecoderExport:
    """The decoder as plain dense layers for the page's JavaScript.

    Parameters
    ----------
    model : VAE or Autoencoder
        With an ``mlp`` or ``linear`` network.

    Returns
    -------
    DecoderExport
        ``layers``: ``(W, b)`` float32 pairs, W of shape (out, in); ``activation``;
        ``output``: "sigmoid" (Bernoulli) or "identity".

    Examples
    --------
    >>> from vaelab.core.models import VAE
    >>> vae = VAE(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(4,)))
    >>> [w.shape for w, b in export_decoder(vae).layers]
    [(4, 2), (6, 4)]
    """
    cfg = model.config
    if cfg.network not in ("mlp", "linear"):
        raise ConfigError(f"the explainer exports mlp/linear decoders, got network={cfg.network!r}")
    linears = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    d = cfg.n_features
    layers = []
    for i, lin in enumerate(linears):
        w = lin.weight.detach().float().numpy()
        b = lin.bias.detach().float().numpy()
        if i == len(linears) - 1:  # keep only the mean block of the likelihood's parameters
            w, b = w[:d], b[:d]
        layers.append((np.ascontiguousarray(w), np.ascontiguousarray(b)))
    output = "sigmoid" if cfg.likelihood == "bernoulli" else "identity"
    return DecoderExport(layers, cfg.activation, output)


# ---------------------------------------------------------------- stages

# grey-level sets the VAE literature models with a Bernoulli (Kingma & Welling 2014;
# Burda et al. 2015): the page follows the convention so its numbers compare with papers
BERNOULLI_CONVENTION = ("mnist",)


def choose_likelihood(train: Dataset) -> tuple[str, str]:
    """The likelihood of the page's decoders for this data, and why.

    Returns
    -------
    (likelihood, reason)
        "bernoulli" with "binary" (values are 0 or 1) or "mnist-convention"
        (grey-level MNIST, by the literature's convention); otherwise
        "gaussian-learned" with "real-valued": grey levels and features are
        real numbers, and a Gaussian with one learned variance is a proper density
        for them (pPCA's noise model, so log p(x) compares with pPCA's).

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> choose_likelihood(load_dataset("digits").train)
    ('gaussian-learned', 'real-valued')
    """
    if train.kind == "binary":
        return "bernoulli", "binary"
    if train.kind == "unit" and (train.name or "").split("/")[0] in BERNOULLI_CONVENTION:
        return "bernoulli", "mnist-convention"
    return "gaussian-learned", "real-valued"


def load_stage(cfg: ExplainConfig) -> tuple[Data, DataSummary, str | None]:
    """Load, subsample and check the data.

    Returns the shared `Data`, its summary, and the reason labels were dropped
    (one class: nothing for kNN to separate), or None.

    Raises
    ------
    DataError
        For data the explainer cannot teach with: one feature, or constant.
    """
    spec = DataSpec(
        source=cfg.source,
        data_dir=cfg.data_dir,
        shape=cfg.shape,
        label_column=cfg.label_column,
        valid_fraction=0.0,
        seed=cfg.seed,
    )
    splits = load_data(spec)
    cap = cfg.max_train if cfg.max_train is not None else cfg.budget.max_train
    pool = splits.train
    # held out of the training samples: the validation curve shows whether training settled
    n_valid = min(VALID_MAX, len(pool) // 10)
    if cap is not None:
        pool = _subset(pool, cap + n_valid, cfg.seed)
    order = np.random.default_rng(cfg.seed + 2).permutation(len(pool))
    train, valid = pool.subset(np.sort(order[n_valid:])), pool.subset(np.sort(order[:n_valid]))
    test = _subset(splits.test, cfg.max_test, cfg.seed + 1)
    if len(train) < 20 or len(test) < 10 or len(valid) < 2:
        raise ConfigError(
            f"explain needs >= 20 training and 10 test samples, got {len(pool)} and {len(test)}"
        )
    if train.n_features < 2:
        raise DataError(
            f"explain needs samples of at least 2 features, but {train.name} has "
            f"{train.n_features}: there is nothing to reduce (the page compares 2-D "
            f"codes and a linear VAE with fewer latents than features)"
        )
    if not np.ptp(train.x.reshape(len(train), -1), axis=0).any():
        raise DataError(
            f"explain needs data that varies, but all {len(train)} training samples of "
            f"{train.name} are identical: there is nothing to reduce or explain"
        )
    dropped = None
    classes = np.unique(train.y) if train.y is not None else None
    if classes is not None and len(classes) < 2:
        dropped = (
            f"all {len(train)} training samples have the label {int(classes[0])}: kNN "
            "accuracy needs at least 2 classes, so the labels were not used"
        )
        train, test = dataclasses.replace(train, y=None), dataclasses.replace(test, y=None)
        valid = dataclasses.replace(valid, y=None)
    # a table's features come in their own units (wine's proline in the hundreds, its hue
    # near 1): on the raw scale one feature is all the distances and the training diverges
    standardized = train.kind == "real" and len(train.sample_shape) == 1
    if standardized:
        train, valid, test = standardize(train, valid, test)
    lik, why = choose_likelihood(train)
    cpu = torch.device("cpu")
    data = Data(train, valid, test, as_flat_tensor(train, cpu), as_flat_tensor(test, cpu), lik)
    shape = tuple(train.sample_shape)
    img = shape if len(shape) == 3 else (1, 1, shape[0]) if len(shape) == 1 else (1, *shape)
    summary = DataSummary(
        name=train.name or cfg.source,
        n_train=len(train),
        n_test=len(test),
        sample_shape=list(shape),
        image_shape=list(img),
        n_features=data.n_features,
        kind=train.kind,
        range=[float(train.x.min()), float(train.x.max())],
        has_labels=train.y is not None,
        likelihood=lik,
        likelihood_reason=why,
        standardized=standardized,
        class_names=train.class_names if train.y is not None else None,
        n_valid=len(valid),
        test_images=test.x.reshape(len(test), -1)[:16],
        feature_mean=data.xtr.mean(0).numpy(),
        feature_std=data.xtr.std(0).numpy(),
    )
    return data, summary, dropped


def curse_stage(cfg: ExplainConfig) -> CurseStage:
    """Distances and Gaussian norms of synthetic points across dimensions."""
    n, seed = cfg.budget.curse_points, cfg.seed
    return CurseStage(
        curse.distance_concentration(dims=CURSE_DIMS, n_points=n, n_queries=50, seed=seed),
        curse.gaussian_annulus(dims=CURSE_DIMS, n_samples=2000, seed=seed),
        curse.pairwise_distance_histograms(dims=CURSE_DIMS, n_points=n, bins=40, seed=seed),
        curse.neighbourhood_emptiness(dims=CURSE_DIMS, n_points=n, n_queries=50, seed=seed),
    )


def pca_stage(data: Data, cfg: ExplainConfig) -> tuple[PCAStage, PCA]:
    """PCA's variance curve and reconstruction error; refuses data on a line."""
    xtr, xte = data.xtr.numpy(), data.xte.numpy()
    k_max = int(min(data.n_features, len(xtr) - 1, 100))
    p = PCA(n_components=k_max, random_state=cfg.seed).fit(xtr)
    ev = p.explained_variance_
    rank = int((ev > RANK_TOL * ev[0]).sum())  # at most k_max
    if rank < 2:
        raise DataError(
            f"explain needs data that varies in at least 2 directions, but the "
            f"{len(xtr)} training samples of {data.train.name} lie on a line (one "
            f"principal component holds all their variance): a 2-D code and "
            f"probabilistic PCA have nothing to find"
        )
    cum = np.cumsum(p.explained_variance_ratio_)
    mse = {}
    for k in sorted({k for k in (1, 2, 5, 10, 20, 50, 100) if k <= k_max}):
        z = (xte - p.mean_) @ p.components_[:k].T  # (M, k)
        mse[str(k)] = float(((xte - (z @ p.components_[:k] + p.mean_)) ** 2).sum(1).mean())
    k90 = int(np.searchsorted(cum, 0.9) + 1) if cum[-1] >= 0.9 else None
    z2 = (xte[:8] - p.mean_) @ p.components_[:2].T
    stage = PCAStage(
        data.n_features,
        rank,
        _f(cum),
        k90,
        mse,
        float(((xte - p.mean_) ** 2).sum(1).mean()),
        reconstruction_2d=z2 @ p.components_[:2] + p.mean_,
    )
    return stage, p


def two_d_stage(data: Data, cfg: ExplainConfig) -> tuple[TwoDStage, Model, Model]:
    """An AE and a VAE with 2-D codes: same architecture, seed and budget."""
    d = data.n_features
    hidden = (256, 64) if d > 200 else (128,)
    # one batched pass trains both, each as fit would alone (vaelab.training.batched.fit_many)
    (ae, ae_rec), (vae, vae_rec) = _train_together(
        [model_config(data, kind, 2, hidden) for kind in ("ae", "vae")], data, cfg.budget.steps_2d, cfg
    )
    n_show = min(len(data.train), 2000)
    xs, xte = data.xtr[:n_show].numpy(), data.xte.numpy()
    # PyTorch's own decodings at a few codes: the browser test checks the JS decoder on them
    check_z = np.random.default_rng(cfg.seed).normal(size=(4, 2)).astype(np.float32)
    # two test samples for the interpolation slider: the first two with different labels
    yte, j = data.test.y, 1
    if yte is not None:
        j = next((i for i in range(1, len(yte)) if yte[i] != yte[0]), 1)
    ends = xte[[0, j]]

    def summary(m: Model, record: TrainingRecord) -> CodeModel:
        codes = encode(m, xs)  # (n_show, 2)
        terms = elbo_terms(m, data.xte)
        recon = decode(m, encode(m, xte))  # (M, D)
        return CodeModel(
            terms["reconstruction"],
            terms["kl"],
            float(((recon - xte) ** 2).sum(1).mean()),
            _f(codes.mean(0)),
            _f(codes.std(0)),
            _f(codes.min(0)),
            _f(codes.max(0)),
            training=record,
            active_units=active_units(m, xte) if m.config.kind == "vae" else None,
            codes=codes,
            decoder=export_decoder(m),
            check=decode(m, check_z),
            interp_codes=encode(m, ends),
            reconstructions=recon[:8],
        )

    labels = None if data.train.y is None else np.asarray(data.train.y[:n_show]).astype(np.int32)
    stage = TwoDStage(
        summary(ae, ae_rec), summary(vae, vae_rec), code_labels=labels, check_z=check_z, interp_images=ends
    )
    return stage, ae, vae


def holes_stage(data: Data, ae: Model, vae: Model, cfg: ExplainConfig) -> HolesComparison:
    """What random codes decode to, for the 2-D AE and VAE: `vaelab.experiments.holes`."""
    return compare_holes(
        {"AE": ae, "VAE": vae},
        data.train,
        data.test,
        judge=False,  # the page quotes label-free precision and recall only
        n_samples=cfg.budget.holes_samples,
        samplers=("prior", "gmm"),
        max_reference=cfg.budget.holes_reference,
        seed=cfg.seed,
    )


def code_size(data: Data) -> int:
    """The latent size of steps 4 (numbers), 6 and 7: 8 up to 100 features, else 16.

    At these sizes an AE's codes leave most of N(0, I) empty (benchmarks/holes_dims.py:
    on MNIST 98% of prior draws at 8 latents land in gaps, against 44% at 2), so the
    sampling comparison is about the code space, not about a 2-D picture. Never more
    than half the features.
    """
    d = data.n_features
    return max(2, min(8 if d <= 100 else 16, d // 2))


def big_vae_config(data: Data, kind: str = "vae", **kw) -> ModelConfig:
    """The models of steps 4 (numbers), 6 and 7: `code_size` latents, one or two hidden layers."""
    return model_config(data, kind, code_size(data), (256, 128) if data.n_features > 200 else (128,), **kw)


@dataclass
class LargerModels:
    """Step 7's VAE at every β (β = 1 is step 6's VAE), step 4's autoencoder beside them,
    and the Gaussian VAE that step 8 sets against pPCA (None where it is not among them)."""

    betas: list[VAE]
    records: list[TrainingRecord]
    ae: Model
    ae_record: TrainingRecord
    gaussian: tuple[VAE, TrainingRecord] | None
    seconds: float  # the batched training, all models

    @property
    def sweep_seconds(self) -> float:
        """The βs' share of `seconds`: the batch's time split equally among its models."""
        n_models = len(self.betas) + 1 + (self.gaussian is not None)
        return self.seconds * len(self.betas) / n_models


def ppca_latent(data: Data, rank: int) -> int:
    """Step 8's latent size: step 6's, fewer where the data has fewer directions.

    pPCA's noise variance is the mean variance beyond q components: it must be > 0.
    """
    return int(min(code_size(data), data.n_features - 1, rank - 1))


def gaussian_vae_config(data: Data, rank: int) -> ModelConfig | None:
    """Step 8's non-linear VAE of pPCA's family where it can train beside the larger models;
    None where step 6's VAE already is one, or where its latent size is not theirs."""
    q = ppca_latent(data, rank)
    if data.likelihood == "gaussian-learned" or q != code_size(data):
        return None
    return big_vae_config(data, likelihood="gaussian-learned")


def larger_models_stage(data: Data, rank: int, cfg: ExplainConfig) -> LargerModels:
    """Every model with `code_size` latents in one batched pass: the VAEs of every β, the
    autoencoder of step 4 and, where needed, the Gaussian VAE of step 8.

    They share the network's shape, so `fit_many` trains them as one batched model,
    each as `fit` would alone (up to float rounding).
    """
    configs = [dataclasses.replace(big_vae_config(data), beta=b) for b in BETAS]
    configs.append(big_vae_config(data, kind="ae"))
    gaussian = gaussian_vae_config(data, rank)
    if gaussian is not None:
        configs.append(gaussian)
    start = time.perf_counter()
    trained = _train_together(configs, data, cfg.budget.steps_big, cfg)
    seconds = time.perf_counter() - start
    n = len(BETAS)
    betas = cast(list[VAE], [m for m, _ in trained[:n]])  # every config is kind "vae"
    ae, ae_record = trained[n]
    g = cast(tuple[VAE, TrainingRecord], trained[n + 1]) if gaussian is not None else None
    return LargerModels(betas, [r for _, r in trained[:n]], ae, ae_record, g, seconds)


def objective_stage(
    data: Data, m: VAE, record: TrainingRecord, cfg: ExplainConfig
) -> tuple[ObjectiveStage, np.ndarray]:
    """Step 6's VAE (the sweep's β = 1): ELBO terms, active units and importance-sampled log p(x).

    Returns the stage and the per-sample log p(x) of the test data.
    """
    terms = elbo_terms(m, data.xte)
    with torch.inference_mode():
        kl_dim = gaussian_kl_per_dim(*m.posterior(data.xte)).mean(0)  # (Z,)
    est = _iw(m, data.xte, cfg)
    elbo_k = float(est.log_weight_mean.mean())
    stage = ObjectiveStage(
        latent_dim=m.config.latent_dim,
        hidden=list(m.config.hidden),
        epochs=record.epochs,
        reconstruction=terms["reconstruction"],
        kl=terms["kl"],
        elbo=-terms["loss"],
        kl_per_dim=_f(kl_dim),
        active_units=active_units(m, data.xte.numpy()),
        iw_samples=cfg.budget.iw_samples,
        log_likelihood=est.mean,
        log_likelihood_se=est.standard_error,
        elbo_k=elbo_k,
        gap=est.mean - elbo_k,
        training=record,
    )
    return stage, est.log_likelihood


def holes_large_stage(data: Data, ae: Model, vae: VAE, cfg: ExplainConfig) -> HolesComparison:
    """Step 4 in numbers: an AE and step 6's VAE with `code_size` latents, four ways to sample.

    The AE's decoder gets prior draws, a Gaussian and a mixture fitted to its codes;
    the VAE its prior. Each set of decodings is scored by precision and recall.
    """
    return compare_holes(
        {"AE": ae, "VAE": vae},
        data.train,
        data.test,
        judge=False,  # the page quotes label-free precision and recall only
        n_samples=cfg.budget.holes_samples,
        samplers=("prior", "gaussian", "gmm"),
        max_reference=cfg.budget.holes_reference,
        seed=cfg.seed,
    )


def _iw(model: VAE, x: torch.Tensor, cfg: ExplainConfig):
    return iw_log_likelihood(
        model, x, n_samples=cfg.budget.iw_samples, generator=torch.Generator().manual_seed(cfg.seed)
    )


def linear_stage(
    data: Data,
    rank: int,
    objective: ObjectiveStage,
    big: VAE,
    gaussian: tuple[VAE, TrainingRecord] | None,
    cfg: ExplainConfig,
    progress: bool,
) -> LinearStage:
    """pPCA, exact, against a linear VAE and a non-linear VAE with the same Gaussian noise model.

    The linear VAE's generative model is pPCA's, so its ELBO, log p(x) and
    posterior gap are exact. The non-linear VAE shares pPCA's likelihood family
    (one learned noise variance) and latent size, so its log p(x) and pPCA's are
    comparable: the difference is what the MLP decoder gains. When the page's
    likelihood is already that Gaussian, it is the VAE of step 6 itself; ``gaussian``
    is the one `larger_models_stage` trained, or None (trained here where needed).
    """
    d = data.n_features
    q = ppca_latent(data, rank)
    xtr, xte = data.xtr.numpy(), data.xte.numpy()
    best = ppca.fit_ppca(xtr, q)
    lin = build_model(dataclasses.replace(linear_vae_config(d, q), sigma=data.noise_sigma), seed=cfg.seed)
    assert isinstance(lin, VAE) and isinstance(lin.likelihood, GaussianLearned)  # what the config names
    train_real = dataclasses.replace(data.train, kind="real", meta={})
    fit(
        lin,
        train_real,
        _train_config(cfg.budget.steps_linear, len(train_real), cfg, 1e-2),
        progress=progress,
    )
    lin.cpu().eval()
    own = ppca.from_linear_vae(lin)  # the linear VAE's generative model, exactly
    with torch.inference_mode():
        mu, log_var = (t.double().numpy() for t in lin.posterior(data.xte))  # (M, q) each
    exact = float(best.log_likelihood(xte).mean())
    elbo = float(own.elbo(xte, mu, np.exp(log_var)).mean())  # closed form, no sampling
    est = _iw(lin, data.xte, cfg)
    return LinearStage(
        latent_dim=q,
        ppca_log_likelihood=exact,
        ppca_sigma2=best.sigma2,
        linear_vae_elbo=elbo,
        linear_vae_sigma2=own.sigma2,
        gap_to_exact=exact - elbo,
        linear_vae_log_likelihood=float(own.log_likelihood(xte).mean()),
        linear_vae_posterior_kl=float(own.kl_to_posterior(xte, mu, np.exp(log_var)).mean()),
        linear_vae_iw_log_likelihood=est.mean,
        nonlinear=_gaussian_vae(data, q, exact, objective, big, gaussian, cfg, progress),
    )


def _gaussian_vae(
    data: Data,
    q: int,
    ppca_ll: float,
    objective: ObjectiveStage,
    big: VAE,
    gaussian: tuple[VAE, TrainingRecord] | None,
    cfg: ExplainConfig,
    progress: bool,
) -> GaussianVAE:
    """The non-linear VAE of pPCA's family: step 6's VAE when it already is one, else the
    one trained beside the larger models, else a new one."""
    reuse = data.likelihood == "gaussian-learned" and objective.latent_dim == q
    if reuse:
        m, record = big, objective.training
    elif gaussian is not None:
        m, record = gaussian
    else:
        mc = dataclasses.replace(big_vae_config(data, likelihood="gaussian-learned"), latent_dim=q)
        trained, record = _train(mc, data, cfg.budget.steps_big, cfg, progress)
        assert isinstance(trained, VAE)
        m = trained
    assert isinstance(m.likelihood, GaussianLearned)
    if reuse:  # step 6 measured it already
        ll, se, elbo = objective.log_likelihood, objective.log_likelihood_se, objective.elbo
    else:
        est = _iw(m, data.xte, cfg)
        ll, se, elbo = est.mean, est.standard_error, -elbo_terms(m, data.xte)["loss"]
    return GaussianVAE(
        latent_dim=q,
        hidden=list(m.config.hidden),
        is_objective_model=reuse,
        log_likelihood=ll,
        log_likelihood_se=se,
        elbo=elbo,
        sigma2=float(torch.exp(m.likelihood.log_var).item()),
        gain_over_ppca=ll - ppca_ll,
        active_units=active_units(m, data.xte.numpy()),
        training=record,
    )


def sweep_stage(data: Data, models: list[VAE], seconds: float, cfg: ExplainConfig) -> BetaSweep:
    """The β sweep's measures at every β: `vaelab.experiments.sweep.measure_sweep`."""
    return measure_sweep(
        models,
        data.train,
        data.test,
        train_config=_train_config(cfg.budget.steps_big, len(data.train), cfg),
        train_seconds=seconds,
        judge=False,  # the page quotes label-free precision and recall only
        n_samples=cfg.budget.holes_samples,
        max_reference=cfg.budget.holes_reference,
        n_grid=16,
        seed=cfg.seed,
    )


def generation_stage(ae: Model, vae: Model, n: int = 15) -> GenerationStage:
    """The 2-D VAE's decoder on a grid of prior quantiles, and the AE's on the same codes."""
    grid = quantile_grid(vae, n=n)
    return GenerationStage(
        n,
        float(grid.quantiles[0]),
        float(grid.quantiles[-1]),
        vae_grid=grid.x.astype(np.float32),
        ae_grid=decode(ae, grid.z),
    )


def compare_stage(data: Data, ae: Model, vae: Model, cfg: ExplainConfig) -> CompareResult:
    """kNN accuracy and trustworthiness of 2-D codes: `vaelab.experiments.compare`.

    The AE and VAE are the page's own 2-D models (steps 3–5), not new ones.
    """
    b = cfg.budget
    res = compare_methods(
        data.train,
        data.test,
        trained={"ae": ae, "vae": vae},
        n_components=2,
        methods=b.compare_methods,
        max_train=b.compare_train,
        max_test=b.compare_test,
        seed=cfg.seed,
    )
    for m in res.methods.values():  # the page does not draw these codes
        m.codes = None
    res.labels = None
    return res


def contrast_stage(data: Data, pca: PCA, vae: Model, cfg: ExplainConfig) -> curse.RepresentationContrast:
    """Step 1 on the reader's data: relative contrast of raw samples, PCA and VAE codes."""
    xte = data.xte.numpy()
    raw = "pixels" if len(data.test.sample_shape) >= 2 else "features"
    codes = {
        raw: xte,
        "PCA (2-D)": pca.transform(xte)[:, :2],
        f"VAE ({vae.config.latent_dim}-D)": encode(vae, xte),
    }
    return curse.representation_contrast(codes, n_queries=min(200, len(xte)), seed=cfg.seed)


def typicality_stage(data: Data, vae: VAE, ll_test: np.ndarray, cfg: ExplainConfig) -> Typicality:
    """log p(x) of real test samples against the same samples with their features shuffled."""
    x = data.xte.numpy()
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permuted(np.tile(np.arange(x.shape[1]), (len(x), 1)), axis=1)  # (M, D)
    shuffled = torch.from_numpy(np.take_along_axis(x, perm, 1).astype(np.float32))
    est = _iw(vae, shuffled, cfg)
    thr = float(np.quantile(ll_test, 0.01))
    return Typicality(float(ll_test.mean()), est.mean, thr, float((est.log_likelihood < thr).mean()))
