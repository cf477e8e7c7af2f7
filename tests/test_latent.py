"""Latent tools: samplers, interpolation, traversal, quantile grid, scatter, active units."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.neighbors import NearestNeighbors

from vaelab.core.config import ModelConfig
from vaelab.core.inference import active_units, aggregate_posterior_codes, encode
from vaelab.core.models import build_model
from vaelab.errors import ConfigError
from vaelab.experiments.latent import (
    gaussian_codes,
    gmm_codes,
    interpolate,
    latent_scatter,
    lerp,
    prior_codes,
    quantile_grid,
    slerp,
    traverse,
)
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


@pytest.fixture(scope="module")
def trained(digits):
    """An AE and a VAE with the same architecture (latent 4), trained on digits in ~3 s."""
    models = {}
    for kind in ("ae", "vae"):
        net = build_model(ModelConfig(kind=kind, input_shape=(1, 8, 8), latent_dim=4, hidden=(64,)))
        fit(net, digits.train, TrainConfig(epochs=25, batch_size=64, seed=0), progress=False)
        models[kind] = net
    return models


def test_slerp_keeps_the_norm_and_lerp_cuts_inside(rng):
    za, zb = rng.standard_normal(16), rng.standard_normal(16)
    zb *= np.linalg.norm(za) / np.linalg.norm(zb)  # same norm
    t = np.linspace(0, 1, 11)
    s = slerp(za, zb, t)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), np.linalg.norm(za), rtol=1e-10)
    np.testing.assert_allclose(s[[0, -1]], [za, zb], atol=1e-12)
    # the straight line dips below the shell: at t = 1/2 its norm is |za|·cos(ω/2)
    omega = np.arccos(za @ zb / np.linalg.norm(za) ** 2)
    assert np.linalg.norm(lerp(za, zb, t)[5]) == pytest.approx(
        np.linalg.norm(za) * np.cos(omega / 2), rel=1e-10
    )


def test_slerp_interpolates_unequal_norms_linearly(rng):
    za, zb = rng.standard_normal(8), 3 * rng.standard_normal(8)
    t = np.linspace(0, 1, 7)
    norms = np.linalg.norm(slerp(za, zb, t), axis=1)
    expected = (1 - t) * np.linalg.norm(za) + t * np.linalg.norm(zb)
    np.testing.assert_allclose(norms, expected, rtol=1e-10)


def test_interpolation_endpoints_decode_to_reconstructions(trained, digits):
    for net in trained.values():
        xa, xb = digits.test.x[0], digits.test.x[1]
        for method in ("linear", "slerp"):
            path = interpolate(net, xa, xb, n_steps=6, method=method)
            with torch.no_grad():
                rec = net.reconstruct(torch.from_numpy(np.stack([xa, xb]).reshape(2, -1)))
            np.testing.assert_allclose(path.x[[0, -1]], rec.numpy(), atol=1e-5)
            # the path moves: the middle decodes to something else than either end
            assert np.abs(path.x[3] - path.x[0]).sum() > 0.1


def test_interpolate_rejects_bad_arguments(trained, digits):
    x = digits.test.x[0]
    with pytest.raises(ConfigError, match="method='cubic'"):
        interpolate(trained["vae"], x, x, method="cubic")
    with pytest.raises(ConfigError, match="n_steps=1"):
        interpolate(trained["vae"], x, x, n_steps=1)


def test_gmm_sampler_lands_near_the_codes_of_an_ae(trained, digits):
    ae = trained["ae"]
    codes = encode(ae, digits.train)
    nn = NearestNeighbors(n_neighbors=1).fit(codes)
    z_gmm, gmm = gmm_codes(codes, 1000, n_components=10)
    z_prior = prior_codes(1000, 4, seed=1)
    d_gmm = np.median(nn.kneighbors(z_gmm)[0])
    d_prior = np.median(nn.kneighbors(z_prior)[0])
    assert d_gmm < 0.5 * d_prior, (d_gmm, d_prior)
    assert gmm.n_components == 10
    # a single moment-matched Gaussian sits in between
    d_gauss = np.median(nn.kneighbors(gaussian_codes(codes, 1000))[0])
    assert d_gmm < d_gauss < d_prior


def test_aggregate_posterior_of_a_vae_is_near_the_prior(trained, digits):
    q = aggregate_posterior_codes(trained["vae"], digits.train)
    assert np.abs(q.mean(axis=0)).max() < 0.3
    np.testing.assert_allclose(q.std(axis=0), 1.0, atol=0.3)
    # an AE has no posterior noise: its draws are its codes
    np.testing.assert_array_equal(
        aggregate_posterior_codes(trained["ae"], digits.test), encode(trained["ae"], digits.test)
    )


def test_quantile_grid_shape_and_monotone_coordinates(trained):
    g = quantile_grid(trained["vae"], n=5, dims=(2, 0))
    assert g.z.shape == (25, 4) and g.x.shape == (25, 64)
    np.testing.assert_allclose(g.values, norm.ppf([0.1, 0.3, 0.5, 0.7, 0.9]))
    z = g.z.reshape(5, 5, 4)
    assert np.all(np.diff(z[:, :, 2], axis=1) > 0)  # x-axis: increases to the right
    assert np.all(np.diff(z[:, :, 0], axis=0) < 0)  # y-axis: increases upwards
    assert np.all(z[:, :, [1, 3]] == 0)
    with pytest.raises(ConfigError, match="dims"):
        quantile_grid(trained["vae"], dims=(1, 1))


def test_traversal_changes_one_dim_and_the_output(trained):
    tr = traverse(trained["vae"], dim=1, n_steps=7, limit=3.0)
    np.testing.assert_allclose(tr.z[:, 1], np.linspace(-3, 3, 7))
    assert np.all(tr.z[:, [0, 2, 3]] == 0)
    assert np.abs(tr.x[-1] - tr.x[0]).sum() > 0.5  # an active unit moves the decoding
    with pytest.raises(ConfigError, match="dim=4"):
        traverse(trained["vae"], dim=4)


def test_active_units_of_trained_models(trained, digits):
    au = active_units(trained["ae"], digits.test)
    assert au.n_active == 4 and min(au.variances) > 0.01
    # a VAE whose posterior mean ignores x (zero weights into μ) has no active unit
    vae = build_model(ModelConfig(kind="vae", input_shape=(1, 8, 8), latent_dim=4, hidden=(64,)))
    with torch.no_grad():
        vae.encoder[-1].weight[:4].zero_()  # rows 0..3 produce μ, rows 4..7 log σ²
    au = active_units(vae, digits.test)
    assert au.n_active == 0 and max(au.variances) < 1e-12


def test_latent_scatter_projects_and_keeps_labels(trained, digits):
    s = latent_scatter(trained["vae"], digits.test, max_points=100)
    assert s.xy.shape == (100, 2) and s.projection == "pca"
    assert s.labels.shape == (100,)
    # the PCA projection keeps the first two directions of largest code variance
    codes = encode(trained["vae"], digits.test)
    assert s.xy.var(axis=0).sum() >= np.sort(codes.var(axis=0))[-2:].sum() - 1e-4


def test_latent_figures(trained, digits, tmp_path):
    from vaelab.report.figures.images import save_figure
    from vaelab.report.figures.latent import (
        plot_interpolations,
        plot_latent_scatter,
        plot_quantile_grid,
        plot_traversals,
    )

    vae, shape = trained["vae"], digits.test.sample_shape
    xa, xb = digits.test.x[0], digits.test.x[1]
    figs = {
        "interp": plot_interpolations([interpolate(vae, xa, xb, 8, m) for m in ("linear", "slerp")], shape),
        "trav": plot_traversals([traverse(vae, d) for d in range(4)], shape),
        "grid": plot_quantile_grid(quantile_grid(vae, n=6), shape),
        "scatter": plot_latent_scatter(latent_scatter(vae, digits.test)),
    }
    assert figs["grid"].axes[0].get_xlabel() == "z0 (prior quantiles)"
    assert figs["scatter"].axes[0].get_xlabel() == "PC 1 of the codes"
    assert len(figs["scatter"].axes[0].get_legend().get_texts()) == 10
    for name, fig in figs.items():
        assert save_figure(fig, tmp_path / f"{name}.png").stat().st_size > 1000


def test_latent_tour_is_written_as_json_and_figures(trained, digits, tmp_path):
    import json

    from vaelab.experiments.latent import latent_tour
    from vaelab.report.writers import write_latent

    tour = latent_tour(trained["vae"], digits.train, digits.test, grid_n=5, n_samples=8)
    paths = write_latent(tmp_path, tour)
    res = json.loads((tmp_path / "latent.json").read_text())
    assert paths[0] == tmp_path / "latent.json" and res == json.loads(json.dumps(tour.to_dict()))
    assert res["active_units"]["latent_dim"] == 4
    assert len(res["traversals"]) == 4 and len(res["quantile_grid"]["z"]) == 25
    for name in (
        "latent.json",
        "interpolation.png",
        "traversal.png",
        "quantile_grid.svg",
        "latent_scatter.png",
        "samples_prior.png",
        "samples_gmm.png",
    ):
        assert (tmp_path / name).stat().st_size > 500
