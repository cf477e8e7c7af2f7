"""Latent-space tools: codes, samplers, interpolation, traversal, quantile grids.

Everything here takes a trained model (`vaelab.core.models.VAE` or `Autoencoder`) and
returns NumPy arrays or small dataclasses with ``to_dict`` (JSON-ready); the
figures are in `vaelab.report.figures.latent`.

- `encode`: the deterministic code of each input (the AE's f(x), the VAE's μ(x)).
- `active_units`: Burda et al. (2015): unit u is active if Cov_x(E_q[z_u]) > 0.01.
- Samplers of codes: `prior_codes` (N(0, I)), `gaussian_codes` (one Gaussian fitted
  to the codes) and `gmm_codes` (an ex-post scikit-learn GaussianMixture fitted to
  the aggregate posterior, i.e. to the codes of the training data). Decode any of
  them with `decode`.
- `interpolate`: linear or spherical (slerp) paths between the codes of two inputs.
- `traverse`: vary one latent dimension, keep the others fixed.
- `quantile_grid`: a 2-D grid of codes at prior quantiles, norm.ppf of an even grid
  in (0, 1): the whole learned manifold of a 2-D latent in one picture.
- `latent_scatter`: 2-D codes and labels for a scatter plot.

`latent_tour` runs them all on one model and returns a `LatentTour`;
`vaelab.report.writers.write_latent` writes ``latent.json`` and the figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from vaelab.core.inference import (
    ActiveUnits,
    active_units,
    aggregate_posterior_codes,
    decode,
    encode,
    flat_array,
    seeded_subset,
)
from vaelab.core.models import Model
from vaelab.data import Dataset
from vaelab.errors import ConfigError

__all__ = [
    "ActiveUnits",
    "Interpolation",
    "LatentScatter",
    "LatentTour",
    "QuantileGrid",
    "Traversal",
    "active_units",
    "aggregate_posterior_codes",
    "decode",
    "encode",
    "gaussian_codes",
    "gmm_codes",
    "interpolate",
    "latent_scatter",
    "latent_tour",
    "lerp",
    "prior_codes",
    "quantile_grid",
    "slerp",
    "traverse",
]


def _as_lists(obj: Any) -> Any:
    """Dataclass fields → JSON-ready values (arrays become nested lists)."""
    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


# ---------------------------------------------------------------- samplers of codes


def prior_codes(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """``n`` draws from the prior N(0, I): (n, latent_dim) float32.

    Examples
    --------
    >>> prior_codes(4, 3).shape
    (4, 3)
    """
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def gaussian_codes(codes: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` draws from N(mean, cov) of ``codes`` (N, Z): a moment-matched Gaussian.

    For an autoencoder this is the fairest single-Gaussian sampler: it at least
    puts samples where the codes are on average, at their scale.

    Examples
    --------
    >>> c = np.random.default_rng(0).normal(5.0, 2.0, size=(500, 2))
    >>> gaussian_codes(c, 2000).mean(axis=0).round(0)
    array([5., 5.], dtype=float32)
    """
    codes = np.asarray(codes, dtype=np.float64)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(codes.mean(axis=0), cov, size=n, method="eigh").astype(np.float32)


def gmm_codes(
    codes: np.ndarray,
    n: int,
    n_components: int = 10,
    covariance_type: str = "full",
    seed: int = 0,
) -> tuple[np.ndarray, GaussianMixture]:
    """Ex-post sampler: a GaussianMixture fitted to the aggregate posterior, then sampled.

    Fit the mixture to the codes of the training data (`encode`), draw ``n``
    codes from it, and decode them with `decode`. This turns an autoencoder
    into a passable generator (Ghosh et al. 2020, "From variational to
    deterministic autoencoders"), and fills a VAE's prior holes.

    Parameters
    ----------
    codes : ndarray (N, Z)
        Codes of the training data.
    n : int
        Number of codes to draw.
    n_components : int
        Mixture components (at most N).
    covariance_type : {"full", "tied", "diag", "spherical"}
    seed : int

    Returns
    -------
    samples : ndarray (n, Z) float32, in a random order
    mixture : sklearn.mixture.GaussianMixture
        The fitted mixture (``score_samples`` gives the code density).

    Examples
    --------
    >>> c = np.random.default_rng(0).normal(size=(300, 2))
    >>> z, gmm = gmm_codes(c, 50, n_components=3)
    >>> z.shape, gmm.n_components
    ((50, 2), 3)
    """
    codes = np.asarray(codes, dtype=np.float64)
    if not 1 <= n_components <= len(codes):
        raise ConfigError(
            f"n_components={n_components} must be between 1 and the number of codes ({len(codes)})"
        )
    gmm = GaussianMixture(
        n_components, covariance_type=covariance_type, random_state=seed, reg_covar=1e-5
    ).fit(codes)
    z, _ = gmm.sample(n)
    z = z[np.random.default_rng(seed).permutation(n)]  # sample() returns z grouped by component
    return z.astype(np.float32), gmm


# ---------------------------------------------------------------- paths through the code space


def lerp(za: np.ndarray, zb: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation (1 − t)·za + t·zb for each t: (len(t), Z).

    Examples
    --------
    >>> lerp(np.array([0.0, 0.0]), np.array([2.0, 4.0]), np.array([0.0, 0.5, 1.0]))
    array([[0., 0.],
           [1., 2.],
           [2., 4.]])
    """
    t = np.asarray(t, dtype=np.float64)[:, None]
    return (1 - t) * np.asarray(za, np.float64) + t * np.asarray(zb, np.float64)


def slerp(za: np.ndarray, zb: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): (len(t), Z).

    Follows the great circle between the directions of za and zb, with the norm
    interpolated linearly, so the path keeps to the shell where Gaussian codes
    live (norm ≈ √Z) instead of cutting through the low-norm interior as `lerp`
    does. Parallel endpoints fall back to `lerp`.

    Examples
    --------
    >>> z = slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.5]))
    >>> np.round(z, 4), np.round(np.linalg.norm(z), 4)
    (array([[0.7071, 0.7071]]), np.float64(1.0))
    """
    za, zb = np.asarray(za, np.float64), np.asarray(zb, np.float64)
    t = np.asarray(t, dtype=np.float64)[:, None]
    na, nb = np.linalg.norm(za), np.linalg.norm(zb)
    if na == 0 or nb == 0:
        return lerp(za, zb, t[:, 0])
    cos = np.clip(za @ zb / (na * nb), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return lerp(za, zb, t[:, 0])
    ua, ub = za / na, zb / nb
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


@dataclass
class Interpolation:
    """Codes along a path between two inputs, and their decodings."""

    method: str  # "linear" or "slerp"
    t: np.ndarray  # (S,) positions along the path, 0 and 1 included
    z: np.ndarray  # (S, Z) codes
    x: np.ndarray  # (S, D) decoder means
    endpoints: np.ndarray  # (2, D) the two inputs

    def to_dict(self) -> dict:
        """JSON-ready fields (arrays as nested lists)."""
        return _as_lists(self)


def interpolate(
    model: Model,
    x_a: np.ndarray,
    x_b: np.ndarray,
    n_steps: int = 10,
    method: str = "linear",
) -> Interpolation:
    """Decode a path between the codes of two inputs.

    Parameters
    ----------
    model : VAE or Autoencoder
    x_a, x_b : ndarray
        Two inputs (one sample each, any shape with D values).
    n_steps : int
        Points on the path, endpoints included (>= 2). The endpoints decode to
        the reconstructions of ``x_a`` and ``x_b``.
    method : {"linear", "slerp"}

    Returns
    -------
    Interpolation

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> path = interpolate(vae, np.zeros(8), np.ones(8), n_steps=5, method="slerp")
    >>> path.z.shape, path.x.shape
    ((5, 2), (5, 8))
    """
    paths = {"linear": lerp, "slerp": slerp}
    if method not in paths:
        raise ConfigError(f"method={method!r} must be one of {tuple(paths)}")
    if n_steps < 2:
        raise ConfigError(f"n_steps={n_steps} must be >= 2 (the two endpoints)")
    ends = flat_array(np.stack([np.asarray(x_a).reshape(-1), np.asarray(x_b).reshape(-1)]))
    za, zb = encode(model, ends)
    t = np.linspace(0.0, 1.0, n_steps)
    z = paths[method](za, zb, t).astype(np.float32)
    return Interpolation(method, t, z, decode(model, z), ends)


@dataclass
class Traversal:
    """One latent dimension varied over ``values``, the others held at ``base``."""

    dim: int
    values: np.ndarray  # (S,) values given to z[dim]
    base: np.ndarray  # (Z,) the code the other dimensions come from
    z: np.ndarray  # (S, Z)
    x: np.ndarray  # (S, D) decoder means

    def to_dict(self) -> dict:
        """JSON-ready fields (arrays as nested lists)."""
        return _as_lists(self)


def traverse(
    model: Model,
    dim: int,
    base: np.ndarray | None = None,
    n_steps: int = 9,
    limit: float = 2.5,
) -> Traversal:
    """Decode codes that differ only in latent dimension ``dim``.

    Parameters
    ----------
    model : VAE or Autoencoder
    dim : int
        The latent dimension to vary, 0 <= dim < Z.
    base : ndarray (Z,), optional
        The code the other dimensions keep; the prior mean 0 by default (pass
        ``encode(model, x)[0]`` to traverse around an input's code).
    n_steps : int
        Values of z[dim], evenly spaced on [−limit, limit].
    limit : float
        In prior standard deviations: 2.5 spans about 99 % of N(0, 1).

    Returns
    -------
    Traversal

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=3, hidden=(4,))).eval()
    >>> tr = traverse(vae, dim=1, n_steps=5)
    >>> tr.z[:, 1].tolist(), tr.z[:, 0].tolist()
    ([-2.5, -1.25, 0.0, 1.25, 2.5], [0.0, 0.0, 0.0, 0.0, 0.0])
    """
    latent_dim = model.config.latent_dim
    if not 0 <= dim < latent_dim:
        raise ConfigError(f"dim={dim} must be between 0 and latent_dim-1={latent_dim - 1}")
    base = np.zeros(latent_dim, np.float32) if base is None else np.asarray(base, np.float32)
    if base.shape != (latent_dim,):
        raise ConfigError(f"base has shape {base.shape}; expected ({latent_dim},)")
    values = np.linspace(-limit, limit, n_steps).astype(np.float32)
    z = np.repeat(base[None], n_steps, axis=0)
    z[:, dim] = values
    return Traversal(dim, values, base, z, decode(model, z))


@dataclass
class QuantileGrid:
    """Codes on an n×n grid of prior quantiles and their decodings, row-major."""

    quantiles: np.ndarray  # (n,) probabilities, evenly spaced in (0, 1)
    values: np.ndarray  # (n,) norm.ppf(quantiles), increasing
    dims: tuple[int, int]  # the two latent dimensions spanned (others are 0)
    z: np.ndarray  # (n*n, Z): row i has z[dims[1]] = values[n-1-i] (top is high), column j
    #                z[dims[0]] = values[j]
    x: np.ndarray  # (n*n, D) decoder means

    def to_dict(self) -> dict:
        """JSON-ready fields (arrays as nested lists)."""
        d = _as_lists(self)
        d["dims"] = list(self.dims)
        return d


def quantile_grid(model: Model, n: int = 15, dims: tuple[int, int] = (0, 1)) -> QuantileGrid:
    """Decode a grid of codes placed at prior quantiles: the learned manifold in one picture.

    The grid coordinates are norm.ppf of n probabilities evenly spaced in (0, 1)
    ((i + 0.5) / n, i = 0..n−1), so each cell covers an equal share of prior
    mass (Kingma & Welling 2014, Fig. 4). For a latent size above 2 the other
    dimensions are held at 0.

    Parameters
    ----------
    model : VAE or Autoencoder
    n : int
        Grid side (>= 2).
    dims : (int, int)
        The two latent dimensions spanned: x-axis, y-axis.

    Returns
    -------
    QuantileGrid

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> g = quantile_grid(vae, n=4)
    >>> g.z.shape, g.x.shape, bool(np.all(np.diff(g.values) > 0))
    ((16, 2), (16, 8), True)
    """
    latent_dim = model.config.latent_dim
    if n < 2:
        raise ConfigError(f"n={n} must be >= 2")
    if len(set(dims)) != 2 or not all(0 <= d < latent_dim for d in dims):
        raise ConfigError(f"dims={dims} must be two different latent dimensions in [0, {latent_dim - 1}]")
    q = (np.arange(n) + 0.5) / n
    values = norm.ppf(q)
    z: np.ndarray = np.zeros((n, n, latent_dim), np.float32)  # (n, n, Z), then flattened
    z[:, :, dims[0]] = values[None, :]  # columns: x-axis increases to the right
    z[:, :, dims[1]] = values[::-1, None]  # rows: y-axis increases upwards
    z = z.reshape(n * n, latent_dim)
    return QuantileGrid(q, values, (int(dims[0]), int(dims[1])), z, decode(model, z))


@dataclass
class LatentScatter:
    """2-D positions of codes and their labels, for a scatter plot."""

    xy: np.ndarray  # (N, 2)
    labels: np.ndarray | None  # (N,) or None
    projection: str  # "identity" (Z = 2), "pca" (Z > 2: the codes' first two PCs), "pad"

    def to_dict(self) -> dict:
        """JSON-ready fields (arrays as nested lists)."""
        return _as_lists(self)


def latent_scatter(model: Model, data: Dataset, max_points: int = 5000, seed: int = 0) -> LatentScatter:
    """Codes of (a seeded subset of) ``data`` in 2-D, with their labels.

    A 2-D latent is shown as is. A larger one is projected on the first two
    principal components of its codes (say so in the plot); a 1-D one gets a
    zero second coordinate.

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> ds = Dataset(np.random.default_rng(0).random((50, 8), dtype=np.float32),
    ...              np.arange(50) % 3, (8,), "unit")
    >>> vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,))).eval()
    >>> s = latent_scatter(vae, ds)
    >>> s.xy.shape, s.projection
    ((50, 2), 'identity')
    """
    data = seeded_subset(data, max_points, seed)
    codes = encode(model, data)
    if codes.shape[1] == 2:
        xy, how = codes, "identity"
    elif codes.shape[1] == 1:
        xy, how = np.hstack([codes, np.zeros_like(codes)]), "pad"
    else:
        xy, how = PCA(2, random_state=seed).fit_transform(codes).astype(np.float32), "pca"
    labels = None if data.y is None else np.asarray(data.y)
    return LatentScatter(xy, labels, how)


@dataclass
class LatentTour:
    """Every latent tool on one model (`latent_tour`); ``to_dict`` is ``latent.json``."""

    active_units: ActiveUnits  # on the test data
    interpolations: list[Interpolation]  # linear, then slerp, between the first two test inputs
    traversals: list[Traversal]  # one per latent dimension, at most 10
    quantile_grid: QuantileGrid | None  # None for a 1-D latent
    scatter: LatentScatter  # codes of the test data
    samples: dict[str, np.ndarray]  # sampler ("prior", "gmm") -> (n, D) decoder means
    sample_shape: tuple[int, ...] = field(default=())  # of one input; for figures, not in to_dict

    def to_dict(self) -> dict:
        """JSON-ready (arrays as nested lists, samples rounded to 3 decimals)."""
        return {
            "active_units": self.active_units.to_dict(),
            "interpolations": [p.to_dict() for p in self.interpolations],
            "traversals": [t.to_dict() for t in self.traversals],
            "quantile_grid": None if self.quantile_grid is None else self.quantile_grid.to_dict(),
            "scatter": self.scatter.to_dict(),
            "samples": {k: np.round(v, 3).tolist() for k, v in self.samples.items()},
        }


def latent_tour(
    model: Model,
    train: Dataset,
    test: Dataset,
    *,
    n_steps: int = 10,
    grid_n: int = 15,
    n_samples: int = 32,
    gmm_components: int = 10,
    seed: int = 0,
) -> LatentTour:
    """All the latent tools on one model.

    Measures: active units on ``test``; linear and slerp interpolation between
    the first two test inputs; a traversal of every latent dimension (up to 10);
    a quantile grid (latent size 2 only, else dims 0 and 1 with the rest at 0);
    the codes of ``test`` for a scatter; prior and ex-post GMM samples
    (the mixture fitted to the codes of ``train``). `vaelab.report.writers.write_latent`
    writes them with their figures.

    Returns
    -------
    LatentTour

    Examples
    --------
    >>> from vaelab.core.models import ModelConfig, build_model
    >>> from vaelab.data import load_dataset
    >>> d = load_dataset("digits")
    >>> ae = build_model(ModelConfig(kind="ae", input_shape=(1, 8, 8), latent_dim=3, hidden=(16,)))
    >>> tour = latent_tour(ae.eval(), d.train, d.test, grid_n=3, n_samples=4)
    >>> len(tour.traversals), tour.quantile_grid.x.shape, sorted(tour.samples)
    (3, (9, 64), ['gmm', 'prior'])
    """
    latent_dim = model.config.latent_dim
    paths = [interpolate(model, test.x[0], test.x[1], n_steps, m) for m in ("linear", "slerp")]
    travs = [traverse(model, d) for d in range(min(latent_dim, 10))]
    grid = quantile_grid(model, grid_n) if latent_dim >= 2 else None
    scatter = latent_scatter(model, test, seed=seed)
    z_gmm, _ = gmm_codes(encode(model, train), n_samples, gmm_components, seed=seed)
    samples = {"prior": decode(model, prior_codes(n_samples, latent_dim, seed)), "gmm": decode(model, z_gmm)}
    return LatentTour(
        active_units(model, test), paths, travs, grid, scatter, samples, tuple(test.sample_shape)
    )
