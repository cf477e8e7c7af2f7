"""Models applied to data, in batches and without gradients: codes, decodings, ELBO terms.

The one home of batched encode/decode (`map_batches`, `encode`, `decode`), of the
seeded subset of rows (`seeded_subset`) and of the active-units rule (Burda et al.
2015: unit u is active when Cov_x(E_q[z_u]) > 0.01); every experiment, the
evaluation and the explainer use these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import torch

from vaelab.core.models import VAE, Model
from vaelab.data import Dataset
from vaelab.errors import ConfigError

EVAL_BATCH = 4096  # inputs per forward pass when no gradient is needed
ACTIVE_THRESHOLD = 0.01  # Burda et al. 2015: unit u is active if Cov_x(E_q[z_u]) > 0.01


def as_flat_tensor(ds: Dataset, device: torch.device) -> torch.Tensor:
    """The samples as one ``(N, D)`` float32 tensor on ``device`` (no copy on CPU when possible)."""
    x = torch.from_numpy(np.ascontiguousarray(ds.x)).reshape(len(ds), -1)
    return x.to(device)


@torch.inference_mode()
def elbo_terms(
    model: Model, x: torch.Tensor, batch_size: int = EVAL_BATCH, seed: int = 0
) -> dict[str, float]:
    """Mean reconstruction, KL and negative ELBO (β = 1) over ``x``, in fp32.

    One reparameterized sample per example, as in the pytorch/examples "test loss",
    drawn from ``seed`` (torch's global random state is left as it was), so the
    same model and data give the same numbers in any process.
    """
    with torch.random.fork_rng(devices=[x.device.index or 0] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _elbo_terms(model, x, batch_size)


def _elbo_terms(model: Model, x: torch.Tensor, batch_size: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    rec = torch.zeros((), dtype=torch.float64, device=x.device)
    kl = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size], beta=1.0)
        rec += out.reconstruction.double().sum()
        kl += out.kl.double().sum()
    model.train(was_training)
    n = len(x)
    r, k = rec.item() / n, kl.item() / n
    return {"loss": r + k, "reconstruction": r, "kl": k}


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on."""
    return next(model.parameters()).device


def flat_array(x: np.ndarray | Dataset) -> np.ndarray:
    """Samples as one ``(N, D)`` float32 array (no copy when already so)."""
    arr = x.x if isinstance(x, Dataset) else np.asarray(x)
    return np.ascontiguousarray(arr, dtype=np.float32).reshape(len(arr), -1)


Rows = TypeVar("Rows", Dataset, np.ndarray)


def seeded_subset(data: Rows, n: int | None, seed: int | np.random.Generator = 0) -> Rows:
    """A seeded random subset of ``n`` rows, kept in their original order.

    ``data`` itself when ``n`` is None or ``data`` has at most ``n`` rows; then no
    random number is drawn, so a shared generator ``seed`` moves on only when rows
    are dropped.

    Parameters
    ----------
    data : Dataset or ndarray
        Rows to choose from (a Dataset keeps its labels, name and meta aligned).
    n : int or None
        Rows to keep (>= 1); None keeps all.
    seed : int or numpy.random.Generator
        The draw: ``np.sort(default_rng(seed).choice(len(data), n, replace=False))``.

    Returns
    -------
    Dataset or ndarray
        Same type as ``data``.

    Examples
    --------
    >>> seeded_subset(np.arange(10), 3, seed=0)
    array([5, 6, 9])
    >>> seeded_subset(np.arange(3), 5).tolist()
    [0, 1, 2]
    """
    if n is None or len(data) <= n:
        return data
    if n < 1:
        raise ConfigError(f"n={n} rows to keep must be >= 1 (or None for all {len(data)})")
    idx = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
    if isinstance(data, Dataset):
        # Rows is Dataset here; the cast says so where mypy checks Rows = ndarray
        return cast(Rows, data.subset(idx))
    return data[idx]


def map_batches(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = EVAL_BATCH
) -> torch.Tensor:
    """``fn`` applied to row batches of ``x`` (at least one row), concatenated: ``(N, ...)``.

    Examples
    --------
    >>> map_batches(lambda b: b * 2, torch.arange(5), batch_size=2).tolist()
    [0, 2, 4, 6, 8]
    """
    return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.inference_mode()
def encode(model: Model, data: np.ndarray | Dataset, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """The deterministic code of every input: the AE's f(x), the VAE's posterior mean μ(x).

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset or array of shape (N, ...)
        Inputs; flattened to (N, D).
    batch_size : int
        Inputs per forward pass.

    Returns
    -------
    ndarray of shape (N, Z), float32

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> encode(vae, np.zeros((5, 8), dtype=np.float32)).shape
    (5, 2)
    """
    x = flat_array(data)
    if len(x) == 0:
        return np.zeros((0, model.config.latent_dim), np.float32)
    dev = model_device(model)
    return map_batches(lambda b: model.code(b.to(dev)).float().cpu(), torch.from_numpy(x), batch_size).numpy()


@torch.inference_mode()
def decode(model: Model, z: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Decoder means E[x|z] at codes ``z`` (N, Z), on the data scale: (N, D) float32.

    Examples
    --------
    >>> from vaelab.core.models import Autoencoder, ModelConfig
    >>> ae = Autoencoder(ModelConfig(kind="ae", input_shape=(8,), latent_dim=2, hidden=(4,)))
    >>> decode(ae, np.zeros((3, 2))).shape
    (3, 8)
    """
    z = np.ascontiguousarray(z, dtype=np.float32)
    if len(z) == 0:
        return np.zeros((0, model.config.n_features), np.float32)
    dev = model_device(model)
    return map_batches(
        lambda b: model.decode_mean(b.to(dev)).float().cpu(), torch.from_numpy(z), batch_size
    ).numpy()


@torch.inference_mode()
def aggregate_posterior_codes(
    model: Model, data: np.ndarray | Dataset, seed: int = 0, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """One draw from the aggregate posterior per input: z ~ q(z|x) for a VAE, f(x) for an AE.

    The aggregate posterior q(z) = mean over the data of q(z|x) is what the
    VAE's KL term pulls towards the prior. Its posterior means alone (`encode`)
    are narrower than q(z): the posterior noise σ(x) fills the rest. An
    autoencoder's q(z|x) is a point, so its draws are its codes.

    Returns
    -------
    ndarray of shape (N, Z), float32

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> x = np.zeros((3, 8), dtype=np.float32)
    >>> bool(np.all(aggregate_posterior_codes(vae, x) != encode(vae, x)))
    True
    """
    if not isinstance(model, VAE):
        return encode(model, data, batch_size)
    x = flat_array(data)
    if len(x) == 0:
        return np.zeros((0, model.config.latent_dim), np.float32)
    dev = model_device(model)
    gen = torch.Generator().manual_seed(seed)  # batches are drawn in order: one stream

    def draw(b: torch.Tensor) -> torch.Tensor:
        mu, log_var = model.posterior(b.to(dev))  # (B, Z) each
        eps = torch.randn(mu.shape, generator=gen).to(dev)
        return (mu + eps * (0.5 * log_var).exp()).float().cpu()

    return map_batches(draw, torch.from_numpy(x), batch_size).numpy()


@dataclass
class ActiveUnits:
    """Active units (Burda et al. 2015): Cov_x(E_q[z_u]) > threshold."""

    n_active: int  # number of units whose code variance over the data exceeds threshold
    latent_dim: int
    threshold: float
    variances: list[float]  # Cov_x(E_q[z_u]) for every unit u

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def active_units(
    model: Model, data: np.ndarray | Dataset, threshold: float = ACTIVE_THRESHOLD
) -> ActiveUnits:
    """Count the latent units that carry information about x.

    A unit u is active when the variance over the data of its posterior mean,
    Cov_x(E_q[z_u]), exceeds ``threshold`` (0.01 in Burda et al. 2015). A
    collapsed unit has μ_u(x) ≈ 0 for every x: its code ignores the input.

    Parameters
    ----------
    model : VAE or Autoencoder
    data : Dataset or array (N, ...)
        Usually the test set.
    threshold : float

    Returns
    -------
    ActiveUnits

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=3, hidden=(4,))).eval()
    >>> au = active_units(vae, np.random.default_rng(0).random((100, 8)))
    >>> au.latent_dim, len(au.variances)
    (3, 3)
    """
    return code_activity(encode(model, data), threshold)


def code_activity(codes: np.ndarray | torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> ActiveUnits:
    """`active_units` of posterior means already computed: ``codes`` is ``(N, Z)``.

    The variance is the unbiased one over the N rows, in float64 (0 for N = 1).

    Examples
    --------
    >>> code_activity(np.array([[0.0, 0.0], [1.0, 0.01]])).n_active
    1
    """
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes, dtype=np.float64)
    var = codes.var(axis=0, ddof=1) if len(codes) > 1 else np.zeros(codes.shape[1])
    return ActiveUnits(int((var > threshold).sum()), codes.shape[1], float(threshold), var.tolist())
