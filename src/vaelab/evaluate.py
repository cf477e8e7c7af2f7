"""Honest evaluation of a trained autoencoder or VAE.

`evaluate` measures one model on one dataset and returns an `Evaluation`:

- the test ELBO split into reconstruction and KL (nats per example);
- the importance-sampled log-likelihood L_K (`vaelab.core.importance`) ± its standard
  error over examples, and the gap log p(x) − ELBO;
- bits per dimension, with a note on what they mean for this data;
- KL per latent dimension and the active units (Burda et al. 2015);
- reconstruction MSE on the data scale;
- on labelled data: kNN accuracy (train codes → test codes) and trustworthiness of
  the latent means.

An autoencoder has no density, so it gets reconstruction and latent metrics only.
`evaluate_run` does the same for a run directory and writes ``evaluation.json``.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vaelab.core.importance import iw_log_likelihood
from vaelab.core.inference import (
    as_flat_tensor,
    code_activity,
    encode,
    map_batches,
    model_device,
    seeded_subset,
)
from vaelab.core.models import VAE, HierarchicalVAE, Model
from vaelab.core.objectives import gaussian_kl_per_dim
from vaelab.data import Dataset
from vaelab.errors import ConfigError, DataError
from vaelab.experiments.compare import code_scores

EVALUATION = "evaluation.json"
IW_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}  # networks inside importance sampling
IW_PRECISION_CHOICES = ("auto", *IW_PRECISIONS)
BF16_TOLERANCE = 0.01  # nats: how far a bf16 log-likelihood may be from the fp32 one
CHECK_IMAGES, CHECK_SAMPLES = 256, 500  # the bf16 self-check: examples × importance samples
CHECK_SHARE = 0.05  # "auto" tries bf16 only when its self-check costs at most this share of the job


@dataclass
class PrecisionCheck:
    """bf16 against fp32 importance sampling on a seeded subset, the same ε for both.

    ``difference`` is the mean over examples of L_K(bf16) − L_K(fp32), ``standard_error``
    its standard error over examples (the pairing removes the Monte-Carlo noise they
    share). bf16 passes when |difference| + 3 · standard_error ≤ ``tolerance``: the
    whole set's difference is then within the tolerance unless the subset is a
    3-sigma accident.
    """

    n_examples: int
    n_samples: int
    difference: float  # nats, mean of L_K(bf16) − L_K(fp32)
    standard_error: float  # nats
    tolerance: float  # nats
    passed: bool
    seconds: float


def check_bf16(
    model: VAE,
    x: torch.Tensor,
    *,
    n_examples: int = CHECK_IMAGES,
    n_samples: int = CHECK_SAMPLES,
    seed: int = 0,
) -> PrecisionCheck:
    """Does bf16 importance sampling agree with fp32 on this model and data? (`PrecisionCheck`)

    Both precisions run the same code with the same ε draws on ``n_examples`` seeded
    examples of ``x``, ``n_samples`` importance samples each.

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,)))
    >>> chk = check_bf16(vae, torch.bernoulli(torch.full((50, 6), 0.5)), n_samples=20)
    >>> chk.n_examples, chk.n_samples, chk.tolerance
    (50, 20, 0.01)
    """
    start = time.perf_counter()
    sub = x[torch.from_numpy(seeded_subset(np.arange(len(x)), n_examples, seed + 3))]
    ll = {
        name: iw_log_likelihood(
            model,
            sub,
            n_samples,
            autocast=dtype,
            compile=False,
            generator=torch.Generator(device=x.device).manual_seed(seed + 4),
        ).log_likelihood
        for name, dtype in IW_PRECISIONS.items()
    }
    diff = ll["bf16"] - ll["fp32"]
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.inf
    mean = float(diff.mean())
    return PrecisionCheck(
        n_examples=len(sub),
        n_samples=n_samples,
        difference=mean,
        standard_error=se,
        tolerance=BF16_TOLERANCE,
        passed=abs(mean) + 3 * se <= BF16_TOLERANCE,
        seconds=time.perf_counter() - start,
    )


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively here: AVX-512 BF16 or AMX on a CPU, bf16 on a GPU."""
    from vaelab.training.runtime import resolve_precision

    return resolve_precision("auto", device) is not None


def choose_iw_precision(
    model: VAE, x: torch.Tensor, iw_samples: int, requested: str, seed: int = 0
) -> tuple[str, PrecisionCheck | None, str | None]:
    """(precision to run, the self-check if one ran, why) for ``iw_precision=requested``.

    "fp32" and "bf16" are taken as asked. "auto" runs bf16 where it has been checked:
    on hardware with native bf16 (`bf16_is_fast`), for a job large enough that the
    check costs at most `CHECK_SHARE` of it, and only if `check_bf16` passes on this
    model and data; otherwise fp32, the reference.
    """
    if requested != "auto":
        return requested, None, None
    if not bf16_is_fast(x.device):
        return "fp32", None, "auto: no native bf16 on this hardware, so fp32"
    check_pairs = 2 * min(len(x), CHECK_IMAGES) * min(iw_samples, CHECK_SAMPLES)
    if check_pairs > CHECK_SHARE * len(x) * iw_samples:
        return "fp32", None, "auto: too small a job to pay for the bf16 self-check, so fp32"
    chk = check_bf16(model, x, n_samples=min(iw_samples, CHECK_SAMPLES), seed=seed)
    verdict = (
        f"bf16 − fp32 = {chk.difference:+.4f} ± {chk.standard_error:.4f} nats on {chk.n_examples} "
        f"examples × K={chk.n_samples} (tolerance {chk.tolerance} at 3 standard errors)"
    )
    if chk.passed:
        return "bf16", chk, f"auto: bf16 passed its self-check, {verdict}"
    return "fp32", chk, f"auto: bf16 failed its self-check, {verdict}; fp32 ran"


@dataclass
class Evaluation:
    """Everything `evaluate` measured. Log-densities in nats per example."""

    model_kind: str  # "vae" or "ae"; a two-layer VAE says so and gives the size of z2
    data_name: str
    n_examples: int  # test examples used
    n_features: int  # D
    latent_dim: int
    iw_samples: int  # K of the importance-sampled log-likelihood; 0: not computed
    reconstruction: float  # −E_q log p(x|z) (AE: −log p(x|f(x)))
    kl: float | None  # KL(q(z|x) ‖ p(z)), closed form
    elbo: float | None  # −(reconstruction + kl)
    elbo_se: float | None  # standard error of elbo over examples
    log_likelihood: float | None  # mean L_K, the importance-sampled log p(x)
    log_likelihood_se: float | None  # std of per-example L_K / √N
    gap: float | None  # log_likelihood − elbo (≥ 0 up to noise): the inference gap
    bits_per_dim: float | None  # −log_likelihood / (D ln 2)
    bits_per_dim_note: str | None  # what bits per dim mean for this data and likelihood
    kl_per_dim: list[float] | None  # mean KL of each latent dimension
    latent_mean_variance: list[float]  # Cov_x(E_q[z_u]) of each latent dimension
    active_units: int  # units with latent_mean_variance > vaelab.core.inference.ACTIVE_THRESHOLD
    reconstruction_mse: float  # mean squared error per feature, on the data scale
    knn_accuracy: float | None = None  # kNN on latent means, train codes → test codes
    knn_k: int | None = None
    knn_n_train: int | None = None
    trustworthiness: float | None = None  # sklearn.manifold.trustworthiness of the means
    trustworthiness_k: int | None = None
    trustworthiness_n: int | None = None
    iw_precision: str = "fp32"  # precision of the networks inside importance sampling, as run
    iw_precision_requested: str = "fp32"  # what was asked: "auto", "fp32" or "bf16"
    iw_precision_check: dict | None = None  # `PrecisionCheck` of "auto" (None: no check ran)
    device: str = "cpu"  # where the model ran: "cpu" or a CUDA device
    seconds: float = 0.0  # wall time of the evaluation
    cpu_seconds: float = 0.0  # CPU time of this process (all threads): robust on a shared machine
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable: NaN and inf become None."""

        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, list):
                return [clean(u) for u in v]
            return v

        return {k: clean(v) for k, v in asdict(self).items()}

    def table(self) -> str:
        """A plain-text table of the main numbers."""

        def fmt(v, se=None, digits=3):
            if v is None:
                return "—"
            s = f"{v:.{digits}f}"
            return s if se is None else f"{s} ± {se:.{digits}f}"

        rows = [
            (
                "model",
                f"{self.model_kind}, {self.latent_dim} latents, on {self.data_name} "
                f"({self.n_examples} examples)",
            ),
            ("reconstruction −E_q log p(x|z) [nats]", fmt(self.reconstruction)),
            ("KL(q(z|x) ‖ p(z)) [nats]", fmt(self.kl)),
            ("ELBO [nats]", fmt(self.elbo, self.elbo_se)),
            (
                f"log p(x), L_K with K={self.iw_samples}"
                f"{'' if self.iw_precision == 'fp32' else ', ' + self.iw_precision} [nats]",
                fmt(self.log_likelihood, self.log_likelihood_se),
            ),
            ("gap log p(x) − ELBO [nats]", fmt(self.gap)),
            ("bits per dim", fmt(self.bits_per_dim, digits=4)),
            ("active units (Cov_x E_q[z_u] > 0.01)", f"{self.active_units} / {self.latent_dim}"),
            ("reconstruction MSE per feature", fmt(self.reconstruction_mse, digits=5)),
        ]
        if self.knn_accuracy is not None:
            rows.append(
                (
                    f"kNN accuracy (k={self.knn_k}, {self.knn_n_train} train codes)",
                    fmt(self.knn_accuracy, digits=4),
                )
            )
        if self.trustworthiness is not None:
            rows.append(
                (
                    f"trustworthiness (k={self.trustworthiness_k}, n={self.trustworthiness_n})",
                    fmt(self.trustworthiness, digits=4),
                )
            )
        rows.append((f"seconds on {self.device} (wall, CPU)", f"{self.seconds:.1f}, {self.cpu_seconds:.1f}"))
        width = max(len(r[0]) for r in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        if self.bits_per_dim_note:
            lines.append(f"bits per dim: {self.bits_per_dim_note}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def bits_per_dim_note(kind: str, likelihood: str) -> str:
    """What −log₂ p(x) / D means for data of this ``kind`` under this likelihood.

    Examples
    --------
    >>> bits_per_dim_note("binary", "bernoulli").startswith("bits per binary pixel")
    True
    """
    if likelihood == "bernoulli":
        if kind == "binary":
            return "bits per binary pixel: a proper discrete probability of the 0/1 data"
        return (
            "NOT a proper likelihood: the Bernoulli 'likelihood' of grey levels in "
            "(0, 1) is not a normalised density of grey-level images; compare only "
            "with the same data and likelihood"
        )
    return (
        "bits per dimension of a continuous density (not discretized; can be negative) "
        "on this data's scale; comparable only with the same scaling"
    )


def evaluate(
    model: Model,
    data: Dataset,
    *,
    iw_samples: int = 5000,
    train_data: Dataset | None = None,
    subsample: int | None = None,
    latent_metrics: bool = True,
    knn_k: int = 10,
    max_knn_train: int = 10_000,
    trustworthiness_k: int = 5,
    max_trustworthiness: int = 2000,
    memory_mb: float | None = None,
    iw_precision: str = "auto",
    seed: int = 0,
) -> Evaluation:
    """Measure a trained model on ``data``.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset
        Test data as the model sees it (binarized if it was trained on binarized data).
    iw_samples : int
        K of the importance-sampled log-likelihood (0: skip it; the ELBO then uses
        one sample per example). Ignored for an autoencoder.
    train_data : Dataset, optional
        Labelled training data for the kNN classifier on latent means.
    subsample : int, optional
        Evaluate on a seeded random subset of this many test examples.
    latent_metrics : bool
        Compute kNN accuracy and trustworthiness (needs labels).
    knn_k, max_knn_train : int
        Neighbours of the kNN classifier (at most the training codes it uses), and the
        most training codes it uses.
    trustworthiness_k, max_trustworthiness : int
        Neighbours of trustworthiness, and the most test examples it uses (it is
        quadratic in their number).
    memory_mb : float, optional
        Activation budget of one decode batch of the importance sampler (default:
        `vaelab.core.importance.default_memory_mb` of the model's device).
    iw_precision : {"auto", "fp32", "bf16"}
        Precision of the networks inside importance sampling. "fp32" is the
        reference; "bf16" runs them as bf16 autocast would (log-densities summed in
        fp32, weights in float64), about twice as fast on CPUs with AVX-512 BF16 or
        AMX; ``benchmarks/iw_eval.py`` measures both. "auto" (default) runs bf16 where
        the hardware has it natively and a self-check on this model and data
        (`check_bf16`: ≤ 0.01 nats from fp32) passes, else fp32
        (`choose_iw_precision`); the result records which ran and the check.
    seed : int
        Seeds the subsets and the Monte-Carlo draws.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> x = np.random.default_rng(0).integers(0, 2, (40, 6)).astype(np.float32)
    >>> ds = Dataset(x, np.arange(40) % 2, (6,), "binary")
    >>> vae = VAE(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,)))
    >>> ev = evaluate(vae, ds, iw_samples=20, train_data=ds)
    >>> ev.log_likelihood >= ev.elbo, 0.0 <= ev.knn_accuracy <= 1.0
    (True, True)
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    cfg = model.config
    if data.n_features != cfg.n_features:
        raise DataError(
            f"data {data.name} has {data.n_features} features per sample but "
            f"the model expects {cfg.n_features}"
        )
    if iw_samples < 0:
        raise ConfigError(f"iw_samples={iw_samples} must be >= 0")
    if iw_precision not in IW_PRECISION_CHOICES:
        raise ConfigError(f"iw_precision={iw_precision!r} must be one of {IW_PRECISION_CHOICES}")
    if subsample is not None and subsample < 1:
        raise ConfigError(f"subsample={subsample} must be >= 1")
    if latent_metrics:
        _check_knn_k(knn_k, max_knn_train, data, train_data)
    data = seeded_subset(data, subsample, seed)
    device = model_device(model)
    model.eval()
    x = as_flat_tensor(data, device)  # (N, D)
    n, d = x.shape
    notes: list[str] = []
    gen = torch.Generator(device=device).manual_seed(seed)
    vae = model if isinstance(model, VAE) else None  # None: an autoencoder

    codes = encode(model, data)  # (N, Z) latent means / AE codes
    with torch.inference_mode():
        recon = map_batches(model.reconstruct, x)
        mse = float((recon.float() - x).pow(2).mean())
    activity = code_activity(codes)

    kl = kl_per_dim = elbo = elbo_se = ll = ll_se = gap = bpd = None
    precision, check = "fp32", None
    # a two-layer VAE's KL has no closed form: its Monte-Carlo estimate, from the same samples
    # as its reconstruction term
    hierarchical = isinstance(vae, HierarchicalVAE)
    if vae is not None and not hierarchical:
        with torch.inference_mode():
            kld = map_batches(
                lambda b: gaussian_kl_per_dim(*(t.float() for t in vae.posterior(b))), x
            ).double()  # (N, Z)
        kl_per_dim = kld.mean(0).tolist()
        kl_ex = kld.sum(1).cpu().numpy()  # (N,)
    if vae is not None:
        if iw_samples > 0:
            precision, check, why = choose_iw_precision(vae, x, iw_samples, iw_precision, seed)
            est = iw_log_likelihood(
                vae, x, iw_samples, memory_mb=memory_mb, generator=gen, autocast=IW_PRECISIONS[precision]
            )
            if why is not None:
                notes.append(why)
            if precision != "fp32":
                notes.append(
                    f"importance sampling ran the networks in {precision} (faster); fp32 is the reference"
                )
            rec_ex = est.reconstruction
            ll, ll_se = est.mean, est.standard_error
            if hierarchical:
                kl_ex = -est.log_weight_mean - rec_ex  # the K-sample estimate of the KL
        else:
            with torch.inference_mode():  # (N, 2): reconstruction and kl of one sample per example
                terms = map_batches(
                    lambda b: torch.stack([t.double() for t in model(b, beta=1.0)[1:3]], 1), x
                )
            rec_ex = terms[:, 0].cpu().numpy()
            if hierarchical:
                kl_ex = terms[:, 1].cpu().numpy()
            notes.append("iw_samples=0: no log-likelihood; the ELBO uses one sample per example")
        elbo_ex = -(rec_ex + kl_ex)
        reconstruction, kl, elbo = float(rec_ex.mean()), float(kl_ex.mean()), float(elbo_ex.mean())
        elbo_se = float(elbo_ex.std(ddof=1) / math.sqrt(n)) if n > 1 else None
        if ll is not None:
            gap = ll - elbo
            bpd = -ll / (d * math.log(2))
    else:
        with torch.inference_mode():
            reconstruction = float(map_batches(lambda b: model(b).reconstruction.double(), x).mean())
        notes.append(
            "autoencoder: no density p(x), so no ELBO, log-likelihood or bits per "
            "dim; reconstruction and latent metrics only"
        )

    ev = Evaluation(
        model_kind=f"vae with a second stochastic layer of {cfg.latent_dim2}"
        if cfg.latent_dim2
        else cfg.kind,
        data_name=data.name,
        n_examples=n,
        n_features=d,
        latent_dim=cfg.latent_dim,
        iw_samples=iw_samples if vae is not None else 0,
        reconstruction=reconstruction,
        kl=kl,
        elbo=elbo,
        elbo_se=elbo_se,
        log_likelihood=ll,
        log_likelihood_se=ll_se,
        gap=gap,
        bits_per_dim=bpd,
        bits_per_dim_note=bits_per_dim_note(data.kind, cfg.likelihood) if bpd is not None else None,
        kl_per_dim=kl_per_dim,
        latent_mean_variance=activity.variances,
        active_units=activity.n_active,
        reconstruction_mse=mse,
        iw_precision=precision,
        iw_precision_requested=iw_precision,
        iw_precision_check=None if check is None else asdict(check),
        device=str(device),
        notes=notes,
    )
    if latent_metrics:
        _latent_quality(
            ev,
            model,
            data,
            codes,
            train_data,
            knn_k,
            max_knn_train,
            trustworthiness_k,
            max_trustworthiness,
            seed,
        )
    ev.seconds = time.perf_counter() - start
    ev.cpu_seconds = time.process_time() - start_cpu
    return ev


def _check_knn_k(knn_k: int, max_knn_train: int, data: Dataset, train_data: Dataset | None) -> None:
    """Refuse a kNN classifier that cannot have ``knn_k`` neighbours (before the slow parts)."""
    if isinstance(knn_k, bool) or not isinstance(knn_k, numbers.Integral) or knn_k < 1:
        raise ConfigError(f"knn_k={knn_k!r} must be an integer >= 1")
    if data.y is None or train_data is None or train_data.y is None:
        return  # no kNN accuracy: the note says so
    n_train = min(len(train_data), max_knn_train)
    if knn_k > n_train:
        raise ConfigError(
            f"knn_k={knn_k} must be at most the {n_train} training codes the kNN classifier "
            f"searches for neighbours ({train_data.name})"
        )


def _latent_quality(
    ev, model, data, codes, train_data, knn_k, max_knn_train, trust_k, max_trust, seed
) -> None:
    """kNN accuracy and trustworthiness of the latent means (`code_scores`), into ``ev``."""
    train = None
    if data.y is None:
        ev.notes.append("no labels: kNN accuracy skipped")
    elif train_data is None or train_data.y is None:
        ev.notes.append("no labelled training data: kNN accuracy skipped")
    else:
        train = seeded_subset(train_data, max_knn_train, seed + 2)
    m = min(len(data), max_trust)
    k = min(trust_k, (m - 1) // 2)  # trustworthiness needs k < m / 2
    scores = code_scores(
        data.x.reshape(len(data), -1),
        codes,
        train_codes=None if train is None else encode(model, train),
        train_labels=None if train is None else train.y,
        labels=data.y,
        knn_k=() if train is None else (int(knn_k),),
        trust_idx=seeded_subset(np.arange(len(data)), m, seed + 1) if k >= 1 else None,
        trust_k=k,
    )
    if train is not None:
        ev.knn_accuracy, ev.knn_k, ev.knn_n_train = scores.knn_accuracy[0], int(knn_k), len(train)
    if scores.trustworthiness is not None:
        ev.trustworthiness, ev.trustworthiness_k, ev.trustworthiness_n = scores.trustworthiness, k, m


def evaluate_run(
    run_dir: str | Path,
    data=None,
    *,
    iw_samples: int = 5000,
    subsample: int | None = None,
    latent_metrics: bool = True,
    write: bool = True,
    device: str = "auto",
    **kwargs,
) -> Evaluation:
    """Evaluate a run directory's model and write ``RUN/evaluation.json``.

    Parameters
    ----------
    run_dir : path
        A complete run directory (`vaelab.runs.run.train_run`).
    data : DataSpec or Dataset, optional
        Default: the run's own test split (through `vaelab.runs.run.run_data`), seen as
        in training: under dynamic binarization, one fixed seeded binarization
        (`vaelab.runs.run.eval_view`). A `DataSpec` is loaded and its test split used;
        a `Dataset` is used as it is (no kNN accuracy then).
    iw_samples, subsample, latent_metrics, **kwargs
        As for `evaluate`.
    write : bool
        Write evaluation.json (atomically) into the run directory.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where the model runs (`vaelab.training.runtime.resolve_device`: "auto" is
        a CUDA GPU where there is one); evaluation.json records it.

    Returns
    -------
    Evaluation
    """
    from vaelab._atomic import atomic_write_json
    from vaelab.runs.run import DataSpec, load_data, load_run, run_data
    from vaelab.training.runtime import resolve_device

    run_dir = Path(run_dir)
    where = resolve_device(device)  # before loading: a bad device loses no time
    model, config = load_run(run_dir)
    model.to(where)
    train_data = None
    if isinstance(data, Dataset):
        test = data
    else:
        from vaelab.runs.run import eval_split

        splits, tcfg, seed = run_data(config)
        if isinstance(data, DataSpec):
            splits = load_data(data)
        test = eval_split(splits, "test", tcfg, seed)  # the same draw as train_run's
        train_data = eval_split(splits, "train", tcfg, seed) if latent_metrics else None
    ev = evaluate(
        model,
        test,
        iw_samples=iw_samples,
        train_data=train_data,
        subsample=subsample,
        latent_metrics=latent_metrics,
        **kwargs,
    )
    if write:
        atomic_write_json(run_dir / EVALUATION, ev.to_dict())
    return ev
