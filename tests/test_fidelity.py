"""Improved precision and recall (Kynkäänniemi et al. 2019) against hand-computed truths."""

from __future__ import annotations

import numpy as np
import pytest

from vaelab.errors import ConfigError
from vaelab.experiments.fidelity import FeatureSpace, manifold_radii, precision_recall


def brute_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The definition, one pair at a time: O(N²) Python loops, no shared code."""

    def radii(x):
        out = []
        for i in range(len(x)):
            d = sorted(float(np.linalg.norm(x[i] - x[j])) for j in range(len(x)) if j != i)
            out.append(d[k - 1])
        return out

    def share_inside(points, centres):
        r = radii(centres)
        hits = [any(np.linalg.norm(p - c) <= rc for c, rc in zip(centres, r, strict=True)) for p in points]
        return sum(hits) / len(points)

    return share_inside(fake, real), share_inside(real, fake)


def test_hand_made_line():
    # real on a line: 0, 1, 3, 7
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[-2.0], [-1.5], [6.2], [6.7]])
    # k = 1: real radii 1, 1, 2, 4 → balls [-1, 1], [0, 2], [1, 5], [3, 11] cover [-1, 11]
    np.testing.assert_allclose(manifold_radii(real, 1), [1, 1, 2, 4])
    # fake radii 0.5 each → balls [-2.5, -1.5], [-2, -1], [5.7, 6.7], [6.2, 7.2]: only 7 inside
    pr = precision_recall(real, fake, k=1)
    assert (pr.precision, pr.recall) == (0.5, 0.25)
    # k = 2: real radii 3, 2, 3, 6 cover [-3, 13] ∋ every fake point;
    # fake radii 8.2, 7.7, 7.7, 8.2 cover [-10.2, 14.9] ∋ every real point
    np.testing.assert_allclose(manifold_radii(real, 2), [3, 2, 3, 6])
    np.testing.assert_allclose(manifold_radii(fake, 2), [8.2, 7.7, 7.7, 8.2])
    pr = precision_recall(real, fake, k=2)
    assert (pr.precision, pr.recall, pr.k, pr.n) == (1.0, 1.0, 2, 4)


def test_hand_made_square_boundary_counts_as_inside():
    # unit square corners: every k = 1 radius is 1 (the side), k = 2 also 1, k = 3 the diagonal √2
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(manifold_radii(real, 3), [np.sqrt(2)] * 4)
    # (2, 0) is exactly 1 from (1, 0): on a boundary, inside; (2.01, 0) and (0.5, -1.2) are not
    fake = np.array([[2.0, 0.0], [0.5, 0.5], [2.01, 0.0], [0.5, -1.2]])
    assert precision_recall(real, fake, k=1).precision == 0.5


def test_identical_distributions_score_high(rng):
    real = rng.standard_normal((2000, 8))
    fake = rng.standard_normal((2000, 8))
    pr = precision_recall(real, fake)
    assert pr.precision > 0.85 and pr.recall > 0.85


def test_disjoint_supports_score_zero(rng):
    real = rng.standard_normal((500, 8))
    fake = 100.0 + rng.standard_normal((500, 8))
    pr = precision_recall(real, fake)
    assert pr.precision == 0.0 and pr.recall == 0.0


def test_dropping_half_the_modes_halves_recall_only(rng):
    # ten unit Gaussians on a circle of radius 20 in 2-D; one generator keeps five modes
    angle = 2 * np.pi * np.arange(10) / 10
    centres = 20.0 * np.c_[np.cos(angle), np.sin(angle)]
    n = 3000

    def draw(modes):
        return centres[rng.integers(0, modes, n)] + rng.standard_normal((n, 2))

    real = draw(10)
    dropped = precision_recall(real, draw(5))
    full = precision_recall(real, draw(10))  # the same generator without the drop
    assert dropped.precision > 0.95 and full.precision > 0.95 and full.recall > 0.95
    kept = np.isin(np.argmin(np.linalg.norm(real[:, None] - centres, axis=-1), axis=1), range(5))
    assert dropped.recall == pytest.approx(kept.mean() * full.recall, abs=0.03)
    assert dropped.recall == pytest.approx(0.5, abs=0.05)


def test_matches_the_brute_force_definition(rng):
    scores = []
    for k in (1, 3, 5):
        real = np.concatenate([rng.standard_normal((40, 3)), 4 + 0.5 * rng.standard_normal((20, 3))])
        fake = np.concatenate([rng.standard_normal((30, 3)), rng.uniform(-6, 6, (30, 3))])
        pr = precision_recall(real, fake, k=k)
        p, r = brute_precision_recall(real, fake, k)
        assert (pr.precision, pr.recall) == pytest.approx((p, r), abs=1e-12)
        scores += [pr.precision, pr.recall]
    assert sum(0 < v < 1 for v in scores) >= 4  # the cases are not trivial


def test_large_sets_cross_chunks_and_match_brute_radii(rng):
    x = rng.standard_normal((1500, 4))  # more rows than one distance chunk
    got = manifold_radii(x, 3)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(got, np.sort(d, axis=1)[:, 2], rtol=1e-9)


def test_duplicates_count_as_neighbours():
    real = np.array([[0.0], [0.0], [0.0], [5.0]])
    np.testing.assert_allclose(manifold_radii(real, 2), [0.0, 0.0, 0.0, 5.0])


def test_bad_input_names_the_value(rng):
    a, b = rng.standard_normal((10, 2)), rng.standard_normal((12, 2))
    with pytest.raises(ValueError, match="real has 10 vectors and fake 12"):
        precision_recall(a, b)
    with pytest.raises(ValueError, match="k=10 must be between 1"):
        precision_recall(a, a, k=10)
    with pytest.raises(ValueError, match="k=0"):
        manifold_radii(a, k=0)
    with pytest.raises(ValueError, match="2 features and fake 3"):
        precision_recall(a, rng.standard_normal((10, 3)))
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match="fake holds NaN"):
        precision_recall(a, bad)


def test_feature_space_is_an_isometry_with_all_components(rng):
    x = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    fs = FeatureSpace(n_components=64).fit(x)
    assert fs.n_components_ == 6 and fs.explained_variance_ratio_ == pytest.approx(1.0)
    f = fs.transform(x[:20])
    d_x = np.linalg.norm(x[:20, None] - x[None, :20], axis=-1)
    d_f = np.linalg.norm(f[:, None] - f[None], axis=-1)
    np.testing.assert_allclose(d_f, d_x, atol=1e-9)
    # so scores in the full feature space equal scores on the raw data
    a, b = x[:100], x[100:200]
    assert precision_recall(a, b, features=fs) == precision_recall(a, b)


def test_feature_space_keeps_the_top_directions(rng):
    # variance 100 along two axes, 0.01 along eight: two components keep almost all of it
    x = rng.standard_normal((2000, 10)) * np.array([10, 10] + [0.1] * 8)
    fs = FeatureSpace(n_components=2).fit(x)
    assert fs.explained_variance_ratio_ == pytest.approx(200 / 200.08, abs=2e-3)
    np.testing.assert_allclose(np.abs(fs.components_[:, 2:]), 0.0, atol=0.02)
    assert fs.to_dict() == {
        "method": "pca",
        "n_components": 2,
        "explained_variance_ratio": fs.explained_variance_ratio_,
    }


def test_feature_space_bad_input(rng):
    with pytest.raises(ValueError, match="n_components=0"):
        FeatureSpace(n_components=0).fit(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="not fitted"):
        FeatureSpace().transform(rng.standard_normal((2, 3)))
    fs = FeatureSpace().fit(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="x has 4 features per sample; this FeatureSpace was fitted on 3"):
        fs.transform(rng.standard_normal((2, 4)))
