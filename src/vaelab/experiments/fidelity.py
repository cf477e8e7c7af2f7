"""Sample quality without labels: improved precision and recall (Kynkäänniemi et al. 2019).

A generator can fail in two ways: its samples lie off the data (low
*precision*), or it reproduces only part of the data (low *recall*, e.g.
dropped modes). Kynkäänniemi, Karras, Laine, Lehtinen and Aila (2019),
"Improved precision and recall metric for assessing generative models",
measure both from samples alone:

- the *manifold* of a set of feature vectors is the union of balls, one around
  each vector, of radius its distance to its k-th nearest other vector of the
  same set (k = 3 in the paper);
- precision = share of generated vectors inside the real manifold;
- recall = share of real vectors inside the generated manifold.

A point on a ball's boundary counts as inside (up to floating-point rounding).
Both sets must be the same size, since the radii shrink as a set grows.

The paper compares VGG-16 features. Here the features are those of a
`FeatureSpace`: a PCA fitted once to the real training data and shared by every
sampler, so the score needs no labels, no download and no second network
(reasons for the choice in `FeatureSpace`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from vaelab.errors import ConfigError

__all__ = ["FeatureSpace", "PrecisionRecall", "manifold_radii", "precision_recall"]

_CHUNK = 1024  # rows of the distance matrix computed at once: (1024, N) float64


def _as_points(x: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    arr = arr.reshape(len(arr), -1) if arr.ndim != 2 else arr
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{what} holds NaN or inf values; expected finite feature vectors")
    return arr


def _sq_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)), clipped at 0."""
    d2 = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def manifold_radii(x: np.ndarray, k: int = 3) -> np.ndarray:
    """Each vector's distance to its k-th nearest *other* vector of ``x`` (N, F).

    These are the radii of the balls whose union is the manifold of ``x``.
    A duplicate counts as another vector (at distance 0).

    Examples
    --------
    >>> manifold_radii(np.array([[0.0], [1.0], [3.0], [7.0]]), k=1)
    array([1., 1., 2., 4.])
    """
    x = _as_points(x, "x")
    if not 1 <= k < len(x):
        raise ConfigError(f"k={k} must be between 1 and the number of vectors minus 1 ({len(x) - 1})")
    x_sq = (x * x).sum(axis=1)
    out = np.empty(len(x))
    for i in range(0, len(x), _CHUNK):
        d2 = _sq_distances(x[i : i + _CHUNK], x, x_sq)  # (B, N)
        rows = np.arange(len(d2))
        d2[rows, i + rows] = -1.0  # the vector itself sorts first, whatever the rounding
        out[i : i + _CHUNK] = np.partition(d2, k, axis=1)[:, k]  # k-th smallest after itself
    return np.sqrt(out)


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies in at least one ball (centre, radius): (len(points),) bool."""
    c_sq = (centres * centres).sum(axis=1)
    r2 = radii * radii
    out = np.empty(len(points), dtype=bool)
    for i in range(0, len(points), _CHUNK):
        p = points[i : i + _CHUNK]
        d2 = _sq_distances(p, centres, c_sq)  # (B, M)
        # rounding of |p|² + |c|² − 2 p·c, so that a point on a boundary counts as inside
        tol = 1e-12 * ((p * p).sum(axis=1)[:, None] + c_sq[None, :])
        out[i : i + _CHUNK] = np.any(d2 <= r2[None, :] + tol, axis=1)
    return out


@dataclass
class PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of one sample set."""

    precision: float  # share of generated vectors inside the real manifold
    recall: float  # share of real vectors inside the generated manifold
    k: int  # neighbour that sets each ball's radius
    n: int  # vectors in each set

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return dataclasses.asdict(self)


def precision_recall(
    real: np.ndarray, fake: np.ndarray, k: int = 3, *, features: FeatureSpace | None = None
) -> PrecisionRecall:
    """Improved precision and recall of ``fake`` samples against ``real`` ones.

    Parameters
    ----------
    real, fake : ndarray (N, F)
        The same number N of vectors each (rows; other shapes are flattened
        per row). Feature vectors, or raw samples when ``features`` is given.
    k : int
        Each ball's radius is the distance to the k-th nearest other vector of
        its own set (3 in the paper); 1 <= k < N.
    features : FeatureSpace, optional
        Fitted feature space to map both sets into first.

    Returns
    -------
    PrecisionRecall

    Examples
    --------
    Two real points and two generated ones, k = 1: the real balls are
    [−1, 1] and [0, 2]; the generated balls are [1.5, 2.5] and [2, 3].

    >>> pr = precision_recall(np.array([[0.0], [1.0]]), np.array([[2.0], [2.5]]), k=1)
    >>> pr.precision, pr.recall  # 2.0 is in [0, 2], 2.5 in no real ball; 0 and 1 in no fake ball
    (0.5, 0.0)
    """
    if features is not None:
        real, fake = features.transform(real), features.transform(fake)
    real, fake = _as_points(real, "real"), _as_points(fake, "fake")
    if len(real) != len(fake):
        raise ConfigError(
            f"real has {len(real)} vectors and fake {len(fake)}; the radii depend on the set "
            "size, so give the same number of each"
        )
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real has {real.shape[1]} features and fake {fake.shape[1]}; expected the same")
    centre = real.mean(axis=0)  # shift both: smaller norms, smaller rounding in the distances
    real, fake = real - centre, fake - centre
    precision = _inside(fake, real, manifold_radii(real, k)).mean()
    recall = _inside(real, fake, manifold_radii(fake, k)).mean()
    return PrecisionRecall(float(precision), float(recall), int(k), len(real))


class FeatureSpace:
    """A fixed, label-free feature space for `precision_recall`: PCA of the real training data.

    Fit it once per dataset, on real training samples, and map every sampler's
    output with the same fitted object, so all samplers are judged by one
    ruler. Features are the coordinates on the top principal directions, not
    whitened: the distance between two features is the pixel distance of the
    two samples' projections onto the principal subspace.

    Why PCA, and why 64 components by default:

    - no labels and no download (the paper's VGG-16 would need both), and it
      is fitted on real data only, so no generator can shape it;
    - k-nearest-neighbour balls need distances that still tell points apart;
      with a few thousand samples in 784 pixel dimensions they barely do (the
      curse of dimensionality, storyline step 1). The top directions keep
      most of the variance (on MNIST, 64 components keep about 86 % of it;
      on the 64-pixel digits, all of it) and drop the many low-variance
      directions of pixel noise that would otherwise add to every distance;
    - not whitened, because whitening would give the weakest kept direction
      as much weight as the strongest (stroke layout).

    Parameters
    ----------
    n_components : int
        Components kept; ``min(n_components, n_features, n_samples)`` when fitted.
    max_fit : int or None
        Fit on a seeded subset of at most this many samples (speed).
    seed : int

    Attributes
    ----------
    n_components_ : int
    n_features_in_ : int
    mean_ : ndarray (n_features_in_,)
    components_ : ndarray (n_components_, n_features_in_)
    explained_variance_ratio_ : float
        Share of the training data's variance the kept components hold.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> x = load_digits().data / 16.0
    >>> fs = FeatureSpace().fit(x)
    >>> fs.n_components_, fs.transform(x[:5]).shape
    (64, (5, 64))
    """

    def __init__(self, n_components: int = 64, max_fit: int | None = 20000, seed: int = 0) -> None:
        self.n_components = n_components
        self.max_fit = max_fit
        self.seed = seed

    def fit(self, x: np.ndarray) -> FeatureSpace:
        """Fit the principal directions of real samples ``x`` (N, ...)."""
        if not isinstance(self.n_components, int | np.integer) or self.n_components < 1:
            raise ConfigError(f"n_components={self.n_components!r} must be an integer >= 1")
        x = _as_points(x, "x")
        if len(x) < 2:
            raise ConfigError(f"need at least 2 samples to fit a feature space, got {len(x)}")
        if self.max_fit is not None and len(x) > self.max_fit:
            rows = np.random.default_rng(self.seed).choice(len(x), self.max_fit, replace=False)
            x = x[np.sort(rows)]
        n = int(min(self.n_components, x.shape[1], len(x)))
        pca = PCA(n_components=n, svd_solver="covariance_eigh").fit(x)  # D×D eigh: fast for N >> D
        self.n_components_ = n
        self.n_features_in_ = x.shape[1]
        self.mean_ = pca.mean_
        self.components_ = pca.components_
        self.explained_variance_ratio_ = float(pca.explained_variance_ratio_.sum())
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Features of samples ``x`` (N, ...): (N, n_components_) float64."""
        if not hasattr(self, "components_"):
            raise ConfigError("this FeatureSpace is not fitted yet; call fit(real_training_samples) first")
        x = _as_points(x, "x")
        if x.shape[1] != self.n_features_in_:
            raise ConfigError(
                f"x has {x.shape[1]} features per sample; this FeatureSpace was fitted on "
                f"{self.n_features_in_}"
            )
        return (x - self.mean_) @ self.components_.T  # (N, n_components_)

    def to_dict(self) -> dict:
        """JSON-ready description (not the fitted matrices)."""
        return {
            "method": "pca",
            "n_components": int(getattr(self, "n_components_", self.n_components)),
            "explained_variance_ratio": getattr(self, "explained_variance_ratio_", None),
        }
