"""vaelab explain: decoder export, honest text branches, self-contained assets, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.report.explain import build_sections, export_decoder
from vaelab.report.explain._html import katex_css
from vaelab.report.explain._text import balance_section, holes_section


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian-learned"])
def test_exported_decoder_reproduces_torch(likelihood):
    model = build_model(ModelConfig(kind="vae", input_shape=(12,), latent_dim=3, hidden=(7, 5),
                                    likelihood=likelihood)).eval()
    exp = export_decoder(model)
    z = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    h = z.astype(np.float64)
    for i, lay in enumerate(exp["layers"]):
        h = h @ lay["w"].T + lay["b"]
        if i < len(exp["layers"]) - 1:
            h = np.maximum(h, 0)
    if exp["output"] == "sigmoid":
        h = 1 / (1 + np.exp(-h))
    with torch.no_grad():
        want = model.decode_mean(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(h, want, atol=1e-5)


def test_katex_fonts_are_inlined():
    css = katex_css()
    assert "url(fonts/" not in css
    assert css.count("data:font/woff2;base64,") >= 10


def _holes(ratio_ae, ratio_vae):
    def model(name, r):
        return {"name": name, "mismatch": {"far_fraction": 0.5, "gaussian_kl": 1.0},
                "samplers": {"prior": {"nn_distance_ratio": r, "classifier_confidence": None}}}
    return {"holes": {"models": [model("AE", ratio_ae), model("VAE", ratio_vae)],
                      "test_confidence": None}, "unavailable": {}}


def test_holes_text_states_the_effect_only_when_measured():
    shown = " ".join(holes_section(_holes(3.4, 1.2)).measure)
    assert "3.4×" in shown and "1.2×" in shown and "far worse" in shown
    absent = " ".join(holes_section(_holes(1.0, 1.0)).measure)
    assert "did not clearly show up" in absent and "far worse" not in absent


def test_missing_measurement_is_a_placeholder_without_numbers():
    sec = holes_section({"unavailable": {"holes": "vaelab.experiments.holes is not in this build"}})
    assert sec.measure == [] and sec.missing == ["vaelab.experiments.holes is not in this build"]


def _sweep(high_rate, high_active, spread):
    rows = [{"beta": 0.1, "rate": 8.0, "distortion": 20.0, "active_units": 10,
             "reconstruction_spread": 0.3},
            {"beta": 10.0, "rate": high_rate, "distortion": 30.0, "active_units": high_active,
             "reconstruction_spread": spread}]
    return {"sweep": {"rows": rows, "latent_dim": 10, "data_spread": 0.3}}


def test_balance_text_reports_collapse_only_when_it_happened():
    collapsed = " ".join(balance_section(_sweep(0.01, 0, 0.01)).measure)
    assert "posterior collapse" in collapsed and "0 of 10" in collapsed
    kept = " ".join(balance_section(_sweep(3.0, 6, 0.25)).measure)
    assert "did not show up" in kept and "posterior collapse —" not in kept


@pytest.mark.slow
def test_cli_quick_markdown(tmp_path):
    res = CliRunner().invoke(main, ["explain", "--quick", "--format", "md", "--out",
                                    str(tmp_path)])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "explain.md").read_text()
    numbers = json.loads((tmp_path / "explain.json").read_text())
    assert md.count("\n## ") == 9
    assert (tmp_path / "figures" / "curse_contrast.png").exists()
    # the ELBO sentence carries this run's number, and the bound holds
    o = numbers["objective"]
    assert f"{o['elbo']:.3g}" in md
    assert o["log_likelihood"] >= o["elbo_k"]
    assert len(build_sections({**numbers, "arrays": {}})) == 9


def test_cli_rejects_bad_format(tmp_path):
    res = CliRunner().invoke(main, ["explain", "--format", "pdf", "--out", str(tmp_path)])
    assert res.exit_code == 2
