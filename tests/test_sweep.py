"""The β sweep: rate falls and distortion rises with β; the top collapses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.core.config import ModelConfig
from vaelab.errors import ConfigError
from vaelab.experiments.sweep import BetaSweep, sweep_beta
from vaelab.report.writers import write_sweep
from vaelab.training.config import TrainConfig


@pytest.fixture(scope="module")
def sweep(digits, tmp_path_factory):
    """Four VAEs (latent 6) on digits, 25 epochs each, written to a directory."""
    out = tmp_path_factory.mktemp("sweep")
    result = sweep_beta(
        digits.train,
        digits.test,
        betas=(64.0, 0.0, 1.0, 8.0),
        model=ModelConfig(latent_dim=6, hidden=(128,)),
        train_config=TrainConfig(epochs=25, batch_size=64, seed=0),
        n_samples=500,
    )
    write_sweep(out, result)
    return result, out


@pytest.mark.slow
def test_rate_falls_and_distortion_rises_with_beta(sweep):
    s = sweep[0]
    assert s.betas == [0.0, 1.0, 8.0, 64.0]  # sorted
    rate, dist = np.array(s.column("rate")), np.array(s.column("distortion"))
    assert np.all(np.diff(rate) <= 1e-3) and rate[0] > 20 * max(rate[1], 0.1)
    assert np.all(np.diff(dist) >= -0.2) and dist[-1] > dist[0] + 3.0
    np.testing.assert_allclose(s.column("neg_elbo"), rate + dist, rtol=1e-6)


@pytest.mark.slow
def test_top_of_the_sweep_collapses(sweep):
    s = sweep[0]
    low, high = s.ends()["low"], s.ends()["high"]
    assert low["active_units"] == 6 and high["active_units"] == 0
    assert 0 <= high["rate"] < 0.05
    # every output ≈ the data mean: decoded samples barely spread around it
    assert high["samples_spread"] < 0.2 < 0.5 < low["samples_spread"]
    assert max(s.points[-1].unit_variances) < 0.01


@pytest.mark.slow
def test_beta_zero_leaves_holes_that_beta_one_fills(sweep):
    s = sweep[0]
    far = s.column("mismatch.far_fraction")
    kl = s.column("mismatch.gaussian_kl")
    assert far[0] > 0.8 and far[1] < 0.1
    assert kl[0] > 10 and kl[1] < 1
    ratio = s.column("prior.nn_distance_ratio")
    assert ratio[0] > ratio[1] + 0.3


@pytest.mark.slow
def test_both_ends_are_measured_with_the_same_measures(sweep):
    s = sweep[0]
    low, high = s.ends()["low"], s.ends()["high"]
    for end in (low, high):
        for key in ("precision", "recall", "own_precision", "own_recall", "gap_fraction", "output_spread"):
            assert end[key] is not None and 0.0 <= end[key] <= 1.0 + 1e-9
    # β = 0: codes leave holes; β = 1: they fill the prior (about half beyond the median)
    gap = s.column("gap_fraction")
    assert gap[0] > 0.9 and gap[1] < 0.75
    # prior samples of β = 0 lie off the data, those of β = 1 on it
    precision = s.column("precision")
    assert precision[1] > precision[0] + 0.2
    # collapse at the top: reconstructions no longer vary with the input
    assert high["output_spread"] < 0.02 < 0.3 < low["output_spread"]
    assert s.features is not None and s.features["n_components"] == 64


@pytest.mark.slow
def test_beta_zero_still_reports_the_kl(sweep):
    p = sweep[0].points[0]
    assert p.beta == 0.0 and np.isfinite(p.rate) and p.rate > 0
    assert p.neg_elbo == pytest.approx(p.rate + p.distortion)


@pytest.mark.slow
def test_sweep_json_and_figures(sweep):
    s, out = sweep
    back = BetaSweep.from_dict(json.loads((out / "sweep.json").read_text()))
    assert back.betas == s.betas and back.column("rate") == s.column("rate")
    assert back.column("precision") == s.column("precision") and back.features == s.features
    assert back.points[0].samples.shape == (16, 64)
    for name in (
        "rate_distortion.png",
        "rate_distortion.svg",
        "sweep_metrics.png",
        "sweep_metrics.svg",
        "sweep_samples.png",
    ):
        assert (out / name).stat().st_size > 1000


def test_bad_betas_and_model_kind(digits):
    with pytest.raises(ConfigError, match="betas"):
        sweep_beta(digits.train, digits.test, betas=(-1.0, 1.0))
    with pytest.raises(ConfigError, match="kind='ae'"):
        sweep_beta(digits.train, digits.test, model=ModelConfig(kind="ae"))


@pytest.mark.slow
def test_cli_sweep_beta(tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "sweep-beta",
            "--data",
            "digits",
            "--betas",
            "0,64",
            "--epochs",
            "2",
            "--max-train",
            "400",
            "--hidden",
            "32",
            "--latent-dim",
            "3",
            "--n-samples",
            "100",
            "--out",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "rate" in r.output and (tmp_path / "sweep.json").exists()
    assert json.loads((tmp_path / "sweep.json").read_text())["n_train"] == 400
    r = CliRunner().invoke(main, ["sweep-beta", "--betas", "0,x", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--betas='0,x'" in r.output
