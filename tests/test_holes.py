"""Holes in the code space: an AE's prior draws fall in holes, a VAE's do not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.errors import ConfigError
from vaelab.experiments.holes import (
    HolesComparison,
    code_mismatch,
    compare_holes,
    holes_metrics,
    moment_matched_kl,
)
from vaelab.report.writers import write_holes
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


@pytest.fixture(scope="module")
def comparison(digits, tmp_path_factory):
    """AE vs VAE, same MLP (64-128-8), 40 epochs on digits each; holes measured and written."""
    models = {}
    for kind in ("ae", "vae"):
        net = build_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), latent_dim=8, hidden=(128,)))
        fit(net, digits.train, TrainConfig(epochs=40, batch_size=64, seed=0), progress=False)
        models[kind.upper()] = net
    out = tmp_path_factory.mktemp("holes")
    result = compare_holes(models, digits.train, digits.test, n_samples=1000)
    write_holes(out, result)
    return result, out, models


@pytest.mark.slow
def test_ae_prior_draws_fall_in_holes_and_vae_ones_do_not(comparison):
    result = comparison[0]
    ae, vae = result.by_name("AE"), result.by_name("VAE")
    # calibration: codes filling N(0, I) would leave about 1 % of draws "far"
    assert ae.mismatch.far_fraction > 0.8
    assert vae.mismatch.far_fraction < 0.1
    assert ae.mismatch.gaussian_kl > 10.0
    assert vae.mismatch.gaussian_kl < 1.0
    assert ae.mismatch.gaussian_kl > 20 * vae.mismatch.gaussian_kl
    # and the mirror image: most AE codes lie where the prior never samples
    assert ae.mismatch.uncovered_fraction > 0.5
    assert vae.mismatch.uncovered_fraction < 0.1


@pytest.mark.slow
def test_vae_prior_samples_are_closer_to_the_data(comparison):
    result = comparison[0]
    ae, vae = result.by_name("AE").samplers["prior"], result.by_name("VAE").samplers["prior"]
    assert ae.nn_distance_ratio > 1.4  # well off the data, relative to reconstructions
    assert vae.nn_distance_ratio < 1.25
    assert ae.nn_distance_ratio > vae.nn_distance_ratio + 0.3


@pytest.mark.slow
def test_fitting_the_ae_codes_repairs_its_sampling(comparison):
    ae = comparison[0].by_name("AE").samplers
    # a Gaussian fitted to the codes lands nearer them, a mixture nearer still
    assert ae["gmm"].far_fraction < ae["gaussian"].far_fraction < ae["prior"].far_fraction
    assert ae["gmm"].nn_distance_ratio < ae["gaussian"].nn_distance_ratio < ae["prior"].nn_distance_ratio
    assert ae["gmm"].classifier_confidence > ae["prior"].classifier_confidence + 0.1
    assert ae["gmm"].classifier_entropy < ae["prior"].classifier_entropy


@pytest.mark.slow
def test_the_classifier_is_a_solid_judge(comparison):
    result = comparison[0]
    assert result.classifier_accuracy > 0.93
    assert result.test_confidence > 0.85
    # decoded AE prior samples are judged far less confidently than real digits
    ae = result.by_name("AE").samplers["prior"]
    assert ae.classifier_confidence < result.test_confidence - 0.2
    assert ae.classifier_entropy > result.test_entropy + 0.5


@pytest.mark.slow
def test_json_and_figures_written(comparison):
    result, out, _ = comparison
    data = json.loads((out / "holes.json").read_text())
    back = HolesComparison.from_dict(data)
    assert back.by_name("AE").mismatch == result.by_name("AE").mismatch
    assert np.allclose(
        back.by_name("VAE").samplers["gmm"].examples,
        result.by_name("VAE").samplers["gmm"].examples,
        atol=1e-3,
    )
    for name in ("holes_metrics.png", "holes_metrics.svg", "holes_samples.png"):
        assert (out / name).stat().st_size > 1000


def test_moment_matched_kl_matches_the_closed_form(rng):
    m, s = np.array([1.0, -2.0, 0.5]), np.array([0.5, 2.0, 1.0])
    codes = m + s * rng.standard_normal((200000, 3))
    expected = 0.5 * np.sum(s**2 + m**2 - 1 - np.log(s**2))
    assert moment_matched_kl(codes) == pytest.approx(expected, rel=0.02)
    # codes squeezed onto a line: the KL is huge (log det → −∞ floored)
    line = np.outer(rng.standard_normal(1000), [1.0, 1.0])
    assert moment_matched_kl(line) > 10


def test_code_mismatch_is_calibrated_on_the_prior_itself(rng):
    ok = code_mismatch(rng.standard_normal((3000, 4)), n_draws=3000, seed=1)
    assert ok.far_fraction < 0.03  # ≈ 1 % by construction at the 99th percentile
    assert ok.uncovered_fraction < 0.03
    wide = code_mismatch(4 * rng.standard_normal((3000, 4)), n_draws=3000, seed=1)
    assert wide.far_fraction < ok.far_fraction + 0.02  # prior sits inside wide codes...
    assert wide.uncovered_fraction > 0.9  # ...which it mostly never reaches
    assert wide.gaussian_kl > 10  # and the moments say they do not match
    narrow = code_mismatch(0.2 * rng.standard_normal((3000, 4)), n_draws=3000, seed=1)
    assert narrow.far_fraction > 0.9 and narrow.uncovered_fraction < 0.03
    with pytest.raises(ConfigError, match="percentile=0"):
        code_mismatch(rng.standard_normal((10, 2)), percentile=0)


@pytest.mark.slow
def test_unknown_sampler_and_unlabelled_data(comparison, digits):
    vae = comparison[2]["VAE"]
    with pytest.raises(ConfigError, match="unknown"):
        holes_metrics(vae, digits.train, digits.test, samplers=("uniform",))
    unlabelled = digits.train.subset(np.arange(300))
    unlabelled = type(unlabelled)(unlabelled.x, None, unlabelled.sample_shape, unlabelled.kind)
    res = compare_holes({"VAE": vae}, unlabelled, digits.test, n_samples=100, samplers=("prior",))
    assert res.classifier is None and res.models[0].samplers["prior"].classifier_confidence is None


@pytest.mark.slow
def test_cli_holes_from_two_runs(tmp_path):
    runner = CliRunner()
    for kind in ("ae", "vae"):
        r = runner.invoke(
            main,
            [
                "train",
                "--model",
                kind,
                "--data",
                "digits",
                "--latent-dim",
                "4",
                "--hidden",
                "32",
                "--epochs",
                "2",
                "--quiet",
                "--out",
                str(tmp_path / kind),
            ],
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        main,
        [
            "holes",
            str(tmp_path / "ae"),
            str(tmp_path / "vae"),
            "--n-samples",
            "100",
            "--out",
            str(tmp_path / "holes"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "AE" in r.output and "VAE" in r.output and "classifier accuracy" in r.output
    assert json.loads((tmp_path / "holes" / "holes.json").read_text())["models"][0]["name"] == "AE"
    r = runner.invoke(main, ["holes", str(tmp_path / "ae"), "--out", str(tmp_path / "h2")])
    assert r.exit_code == 2 and "two run directories" in r.output


@pytest.mark.slow
def test_precision_separates_ae_prior_samples_from_vae_ones(comparison):
    # measured on digits, latent 8 (benchmarks/holes_dims.py): AE prior 0.44, VAE prior 0.99
    result = comparison[0]
    ae, vae = result.by_name("AE"), result.by_name("VAE")
    assert result.test_precision > 0.85 and result.test_recall > 0.85  # the measure's ceiling
    assert result.features == {
        "method": "pca",
        "n_components": 64,
        "explained_variance_ratio": pytest.approx(1.0),
    }
    assert vae.samplers["prior"].precision > 0.9
    assert ae.samplers["prior"].precision < vae.samplers["prior"].precision - 0.3
    # fitting the AE's codes brings its precision back
    assert ae.samplers["gmm"].precision > ae.samplers["prior"].precision + 0.3
    # against its own reconstructions the AE's prior samples cover almost nothing
    assert ae.samplers["prior"].own_recall < 0.1 < 0.8 < vae.samplers["prior"].own_recall
    assert ae.mismatch.gap_fraction > 0.9 and 0.3 < vae.mismatch.gap_fraction < 0.75
    for m in (ae, vae):
        assert m.n_fidelity == 359  # min(n_samples=1000, test size 359)
        assert 0 < m.reconstruction_spread <= 1.0
        assert m.reconstruction_precision > 0.9


@pytest.mark.slow
def test_table_and_json_carry_precision_recall(comparison):
    result, out, _ = comparison
    rows = result.table()
    assert [(r["model"], r["sampler"]) for r in rows] == [
        (m, s) for m in ("AE", "VAE") for s in ("prior", "gaussian", "gmm")
    ]
    assert rows[0]["precision"] == result.by_name("AE").samplers["prior"].precision
    back = HolesComparison.from_dict(json.loads((out / "holes.json").read_text()))
    assert back.table() == rows and back.test_recall == result.test_recall
    # a holes.json written before precision/recall existed still loads
    old = result.to_dict()
    for key in ("features", "test_precision", "test_recall"):
        old.pop(key)
    for m in old["models"]:
        for key in (
            "reconstruction_precision",
            "reconstruction_recall",
            "reconstruction_spread",
            "n_fidelity",
        ):
            m.pop(key)
        for key in ("median_threshold", "gap_fraction", "draw_distance_ratio"):
            m["mismatch"].pop(key)
        for r in m["samplers"].values():
            for key in ("precision", "recall", "own_precision", "own_recall"):
                r.pop(key)
    assert HolesComparison.from_dict(old).by_name("AE").samplers["prior"].precision is None


def test_gap_fraction_is_calibrated(rng):
    # codes that fill N(0, I): a prior draw is just another code, half are beyond the median
    ok = code_mismatch(rng.standard_normal((3000, 8)), n_draws=3000, seed=1)
    assert ok.gap_fraction == pytest.approx(0.5, abs=0.04)
    assert ok.draw_distance_ratio == pytest.approx(1.0, abs=0.05)
    # codes on a line through 8-D space: nearly every prior draw lies in a gap
    line = np.outer(3 * rng.standard_normal(3000), np.ones(8) / np.sqrt(8))
    thin = code_mismatch(line, n_draws=3000, seed=1)
    assert thin.gap_fraction > 0.99 and thin.draw_distance_ratio > 100


def test_fidelity_off_leaves_none(digits):
    net = build_model(ModelConfig(kind="ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))).eval()
    res = compare_holes(
        {"AE": net}, digits.train, digits.test, n_samples=50, samplers=("prior",), fidelity=False
    )
    assert res.test_precision is None and res.features is None
    assert res.models[0].samplers["prior"].precision is None and res.models[0].n_fidelity is None
    assert res.models[0].reconstruction_spread is not None
