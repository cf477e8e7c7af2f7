"""The performance engine: thread defaults, fast Bernoulli terms, on-the-fly binarization,
and the BENCHMARKS.md section writer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.likelihoods import Bernoulli
from vaelab.core.models import VAE
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit
from vaelab.training.threads import default_num_threads

ROOT = Path(__file__).resolve().parents[1]


def test_bernoulli_log_prob_matches_the_textbook_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=g) * 4  # (K, B, D) with a leading sample axis
    x = torch.rand(5, 7, generator=g)  # grey levels, broadcast over K
    p = torch.sigmoid(logits.double())
    expected = (x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(-1)
    got = Bernoulli().log_prob(logits, x)
    assert got.shape == (3, 5)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)


def test_bernoulli_log_prob_is_stable_for_huge_logits():
    logits = torch.tensor([[200.0, -200.0]])
    assert float(Bernoulli().log_prob(logits, torch.tensor([[1.0, 0.0]]))) == pytest.approx(0.0)
    assert float(Bernoulli().log_prob(logits, torch.tensor([[0.0, 1.0]]))) == pytest.approx(-400.0)


def test_default_threads_is_a_valid_count():
    assert 1 <= default_num_threads() <= (torch.get_num_threads() + 64)


def test_threads_are_validated_and_restored():
    with pytest.raises(ConfigError, match="threads=0"):
        TrainConfig(threads=0)
    before = torch.get_num_threads()
    x = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,)))
    fit(vae, Dataset(x, None, (8,), "unit"), TrainConfig(epochs=1, batch_size=32, threads=1), progress=False)
    assert torch.get_num_threads() == before


def test_dynamic_binarization_draws_bernoulli_with_the_grey_level_as_p(monkeypatch):
    """Every batch the model sees is 0/1 with mean equal to the grey level."""
    seen = []
    vae = VAE(ModelConfig(input_shape=(50,), latent_dim=2, hidden=(4,)))
    forward = vae.forward

    def spy(xb, beta=None):
        seen.append(xb.detach().clone())
        return forward(xb, beta=beta)

    monkeypatch.setattr(vae, "forward", spy)
    x = np.full((400, 50), 0.3, dtype=np.float32)
    fit(
        vae,
        Dataset(x, None, (50,), "unit"),
        TrainConfig(epochs=2, batch_size=100, binarize="dynamic", step="autograd"),  # the spy is forward
        progress=False,
    )
    xs = torch.cat(seen)
    assert set(xs.unique().tolist()) == {0.0, 1.0}
    assert float(xs.mean()) == pytest.approx(0.3, abs=0.01)  # 40k draws: sd 0.0023
    assert not torch.equal(seen[0], seen[4])  # a fresh draw in the second epoch


def _report_module():
    spec = importlib.util.spec_from_file_location("_report", ROOT / "benchmarks" / "_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_sections_replace_only_themselves(tmp_path):
    report = _report_module()
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nsomeone else's text\n")
    report.write_section("a", "A", "first", md)
    report.write_section("b", "B", "other", md)
    report.write_section("a", "A", "second", md)
    text = md.read_text()
    assert "someone else's text" in text and "other" in text
    assert "second" in text and "first" not in text
    assert text.count("<!-- begin a -->") == 1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own inductor imports
def test_compiled_training_matches_eager_training():
    """TrainConfig(compile=True) trains the same objective as eager mode."""
    x = np.random.default_rng(0).random((128, 8), dtype=np.float32)
    ds = Dataset(x, None, (8,), "unit")
    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        vae = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,)))
        hist = fit(vae, ds, TrainConfig(epochs=2, batch_size=64, compile=compiled, threads=1), progress=False)
        losses.append(hist.train_loss)
    # inductor draws its own reparameterization noise, so agreement is statistical
    np.testing.assert_allclose(losses[0], losses[1], rtol=0.02)
    assert np.isfinite(losses[1]).all()
