"""The curse of dimensionality, measured (storyline step 1).

In high dimensions data is sparse and distances stop telling points apart. This
module measures both claims on synthetic data across the dimension ``d``, and on
representations the caller passes in (pixels, PCA codes, AE codes, VAE codes):

- `distance_concentration`: the relative contrast (Dmax - Dmin) / Dmin between a
  query's farthest and nearest neighbour goes to 0 as ``d`` grows (Beyer et al.
  1999), and Dmax / Dmin goes to 1.
- `neighbourhood_emptiness`: a ball whose radius is a fixed fraction of the typical
  distance holds almost no points, and the nearest neighbour is almost as far away as
  the average point.
- `gaussian_annulus`: samples of N(0, I_d) live in a thin shell of radius sqrt(d);
  the prior mean, the most probable point, is not a typical sample.
- `pairwise_distance_histograms`: the distribution of pairwise distances, divided by
  its mean, narrows to a spike at 1.
- `representation_contrast`: the same distance statistics on real representations.

Every experiment returns a dataclass of plain numbers with ``to_dict`` (JSON-ready)
and ``from_dict``; `curse_experiments` runs them all into one `CurseResult`,
`vaelab.report.figures.curse` turns them into figures and
`vaelab.report.writers.write_curse` writes ``curse.json`` and the figures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import gammainc

from vaelab.errors import ConfigError, DataError
from vaelab.experiments.options import DEFAULT_DIMS, DISTRIBUTIONS

__all__ = [
    "DEFAULT_DIMS",
    "CurseResult",
    "DistanceConcentration",
    "GaussianAnnulus",
    "NeighbourhoodEmptiness",
    "PairwiseDistanceHistograms",
    "RepresentationContrast",
    "curse_experiments",
    "distance_concentration",
    "gaussian_annulus",
    "neighbourhood_emptiness",
    "pairwise_distance_histograms",
    "representation_contrast",
]

# sqrt(E||x - y||^2 / d) for two independent points: Var U(0,1) = 1/12, Var N(0,1) = 1.
_DISTANCE_SCALE = {"uniform": (2 / 12) ** 0.5, "gaussian": 2**0.5}


class _Result:
    """Mixin: a flat dataclass of JSON-ready fields (str, int, float and lists of them)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Rebuild the result from `to_dict` output (e.g. after a JSON round-trip)."""
        return cls(**data)


@dataclass(frozen=True)
class DistanceConcentration(_Result):
    """Relative contrast and Dmax/Dmin per dimension; statistics are over queries."""

    distribution: str  # "uniform" on [0, 1]^d or standard "gaussian"
    n_points: int  # points each query measures distances to
    n_queries: int  # independent queries, drawn like the points
    seed: int
    dims: list[int]
    contrast_mean: list[float]  # (Dmax - Dmin) / Dmin, mean over queries
    contrast_sd: list[float]
    contrast_p10: list[float]  # 10th and 90th percentiles over queries
    contrast_p90: list[float]
    ratio_mean: list[float]  # Dmax / Dmin
    ratio_sd: list[float]


@dataclass(frozen=True)
class NeighbourhoodEmptiness(_Result):
    """How empty a query's neighbourhood is, per dimension; statistics over queries."""

    distribution: str
    n_points: int
    n_queries: int
    seed: int
    radius_fraction: float  # radius = radius_fraction * sqrt(E||x - y||^2)
    dims: list[int]
    radius: list[float]  # the radius used at each d
    fraction_within_mean: list[float]  # fraction of points within the radius
    fraction_within_sd: list[float]
    nn_to_mean_mean: list[float]  # nearest-neighbour distance / mean distance
    nn_to_mean_sd: list[float]


@dataclass(frozen=True)
class GaussianAnnulus(_Result):
    """Norms of N(0, I_d) samples per dimension, and a histogram of norm / sqrt(d)."""

    n_samples: int
    seed: int
    dims: list[int]
    norm_mean: list[float]
    norm_sd: list[float]  # tends to 1/sqrt(2) ~ 0.707, whatever d
    norm_over_sqrt_d: list[float]  # norm_mean / sqrt(d), tends to 1
    prior_mean_norm: float  # the norm of the prior mean: 0
    fraction_within_unit_ball: list[float]  # samples with ||z|| <= 1
    prob_within_unit_ball: list[float]  # exact P(||z|| <= 1) = chi2_d CDF at 1
    log_density_gap: list[float]  # mean of log p(0) - log p(z) = ||z||^2 / 2, ~ d/2
    hist_edges: list[float]  # common bin edges of norm / sqrt(d)
    hist_counts: list[list[int]]  # one row of counts per d


@dataclass(frozen=True)
class PairwiseDistanceHistograms(_Result):
    """Histograms of pairwise distances divided by their mean, on common bin edges."""

    distribution: str
    n_points: int
    seed: int
    dims: list[int]
    edges: list[float]  # common bin edges of distance / mean distance
    counts: list[list[int]]  # one row of counts per d; each row sums to n_pairs
    n_pairs: int  # n_points * (n_points - 1) / 2
    mean_distance: list[float]  # the normaliser at each d
    relative_sd: list[float]  # sd / mean of the pairwise distances, ~ 1/sqrt(d)


@dataclass(frozen=True)
class RepresentationContrast(_Result):
    """Distance statistics on caller-given representations, aligned with ``names``."""

    n_queries: int
    seed: int
    names: list[str]
    dims: list[int]  # feature dimension of each representation
    n_samples: list[int]
    contrast_mean: list[float]
    contrast_sd: list[float]
    ratio_mean: list[float]
    ratio_sd: list[float]
    nn_to_mean_mean: list[float]
    nn_to_mean_sd: list[float]


def _check_dims(dims: Sequence[int]) -> list[int]:
    out = [int(d) for d in dims]
    if not out or any(d < 1 for d in out):
        raise ConfigError(f"dims={list(dims)} must be a non-empty list of integers >= 1")
    return out


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ConfigError(f"{name}={value} must be >= 1")


def _sample(distribution: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    if distribution == "uniform":
        return rng.random((n, d))
    if distribution == "gaussian":
        return rng.standard_normal((n, d))
    raise ConfigError(f"distribution={distribution!r} must be one of {list(DISTRIBUTIONS)}")


def _distances(a: np.ndarray, b: np.ndarray, exact: bool = False) -> np.ndarray:
    """Euclidean distances in float64, (n_a, d), (n_b, d) -> (n_a, n_b).

    The default uses a matrix product (fast; ~1e-8 absolute error from cancellation).
    ``exact=True`` sums squared differences, so identical rows give exactly 0.
    """
    a64 = torch.as_tensor(np.asarray(a, dtype=np.float64))
    b64 = torch.as_tensor(np.asarray(b, dtype=np.float64))
    mode = "donot_use_mm_for_euclid_dist" if exact else "use_mm_for_euclid_dist"
    return torch.cdist(a64, b64, compute_mode=mode).numpy()


def _synthetic_query_distances(
    distribution: str, d: int, n_points: int, n_queries: int, seed: int
) -> np.ndarray:
    """Distances from fresh queries to fresh points, (n_queries, n_points).

    The generator is seeded by (seed, d), so a given d gives the same numbers
    whichever other dims are asked for.
    """
    rng = np.random.default_rng((seed, d))
    points = _sample(distribution, n_points, d, rng)
    queries = _sample(distribution, n_queries, d, rng)
    return _distances(queries, points)


def distance_concentration(
    dims: Sequence[int] = DEFAULT_DIMS,
    n_points: int = 1000,
    n_queries: int = 100,
    distribution: str = "uniform",
    seed: int = 0,
) -> DistanceConcentration:
    """Measure how nearest and farthest neighbours become alike as d grows.

    For each d, draw ``n_points`` points and ``n_queries`` independent queries; for
    each query take its distances to all points, Dmin and Dmax, and compute the
    relative contrast (Dmax - Dmin) / Dmin and the ratio Dmax / Dmin (Beyer et al.
    1999). Report their mean, sd and 10th/90th percentiles over queries.

    Parameters
    ----------
    dims : sequence of int
        Dimensions to measure.
    n_points : int
        Points per dimension.
    n_queries : int
        Queries per dimension, drawn from the same distribution as the points.
    distribution : {"uniform", "gaussian"}
        Uniform on [0, 1]^d, or standard Gaussian N(0, I_d).
    seed : int
        Seed; each d uses its own stream seeded by (seed, d).

    Returns
    -------
    DistanceConcentration
        One entry per d in every list field.

    Examples
    --------
    >>> r = distance_concentration(dims=(2, 500), n_points=200, n_queries=10)
    >>> r.contrast_mean[0] > 10 * r.contrast_mean[1]
    True
    """
    dims = _check_dims(dims)
    _check_positive(n_points=n_points, n_queries=n_queries)
    fields: dict[str, list[float]] = {k: [] for k in ("cm", "cs", "c10", "c90", "rm", "rs")}
    for d in dims:
        dist = _synthetic_query_distances(distribution, d, n_points, n_queries, seed)
        dmin, dmax = dist.min(axis=1), dist.max(axis=1)  # (Q,)
        contrast = (dmax - dmin) / dmin
        ratio = dmax / dmin
        p10, p90 = np.percentile(contrast, [10, 90])
        for key, value in zip(
            fields,
            (contrast.mean(), contrast.std(), p10, p90, ratio.mean(), ratio.std()),
            strict=True,
        ):
            fields[key].append(float(value))
    return DistanceConcentration(
        distribution,
        n_points,
        n_queries,
        seed,
        dims,
        fields["cm"],
        fields["cs"],
        fields["c10"],
        fields["c90"],
        fields["rm"],
        fields["rs"],
    )


def neighbourhood_emptiness(
    dims: Sequence[int] = DEFAULT_DIMS,
    n_points: int = 1000,
    n_queries: int = 100,
    distribution: str = "uniform",
    radius_fraction: float = 0.5,
    seed: int = 0,
) -> NeighbourhoodEmptiness:
    """Measure how empty a query's neighbourhood becomes as d grows.

    The radius scales with the data: ``radius = radius_fraction * sqrt(E||x - y||^2)``,
    the root-mean-square distance between two independent points, which is
    ``sqrt(d / 6)`` for uniform [0, 1]^d and ``sqrt(2 d)`` for N(0, I_d). So the ball
    is always, say, half as wide as the typical distance; that it still ends up
    empty is the concentration of distances, not just distances growing with d.
    Also reports the nearest-neighbour distance divided by the mean distance, which
    rises toward 1.

    Parameters
    ----------
    dims : sequence of int
        Dimensions to measure.
    n_points : int
        Points per dimension.
    n_queries : int
        Queries per dimension, drawn from the same distribution as the points.
    distribution : {"uniform", "gaussian"}
        Uniform on [0, 1]^d, or standard Gaussian N(0, I_d).
    radius_fraction : float
        The radius as a fraction of the root-mean-square distance; must be > 0.
    seed : int
        Seed; each d uses its own stream seeded by (seed, d), as in
        `distance_concentration`, so both see the same points.

    Returns
    -------
    NeighbourhoodEmptiness
        One entry per d in every list field.

    Examples
    --------
    >>> r = neighbourhood_emptiness(dims=(2, 500), n_points=200, n_queries=10)
    >>> r.fraction_within_mean[0] > 0.1, r.fraction_within_mean[1]
    (True, 0.0)
    """
    dims = _check_dims(dims)
    _check_positive(n_points=n_points, n_queries=n_queries)
    if distribution not in _DISTANCE_SCALE:
        raise ConfigError(f"distribution={distribution!r} must be one of {list(DISTRIBUTIONS)}")
    if not radius_fraction > 0:
        raise ConfigError(f"radius_fraction={radius_fraction} must be > 0")
    radii, fm, fs, nm, ns = [], [], [], [], []
    for d in dims:
        dist = _synthetic_query_distances(distribution, d, n_points, n_queries, seed)
        radius = radius_fraction * _DISTANCE_SCALE[distribution] * d**0.5
        within = (dist <= radius).mean(axis=1)  # (Q,)
        nn_to_mean = dist.min(axis=1) / dist.mean(axis=1)  # (Q,)
        radii.append(float(radius))
        fm.append(float(within.mean()))
        fs.append(float(within.std()))
        nm.append(float(nn_to_mean.mean()))
        ns.append(float(nn_to_mean.std()))
    return NeighbourhoodEmptiness(
        distribution,
        n_points,
        n_queries,
        seed,
        float(radius_fraction),
        dims,
        radii,
        fm,
        fs,
        nm,
        ns,
    )


def gaussian_annulus(
    dims: Sequence[int] = DEFAULT_DIMS, n_samples: int = 10_000, bins: int = 80, seed: int = 0
) -> GaussianAnnulus:
    """Measure the norms of standard Gaussian samples: they live in a shell of radius sqrt(d).

    The prior N(0, I_d) of a VAE has its density peak at 0, yet its samples have norm
    close to sqrt(d) with an sd near 1/sqrt(2) whatever d (the annulus theorem). So the
    prior mean is atypical: almost no sample lies within radius 1 of it, and a
    typical sample is about d/2 nats less probable than the mean.

    Parameters
    ----------
    dims : sequence of int
        Dimensions to measure.
    n_samples : int
        Samples of N(0, I_d) per dimension.
    bins : int
        Bins of the norm / sqrt(d) histograms (common edges over all d).
    seed : int
        Seed; each d uses its own stream seeded by (seed, d).

    Returns
    -------
    GaussianAnnulus
        One entry per d in every list field.

    Examples
    --------
    >>> r = gaussian_annulus(dims=(1, 400), n_samples=2000)
    >>> round(r.norm_over_sqrt_d[1], 1), r.prior_mean_norm, r.fraction_within_unit_ball[1]
    (1.0, 0.0, 0.0)
    """
    dims = _check_dims(dims)
    _check_positive(n_samples=n_samples, bins=bins)
    norms = []
    for d in dims:
        z = np.random.default_rng((seed, d)).standard_normal((n_samples, d))
        norms.append(np.linalg.norm(z, axis=1))  # (N,)
    scaled = [n / d**0.5 for n, d in zip(norms, dims, strict=True)]
    edges = np.linspace(0.0, max(s.max() for s in scaled), bins + 1)
    return GaussianAnnulus(
        n_samples=n_samples,
        seed=seed,
        dims=dims,
        norm_mean=[float(n.mean()) for n in norms],
        norm_sd=[float(n.std()) for n in norms],
        norm_over_sqrt_d=[float(s.mean()) for s in scaled],
        prior_mean_norm=0.0,
        fraction_within_unit_ball=[float((n <= 1).mean()) for n in norms],
        prob_within_unit_ball=[float(gammainc(d / 2, 0.5)) for d in dims],
        log_density_gap=[float((n**2).mean() / 2) for n in norms],
        hist_edges=edges.tolist(),
        hist_counts=[np.histogram(s, edges)[0].tolist() for s in scaled],
    )


def pairwise_distance_histograms(
    dims: Sequence[int] = DEFAULT_DIMS,
    n_points: int = 1000,
    bins: int = 60,
    distribution: str = "uniform",
    seed: int = 0,
) -> PairwiseDistanceHistograms:
    """Histogram all pairwise distances, divided by their mean, on common bin edges.

    Dividing by the mean puts every d on the same scale, so what is left is the
    shape: a broad spread at small d, a spike at 1 at large d. The edges run from 0
    to the largest normalised distance seen at any d.

    Parameters
    ----------
    dims : sequence of int
        Dimensions to measure.
    n_points : int
        Points per dimension; the histogram counts all n (n - 1) / 2 pairs.
    bins : int
        Number of bins.
    distribution : {"uniform", "gaussian"}
        Uniform on [0, 1]^d, or standard Gaussian N(0, I_d).
    seed : int
        Seed; each d uses its own stream seeded by (seed, d).

    Returns
    -------
    PairwiseDistanceHistograms
        Common ``edges`` and one row of ``counts`` per d.

    Examples
    --------
    >>> r = pairwise_distance_histograms(dims=(2, 500), n_points=100, bins=20)
    >>> len(r.edges), sum(r.counts[1]) == r.n_pairs, r.relative_sd[1] < 0.1
    (21, True, True)
    """
    dims = _check_dims(dims)
    _check_positive(bins=bins)
    if n_points < 2:
        raise ConfigError(f"n_points={n_points} must be >= 2 to have a pair")
    upper = np.triu_indices(n_points, k=1)
    normalised, means, rel_sd = [], [], []
    for d in dims:
        x = _sample(distribution, n_points, d, np.random.default_rng((seed, d)))
        dist = _distances(x, x)[upper]  # (n_pairs,)
        means.append(float(dist.mean()))
        rel_sd.append(float(dist.std() / dist.mean()))
        normalised.append(dist / dist.mean())
    edges = np.linspace(0.0, max(v.max() for v in normalised), bins + 1)
    return PairwiseDistanceHistograms(
        distribution=distribution,
        n_points=n_points,
        seed=seed,
        dims=dims,
        edges=edges.tolist(),
        counts=[np.histogram(v, edges)[0].tolist() for v in normalised],
        n_pairs=len(upper[0]),
        mean_distance=means,
        relative_sd=rel_sd,
    )


def representation_contrast(
    representations: Mapping[str, np.ndarray | torch.Tensor], n_queries: int = 200, seed: int = 0
) -> RepresentationContrast:
    """Measure distance concentration on given representations of real data.

    For each representation (rows are samples; extra axes are flattened), pick
    ``n_queries`` rows as queries and take their distances to every other row.
    Exact duplicates of a query (distance 0, the query itself included) are left out,
    so Dmin is the distance to the nearest *distinct* point. Reports relative contrast,
    Dmax / Dmin and nearest / mean distance, mean and sd over queries. Nothing is
    trained here: pass codes from models fitted elsewhere. Representations with the
    same number of rows get the same query rows. Cost is ``n_queries * n * dim``.

    Parameters
    ----------
    representations : mapping of str to array of shape (n_samples, ...)
        E.g. ``{"pixels": X, "PCA": Zp, "AE": Za, "VAE": Zv}``.
    n_queries : int
        Query rows per representation (all rows if there are fewer).
    seed : int
        Seed for choosing the query rows.

    Returns
    -------
    RepresentationContrast
        One entry per representation, in the mapping's order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = representation_contrast(
    ...     {"2-D": rng.random((300, 2)), "500-D": rng.random((300, 500))}, n_queries=20)
    >>> r.dims, r.contrast_mean[0] > r.contrast_mean[1]
    ([2, 500], True)
    """
    if not representations:
        raise ConfigError("representations is empty: pass e.g. {'pixels': X, 'PCA': Z}")
    _check_positive(n_queries=n_queries)
    names, dims, sizes = [], [], []
    stats: dict[str, list[float]] = {k: [] for k in ("cm", "cs", "rm", "rs", "nm", "ns")}
    for name, rep in representations.items():
        x = np.asarray(rep.detach().cpu() if isinstance(rep, torch.Tensor) else rep)
        if x.ndim < 2 or x.shape[0] < 2:
            raise DataError(f"representation {name!r} has shape {x.shape}; need (n_samples >= 2, dim)")
        x = x.reshape(x.shape[0], -1).astype(np.float64)
        if not np.isfinite(x).all():
            raise DataError(f"representation {name!r} has NaN or infinite values")
        rng = np.random.default_rng(seed)
        idx = rng.choice(x.shape[0], size=min(n_queries, x.shape[0]), replace=False)
        dist = _distances(x[idx], x, exact=True)  # (Q, N)
        dist[dist == 0] = np.nan  # the query itself and its exact duplicates
        if np.isnan(dist).all(axis=1).any():
            raise DataError(f"representation {name!r} has a query with no distinct point")
        dmin, dmax = np.nanmin(dist, axis=1), np.nanmax(dist, axis=1)  # (Q,)
        contrast, ratio = (dmax - dmin) / dmin, dmax / dmin
        nn_to_mean = dmin / np.nanmean(dist, axis=1)
        names.append(str(name))
        dims.append(int(x.shape[1]))
        sizes.append(int(x.shape[0]))
        for key, v in (("c", contrast), ("r", ratio), ("n", nn_to_mean)):
            stats[key + "m"].append(float(v.mean()))
            stats[key + "s"].append(float(v.std()))
    return RepresentationContrast(
        n_queries,
        seed,
        names,
        dims,
        sizes,
        stats["cm"],
        stats["cs"],
        stats["rm"],
        stats["rs"],
        stats["nm"],
        stats["ns"],
    )


@dataclass(frozen=True)
class CurseResult:
    """All curse-of-dimensionality measurements of one run, keyed by distribution."""

    concentration: dict[str, DistanceConcentration]
    emptiness: dict[str, NeighbourhoodEmptiness]
    annulus: GaussianAnnulus
    histograms: dict[str, PairwiseDistanceHistograms]
    representations: RepresentationContrast | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the measurements as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CurseResult:
        """Rebuild a result from `to_dict` output, e.g. ``json.load`` of ``curse.json``."""
        reps = data.get("representations")
        return cls(
            concentration={k: DistanceConcentration(**v) for k, v in data["concentration"].items()},
            emptiness={k: NeighbourhoodEmptiness(**v) for k, v in data["emptiness"].items()},
            annulus=GaussianAnnulus(**data["annulus"]),
            histograms={k: PairwiseDistanceHistograms(**v) for k, v in data["histograms"].items()},
            representations=None if reps is None else RepresentationContrast(**reps),
        )


def curse_experiments(
    *,
    dims: Sequence[int] = DEFAULT_DIMS,
    n_points: int = 1000,
    seed: int = 0,
    representations: Mapping[str, np.ndarray | torch.Tensor] | None = None,
) -> CurseResult:
    """Run every experiment of this module, for both distributions.

    Parameters
    ----------
    dims : sequence of int
        Dimensions of the synthetic experiments.
    n_points : int
        Points per dimension (the annulus uses 10 times as many samples).
    seed : int
        Seed of every experiment.
    representations : mapping of str to array, optional
        Representations of real data to compare (see `representation_contrast`);
        other modules fit the models and pass their codes here.

    Returns
    -------
    CurseResult
        What `vaelab.report.writers.write_curse` writes to ``curse.json``.

    Examples
    --------
    >>> r = curse_experiments(dims=(2, 50), n_points=50)
    >>> sorted(r.concentration), r.annulus.n_samples, r.representations is None
    (['gaussian', 'uniform'], 500, True)
    """
    return CurseResult(
        concentration={
            k: distance_concentration(dims, n_points, distribution=k, seed=seed) for k in DISTRIBUTIONS
        },
        emptiness={
            k: neighbourhood_emptiness(dims, n_points, distribution=k, seed=seed) for k in DISTRIBUTIONS
        },
        annulus=gaussian_annulus(dims, n_samples=10 * n_points, seed=seed),
        histograms={
            k: pairwise_distance_histograms(dims, n_points, distribution=k, seed=seed) for k in DISTRIBUTIONS
        },
        representations=(
            None if representations is None else representation_contrast(representations, seed=seed)
        ),
    )
