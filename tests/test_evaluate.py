"""Evaluation: the importance-sampled log-likelihood, the metrics, evaluate_run and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.core.config import ModelConfig
from vaelab.core.importance import CACHE_MB, DEVICE_MB, chunk_sizes, default_memory_mb, iw_log_likelihood
from vaelab.core.models import VAE, Autoencoder
from vaelab.data import Dataset
from vaelab.errors import ConfigError, DataError
from vaelab.evaluate import EVALUATION, evaluate, evaluate_run
from vaelab.runs.run import DataSpec, train_run
from vaelab.training.config import TrainConfig


def _vae(d=12, z=3) -> VAE:
    return VAE(ModelConfig(input_shape=(d,), latent_dim=z, hidden=(16,))).eval()


def _binary(rng, n=64, d=12) -> torch.Tensor:
    return torch.from_numpy(rng.integers(0, 2, (n, d)).astype(np.float32))


def _brute_force(model, x, k, seed) -> np.ndarray:
    """L_K by the textbook formula: all K samples at once, torch.logsumexp in float64."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mu, log_var = model.posterior(x)
        eps = torch.randn((k, *mu.shape), generator=gen, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * log_var) * eps
        q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))
        log_w = (
            model.likelihood.log_prob(model.decode(z), x)
            + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            - q.log_prob(z).sum(-1)
        )
    return (torch.logsumexp(log_w.double(), 0) - math.log(k)).numpy()


def test_chunked_estimate_equals_brute_force(rng):
    model, x = _vae(), _binary(rng)
    # one chunk of all samples and data draws the same ε as the brute-force formula, from the
    # generator seeded with the chunk's seed, the first number drawn from the caller's generator
    one = iw_log_likelihood(
        model, x, 300, data_chunk=len(x), sample_chunk=300, generator=torch.Generator().manual_seed(1)
    )
    seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(1)))
    np.testing.assert_allclose(one.log_likelihood, _brute_force(model, x, 300, seed), atol=1e-4)
    # chunking changes which ε goes where, not what is estimated
    many = iw_log_likelihood(
        model, x, 300, data_chunk=7, sample_chunk=37, generator=torch.Generator().manual_seed(2)
    )
    assert abs(many.mean - one.mean) < 3 * one.standard_error


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own inductor imports
def test_a_float64_model_is_estimated_in_float64(rng):
    # the estimators score with a float64 copy of the model: every layer and the log-density
    # stay float64, so the estimate matches the textbook formula to float64 rounding
    model, x = _vae().double(), _binary(rng).double()
    for compile_ in (False, True):
        est = iw_log_likelihood(
            model,
            x,
            300,
            data_chunk=len(x),
            sample_chunk=300,
            compile=compile_,
            generator=torch.Generator().manual_seed(1),
        )
        seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(1)))
        np.testing.assert_allclose(est.log_likelihood, _brute_force(model, x, 300, seed), rtol=0, atol=1e-9)


def test_logsumexp_stays_finite_for_huge_negative_weights():
    # 3000 pixels all wrong under a confident decoder: log w ≈ −10⁵, exp underflows
    model = VAE(ModelConfig(input_shape=(3000,), latent_dim=2, hidden=()))
    with torch.no_grad():
        model.decoder[-1].bias.fill_(40.0)
    est = iw_log_likelihood(model, torch.zeros(2, 3000), 1000, sample_chunk=100)
    assert np.isfinite(est.log_likelihood).all()
    assert (est.log_likelihood < -1e5).all()


def test_bound_ordering_and_k1_is_the_elbo(rng):
    model, x = _vae(), _binary(rng)
    gen = torch.Generator().manual_seed(0)
    l1 = iw_log_likelihood(model, x, 1, generator=gen)
    np.testing.assert_allclose(l1.log_likelihood, l1.log_weight_mean, atol=1e-9)
    lk = [iw_log_likelihood(model, x, k, generator=gen).mean for k in (1, 50, 2000)]
    assert lk[0] < lk[1] < lk[2]  # L_1 ≤ L_50 ≤ L_2000 in expectation, by a clear margin


def test_chunk_sizes_respect_the_memory_budget():
    b, s = chunk_sizes(10_000, 5000, width=2000, memory_mb=64)
    assert b * s * 2000 * 4 * 2 <= 64 * 2**20
    assert chunk_sizes(3, 10, width=10) == (3, 10)


def test_the_decode_budget_defaults_by_device():
    # a CPU keeps its batches in cache; a GPU gets batches large enough to outweigh kernel launches
    assert default_memory_mb(torch.device("cpu")) == CACHE_MB
    assert default_memory_mb(torch.device("cuda")) == DEVICE_MB > 100 * CACHE_MB


def test_evaluate_vae_reports_consistent_numbers(rng):
    model = _vae()
    x = _binary(rng, n=80).numpy()
    ds = Dataset(x, np.arange(80) % 3, (12,), "binary", "toy")
    ev = evaluate(model, ds, iw_samples=500, train_data=ds)
    assert ev.elbo == pytest.approx(-(ev.reconstruction + ev.kl))
    assert ev.log_likelihood >= ev.elbo
    assert ev.gap == pytest.approx(ev.log_likelihood - ev.elbo)
    assert ev.bits_per_dim == pytest.approx(-ev.log_likelihood / (12 * math.log(2)))
    assert "binary pixel" in ev.bits_per_dim_note
    assert sum(ev.kl_per_dim) == pytest.approx(ev.kl, rel=1e-6)
    assert len(ev.latent_mean_variance) == 3 and 0 <= ev.active_units <= 3
    with torch.no_grad():
        mse = float((model.reconstruct(torch.from_numpy(x)) - torch.from_numpy(x)).pow(2).mean())
    assert ev.reconstruction_mse == pytest.approx(mse, rel=1e-5)
    assert 0 <= ev.knn_accuracy <= 1 and 0 <= ev.trustworthiness <= 1
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["iw_samples"] == 500 and d["n_examples"] == 80
    assert "log p(x)" in ev.table()


def test_active_units_follow_burda_definition(rng):
    model = _vae(z=3)
    with torch.no_grad():  # μ(x) = x[0]·3 for unit 0, constant for units 1 and 2
        enc = model.encoder
        for p in enc.parameters():
            p.zero_()
        enc[0].weight[0, 0] = 1.0
        enc[-1].weight[0, 0] = 3.0
    x = _binary(rng, n=200).numpy()
    ev = evaluate(model, Dataset(x, None, (12,), "binary"), iw_samples=0, latent_metrics=False)
    assert ev.active_units == 1
    assert ev.latent_mean_variance[1] == pytest.approx(0.0, abs=1e-12)


def test_grey_level_bernoulli_bits_are_labelled_improper(rng):
    x = rng.random((30, 12), dtype=np.float32)
    ev = evaluate(_vae(), Dataset(x, None, (12,), "unit"), iw_samples=10, latent_metrics=False)
    assert "NOT a proper likelihood" in ev.bits_per_dim_note


def test_autoencoder_gets_reconstruction_only(rng):
    ae = Autoencoder(ModelConfig(kind="ae", input_shape=(12,), latent_dim=2, hidden=(8,)))
    x = _binary(rng, n=40).numpy()
    ev = evaluate(ae, Dataset(x, np.arange(40) % 2, (12,), "binary"), train_data=None)
    assert ev.log_likelihood is None and ev.elbo is None and ev.bits_per_dim is None
    assert ev.iw_samples == 0 and ev.reconstruction > 0
    assert any("autoencoder" in n for n in ev.notes)
    assert any("kNN accuracy skipped" in n for n in ev.notes)


def test_bad_inputs_raise_user_errors(rng):
    ds = Dataset(_binary(rng).numpy(), None, (12,), "binary")
    with pytest.raises(DataError, match="13 features"):
        evaluate(_vae(), Dataset(np.zeros((4, 13), np.float32), None, (13,), "binary"))
    with pytest.raises(ConfigError, match="iw_samples=-1"):
        evaluate(_vae(), ds, iw_samples=-1)
    with pytest.raises(ConfigError, match="n_samples=0"):
        iw_log_likelihood(_vae(), torch.zeros(2, 12), 0)
    with pytest.raises(ConfigError, match="iw_precision='fp16'"):
        evaluate(_vae(), ds, iw_precision="fp16")


def test_bf16_importance_sampling_stays_close_to_fp32(rng):
    model, x = _vae(), _binary(rng, n=200)
    ds = Dataset(x.numpy(), None, (12,), "binary")
    ref = evaluate(model, ds, iw_samples=1000, latent_metrics=False, iw_precision="fp32")
    fast = evaluate(model, ds, iw_samples=1000, latent_metrics=False, iw_precision="bf16")
    assert fast.iw_precision == "bf16" and any("bf16" in n for n in fast.notes)
    assert "bf16" in fast.table() and "bf16" not in ref.table()
    # same draws, networks rounded to bf16: the estimates differ by far less than their noise
    assert abs(fast.log_likelihood - ref.log_likelihood) < 0.05
    assert fast.log_likelihood != ref.log_likelihood


def test_auto_precision_runs_bf16_only_after_its_self_check(rng, monkeypatch):
    import vaelab.evaluate as ev_module

    model, x = _vae(), _binary(rng, n=300)
    ds = Dataset(x.numpy(), None, (12,), "binary")
    k = 2000
    monkeypatch.setattr(ev_module, "CHECK_SHARE", 0.5)  # a check of 2 × 256 × 500 pairs pays for 300 × 2000
    monkeypatch.setattr(ev_module, "bf16_is_fast", lambda device: True)
    auto = evaluate(model, ds, iw_samples=k, latent_metrics=False)
    chk = auto.iw_precision_check
    assert auto.iw_precision_requested == "auto" and chk is not None
    assert chk["n_examples"] == 256 and chk["n_samples"] == 500 and chk["tolerance"] == 0.01
    assert chk["passed"] == (abs(chk["difference"]) + 3 * chk["standard_error"] <= 0.01)
    assert auto.iw_precision == ("bf16" if chk["passed"] else "fp32")
    assert any("self-check" in n for n in auto.notes)
    assert json.loads(json.dumps(auto.to_dict()))["iw_precision_check"] == chk
    # a failed check falls back to fp32, and says so
    failed = ev_module.PrecisionCheck(256, 500, 0.5, 0.01, 0.01, False, 0.0)
    monkeypatch.setattr(ev_module, "check_bf16", lambda *a, **kw: failed)
    ran = evaluate(model, ds, iw_samples=k, latent_metrics=False)
    assert ran.iw_precision == "fp32" and ran.iw_precision_check["passed"] is False
    assert any("failed its self-check" in n for n in ran.notes)
    # no native bf16, or too small a job: fp32 without a check
    monkeypatch.setattr(ev_module, "bf16_is_fast", lambda device: False)
    assert evaluate(model, ds, iw_samples=k, latent_metrics=False).iw_precision_check is None
    monkeypatch.setattr(ev_module, "bf16_is_fast", lambda device: True)
    small = evaluate(model, ds, iw_samples=100, latent_metrics=False)
    assert small.iw_precision == "fp32" and small.iw_precision_check is None
    # asked for explicitly: no check
    assert (
        evaluate(model, ds, iw_samples=k, latent_metrics=False, iw_precision="bf16").iw_precision_check
        is None
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own inductor imports
def test_fused_decode_step_matches_the_model(rng):
    from vaelab.core.importance import _bernoulli_mlp_step, _compiled_bernoulli_mlp_step, _mlp_layers

    model = VAE(ModelConfig(input_shape=(784,), latent_dim=5, hidden=(64, 32), activation="tanh")).eval()
    x = torch.rand(3, 784)
    with torch.inference_mode():
        mu, log_var = model.posterior(x)
        std, eps = torch.exp(0.5 * log_var), torch.randn(40, 3, 5)
        z = mu + std * eps
        for low, tol in ((None, 1e-3), (torch.bfloat16, 0.5)):
            with torch.autocast("cpu", dtype=low or torch.float32, enabled=low is not None):
                params = model.decode(z)
            ref = model.likelihood.log_prob(params.float(), x)  # (40, 3)
            layers = _mlp_layers(model, low)
            assert layers is not None and layers[0][0].dtype == torch.float32  # LatentLinear stays fp32
            assert layers[-1][0].dtype == (low or torch.float32)
            steps = [(_bernoulli_mlp_step, False)]
            steps += [(_compiled_bernoulli_mlp_step(threaded), True) for threaded in (False, True)]
            for step, fused in steps:
                lw, log_px = step(mu, std, eps, x, layers, fused)
                torch.testing.assert_close(log_px, ref, atol=tol, rtol=1e-4)
                torch.testing.assert_close(
                    lw - log_px, 0.5 * (eps.square() - z.square()).sum(-1), atol=1e-3, rtol=0
                )
    # only MLP decoders with Bernoulli pixels take the fused step
    gauss = VAE(ModelConfig(input_shape=(8,), latent_dim=2, hidden=(4,), likelihood="gaussian"))
    conv = VAE(ModelConfig(input_shape=(1, 8, 8), latent_dim=2, network="conv", channels=4))
    assert _mlp_layers(gauss, None) is None and _mlp_layers(conv, None) is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own inductor imports
def test_compiled_estimate_equals_the_eager_one_with_any_number_of_workers(rng):
    model, x = _vae(), _binary(rng, n=30)
    threads = torch.get_num_threads()
    runs = [
        iw_log_likelihood(
            model, x, 200, data_chunk=4, compile=c, workers=w, generator=torch.Generator().manual_seed(5)
        )
        for c, w in ((False, None), (True, 1), (True, 2), (True, 3))
    ]
    assert torch.get_num_threads() == threads  # the workers' single thread is undone
    np.testing.assert_allclose(runs[0].log_likelihood, runs[1].log_likelihood, atol=1e-4)
    # each data chunk draws from its own seeded stream: which worker ran it does not matter
    for other in runs[2:]:
        np.testing.assert_allclose(other.log_likelihood, runs[1].log_likelihood, rtol=1e-6)
        np.testing.assert_allclose(other.log_weight_std, runs[1].log_weight_std, rtol=1e-5)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "vae-digits"
    train_run(
        DataSpec(source="digits"),
        ModelConfig(latent_dim=4, hidden=(32,)),
        TrainConfig(epochs=3, batch_size=64),
        run,
        progress=False,
    )
    return run


def test_evaluate_run_writes_evaluation_json(digits_run):
    ev = evaluate_run(digits_run, iw_samples=50, subsample=100)
    saved = json.loads((digits_run / EVALUATION).read_text())
    assert saved["n_examples"] == 100 and saved["iw_samples"] == 50
    assert saved["log_likelihood"] == pytest.approx(ev.log_likelihood)
    assert saved["knn_accuracy"] is not None  # digits are labelled; train codes from the run


def test_evaluate_run_uses_a_fixed_binarization_for_dynamic_runs(tmp_path):
    run = tmp_path / "dyn"
    train_run(
        DataSpec(source="digits"),
        ModelConfig(latent_dim=2, hidden=(16,)),
        TrainConfig(epochs=1, binarize="dynamic"),
        run,
        progress=False,
    )
    a = evaluate_run(run, iw_samples=20, latent_metrics=False)
    b = evaluate_run(run, iw_samples=20, latent_metrics=False)
    assert "binary pixel" in a.bits_per_dim_note  # scored on 0/1 data, not grey levels
    assert a.log_likelihood == b.log_likelihood  # same draw of data and of ε


def test_cli_prints_table_and_writes_json(digits_run):
    result = CliRunner().invoke(
        main, ["evaluate", str(digits_run), "--iw-samples", "20", "--subsample", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "L_K with K=20" in result.output and "active units" in result.output
    assert json.loads((digits_run / EVALUATION).read_text())["n_examples"] == 50


def test_cli_reports_user_errors(tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
