"""The curse-of-dimensionality experiments: directions and sizes of the effects."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaelab.errors import ConfigError, DataError
from vaelab.experiments.curse import (
    CurseResult,
    curse_experiments,
    distance_concentration,
    gaussian_annulus,
    neighbourhood_emptiness,
    pairwise_distance_histograms,
    representation_contrast,
)
from vaelab.report.writers import write_curse

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def uniform_2_1000():
    return distance_concentration(dims=(2, 1000, 2000), n_points=1000, n_queries=100)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("curse")
    rng = np.random.default_rng(0)
    reps = {"low": rng.random((200, 3)), "high": rng.random((200, 300))}
    result = curse_experiments(dims=(1, 2, 10, 100), n_points=100, representations=reps)
    write_curse(out, result)
    return out, result


def test_contrast_falls_by_two_orders_of_magnitude(uniform_2_1000):
    c2, c1000, c2000 = uniform_2_1000.contrast_mean
    assert c2 / c1000 > 100
    assert c2 > 20 and c1000 < 0.2  # measured: 89 and 0.12
    assert c2000 < c1000
    # the whole distribution over queries moves, not just the mean
    assert uniform_2_1000.contrast_p10[0] > 10 * uniform_2_1000.contrast_p90[1]


def test_dmax_over_dmin_tends_to_one(uniform_2_1000):
    ratio = uniform_2_1000.ratio_mean
    assert ratio[0] > 10
    assert 1 < ratio[1] < 1.2 and 1 < ratio[2] < 1.12
    np.testing.assert_allclose(ratio, np.add(uniform_2_1000.contrast_mean, 1))


def test_contrast_falls_for_gaussian_data_too():
    r = distance_concentration(dims=(2, 1000), n_points=1000, n_queries=50, distribution="gaussian")
    assert r.contrast_mean[0] / r.contrast_mean[1] > 100


def test_annulus_norm_is_sqrt_d_with_constant_spread():
    r = gaussian_annulus(dims=(1, 10, 100, 1000), n_samples=2000)
    assert abs(r.norm_over_sqrt_d[-1] - 1) < 0.02
    assert all(0.6 < sd < 0.8 for sd, d in zip(r.norm_sd, r.dims, strict=True) if d >= 10)
    # the prior mean is atypical: no sample near it once d is moderate
    assert r.prior_mean_norm == 0.0
    assert r.fraction_within_unit_ball[0] == pytest.approx(0.683, abs=0.03)
    assert r.fraction_within_unit_ball[2:] == [0.0, 0.0]
    assert r.prob_within_unit_ball[0] == pytest.approx(math.erf(1 / math.sqrt(2)))
    assert r.prob_within_unit_ball[2] < 1e-50
    # a typical sample is ~d/2 nats less probable than the mean
    np.testing.assert_allclose(r.log_density_gap, np.divide(r.dims, 2), rtol=0.1)
    assert all(sum(c) == 2000 for c in r.hist_counts)


def test_neighbourhoods_empty_and_nearest_is_as_far_as_mean():
    r = neighbourhood_emptiness(dims=(1, 2, 10, 100, 1000), n_points=500, n_queries=50)
    assert r.fraction_within_mean[0] > 0.25
    assert np.all(np.diff(r.fraction_within_mean) <= 0)
    assert r.fraction_within_mean[-2:] == [0.0, 0.0]
    nn = r.nn_to_mean_mean
    assert np.all(np.diff(nn) > 0)
    assert nn[1] < 0.1 and nn[-1] > 0.9
    np.testing.assert_allclose(r.radius, 0.5 * np.sqrt(np.divide(r.dims, 6)))


def test_pairwise_histograms_narrow_like_one_over_sqrt_d():
    r = pairwise_distance_histograms(dims=(2, 10, 1000), n_points=300, bins=30)
    assert all(sum(c) == r.n_pairs == 300 * 299 // 2 for c in r.counts)
    assert len(r.edges) == 31
    assert np.all(np.diff(r.relative_sd) < 0)
    # sd/mean of ||x - y|| for uniform data ~ 3 sqrt(7/180) / sqrt(d) ~ 0.59 / sqrt(d)
    assert r.relative_sd[-1] == pytest.approx(3 * math.sqrt(7 / 180 / 1000), rel=0.1)
    np.testing.assert_allclose(r.mean_distance[-1], math.sqrt(1000 / 6), rtol=0.01)


def test_representation_contrast_orders_low_and_high_dimensional(rng):
    reps = {
        "low": rng.random((400, 3)),
        "high": torch.rand(400, 500),
        "image": rng.random((400, 4, 4)),  # flattened to 16 features
    }
    r = representation_contrast(reps, n_queries=50)
    assert r.names == ["low", "high", "image"]
    assert r.dims == [3, 500, 16] and r.n_samples == [400, 400, 400]
    assert r.contrast_mean[0] > 10 * r.contrast_mean[1]
    assert r.contrast_mean[0] > r.contrast_mean[2] > r.contrast_mean[1]
    assert r.nn_to_mean_mean[0] < r.nn_to_mean_mean[2] < r.nn_to_mean_mean[1]


def test_representation_contrast_skips_self_and_duplicates(rng):
    x = rng.random((50, 5))
    r = representation_contrast({"dup": np.concatenate([x, x])}, n_queries=20)
    assert np.isfinite(r.contrast_mean[0]) and r.contrast_mean[0] > 0
    with pytest.raises(DataError, match="no distinct point"):
        representation_contrast({"same": np.ones((5, 3))})
    with pytest.raises(DataError, match="shape"):
        representation_contrast({"one": np.ones((1, 3))})
    with pytest.raises(ConfigError, match="empty"):
        representation_contrast({})


def test_bad_options_name_the_value():
    with pytest.raises(ValueError, match="distribution='cauchy'"):
        distance_concentration(dims=(2,), distribution="cauchy")
    with pytest.raises(ValueError, match="dims=\\[0\\]"):
        neighbourhood_emptiness(dims=(0,))
    with pytest.raises(ValueError, match="radius_fraction=0"):
        neighbourhood_emptiness(dims=(2,), radius_fraction=0)


def test_seeded_and_independent_of_other_dims():
    a = distance_concentration(dims=(5, 50), n_points=100, n_queries=10, seed=3)
    b = distance_concentration(dims=(50,), n_points=100, n_queries=10, seed=3)
    c = distance_concentration(dims=(50,), n_points=100, n_queries=10, seed=4)
    assert a.contrast_mean[1] == b.contrast_mean[0] != c.contrast_mean[0]


def test_json_round_trip(small_run):
    out, result = small_run
    loaded = json.loads((out / "curse.json").read_text())
    assert loaded == json.loads(json.dumps(result.to_dict()))
    assert CurseResult.from_dict(loaded) == result
    assert set(loaded["concentration"]) == {"uniform", "gaussian"}
    assert loaded["representations"]["dims"] == [3, 300]


def test_figures_are_non_empty_pngs(small_run):
    out, _ = small_run
    for name in ("contrast", "emptiness", "annulus", "distance_histograms", "representations"):
        data = (out / f"curse_{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    assert (out / "curse_contrast.svg").read_text().lstrip().startswith("<?xml")


def test_cli_writes_json_and_prints_table(tmp_path):
    from vaelab.cli import main

    runner = CliRunner()
    out = tmp_path / "curse"
    res = runner.invoke(
        main, ["curse", "--out", str(out), "--max-dim", "20", "--n-points", "50", "--seed", "1"]
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["d", "contrast", "contrast"]
    assert [int(line.split()[0]) for line in lines[2:-1]] == [1, 2, 5, 10, 20]
    assert str(out / "curse.json") in lines[-1]
    data = json.loads((out / "curse.json").read_text())
    assert data["concentration"]["uniform"]["dims"] == [1, 2, 5, 10, 20]
    assert data["concentration"]["uniform"]["seed"] == 1
    assert (out / "curse_contrast.png").stat().st_size > 0

    help_text = runner.invoke(main, ["curse", "--help"]).output
    assert "relative contrast" in help_text and "--max-dim" in help_text
    assert runner.invoke(main, ["curse", "--max-dim", "0"]).exit_code == 2


def test_write_curse_without_figures_writes_only_json(tmp_path):
    paths = write_curse(tmp_path, curse_experiments(dims=(2,), n_points=20), figures=False)
    assert paths == [tmp_path / "curse.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["curse.json"]
