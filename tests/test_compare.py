"""vaelab.experiments.compare: PCA / AE / VAE / t-SNE / UMAP side by side, its figures and CLIs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from vaelab.cli import main
from vaelab.data import Dataset
from vaelab.errors import ConfigError
from vaelab.experiments.compare import CompareResult, code_representations, compare_methods


@pytest.fixture(scope="module")
def small(digits) -> CompareResult:
    """Every method but UMAP on a digits subsample (t-SNE dominates the cost)."""
    return compare_methods(
        digits.train,
        digits.test,
        methods=("pca", "random", "ae", "vae", "tsne"),
        epochs=15,
        max_train=600,
        max_test=300,
        knn_k=(10,),
        seed=0,
        n_threads=1,
    )


def test_pca_error_is_the_mean_discarded_eigenvalue(digits):
    """On its own training data, PCA's MSE per feature = sum of discarded eigenvalues / D."""
    x = digits.train.x.reshape(len(digits.train), -1).astype(np.float64)
    n, d = x.shape
    eig = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True)))[::-1]  # (D,)
    errors = []
    for k in (1, 2, 5, 10, 30):
        r = compare_methods(digits.train, digits.train, methods=("pca",), n_components=k, knn_k=1)
        errors.append(r.methods["pca"].reconstruction_mse)
        assert errors[-1] == pytest.approx(eig[k:].sum() / d, rel=1e-6)
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert errors[0] / errors[-1] > 5  # 30 components keep far more than one


def test_pca2_knn_well_above_chance_and_below_tsne(small):
    pca, tsne = small.methods["pca"].knn_accuracy[0], small.methods["tsne"].knn_accuracy[0]
    assert 0.4 < pca < 0.8  # chance is 0.1; PCA-2 of digits mixes several classes
    assert tsne > pca + 0.15
    assert tsne > 0.85


def test_tsne_is_transductive_and_cannot_transform(small):
    r = small.methods["tsne"]
    assert r.protocol == "transductive"
    assert r.transform_seconds is None and r.reconstruction_mse is None
    assert any("no mapping for new points" in n for n in r.notes)
    assert all(small.methods[m].protocol == "inductive" for m in ("pca", "ae", "vae", "random"))
    assert all(small.methods[m].transform_seconds >= 0 for m in ("pca", "ae", "vae", "random"))


def test_trustworthiness_in_range_and_tsne_beats_random_projection(small):
    trust = {m: r.trustworthiness for m, r in small.methods.items()}
    assert all(0.0 <= t <= 1.0 for t in trust.values())
    assert trust["tsne"] > trust["random"] + 0.1
    assert trust["pca"] > trust["random"]


def test_ae_and_vae_reconstruct_far_better_than_the_mean(small, digits):
    """Any useful 2-D code beats predicting the training mean for every test sample."""
    rng = np.random.default_rng(0)  # replay compare_methods's subsample draws
    tr = digits.train.x[np.sort(rng.choice(len(digits.train), 600, replace=False))]
    te_idx = np.sort(rng.choice(len(digits.test), 300, replace=False))
    te = digits.test.x[te_idx]
    mean_mse = float(np.mean((te - tr.mean(axis=0)) ** 2))
    for m in ("pca", "ae", "vae"):
        assert small.methods[m].reconstruction_mse < 0.8 * mean_mse
        assert small.methods[m].knn_accuracy[0] > 0.3
    assert small.methods["random"].reconstruction_mse is None
    assert np.asarray(small.methods["vae"].codes).shape == (300, 2)
    assert small.labels == digits.test.y[te_idx].tolist()


def test_json_round_trip(small):
    back = CompareResult.from_dict(json.loads(json.dumps(small.to_dict())))
    assert back == small
    assert back.codes("pca").shape == (small.n_test, 2)


def test_umap_missing_is_reported_not_hidden(digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    r = compare_methods(digits.train, digits.test, methods=("pca", "umap"))
    u = r.methods["umap"]
    assert not u.available and u.codes is None and u.knn_accuracy == [None]
    assert "not installed" in u.notes[0] and "vaelab[umap]" in u.notes[0]
    assert r.methods["pca"].available


def test_tsne_above_three_components_is_skipped_with_reason(digits):
    r = compare_methods(digits.train, digits.test, methods=("tsne",), n_components=5)
    assert not r.methods["tsne"].available
    assert "n_components <= 3" in r.methods["tsne"].notes[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ("pca", "lda")}, "lda"),
        ({"methods": ()}, "methods"),
        ({"n_components": 65}, "n_components=65"),
        ({"knn_k": 0}, "knn_k=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"n_threads": 0}, "n_threads=0"),
    ],
)
def test_bad_options_name_the_value(digits, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        compare_methods(digits.train, digits.test, **{"methods": ("pca",), **kwargs})


def test_unlabelled_data_has_no_knn_but_the_rest(rng):
    x = rng.random((200, 6)).astype(np.float32)
    ds = Dataset(x, None, (6,), "unit")
    r = compare_methods(ds, ds, methods=("pca",), n_components=2)
    p = r.methods["pca"]
    assert p.knn_accuracy == [None] and r.labels is None
    assert any("no labels" in n for n in p.notes)
    assert p.trustworthiness is not None and p.reconstruction_mse > 0


def test_code_representations_align_rows(digits):
    reps = code_representations(
        digits.train, digits.test, n_components=4, methods=("pca",), max_train=300, max_test=100
    )
    assert list(reps) == ["pixels", "PCA"]
    assert reps["pixels"].shape == (100, 64) and reps["PCA"].shape == (100, 4)
    rng = np.random.default_rng(0)  # the seeded subsamples: train first, then test
    tr = digits.train.x[np.sort(rng.choice(len(digits.train), 300, replace=False))]
    te = digits.test.x[np.sort(rng.choice(len(digits.test), 100, replace=False))]
    np.testing.assert_array_equal(reps["pixels"], te.reshape(100, -1))
    from sklearn.decomposition import PCA

    expected = PCA(4).fit(tr.reshape(300, -1)).transform(te.reshape(100, -1))
    np.testing.assert_allclose(np.abs(reps["PCA"]), np.abs(expected), atol=1e-5)


def test_cli_writes_json_and_figures(tmp_path):
    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        main,
        [
            "compare",
            "--data",
            "digits",
            "--methods",
            "pca,random,ae",
            "--epochs",
            "2",
            "--knn-k",
            "5,20",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "PCA" in res.output and "kNN@20" in res.output
    data = json.loads((out / "compare.json").read_text())
    assert data["knn_k"] == [5, 20] and list(data["methods"]) == ["pca", "random", "ae"]
    for name in ("compare_scatter.png", "compare_scatter.svg", "compare_metrics.png"):
        assert (out / name).stat().st_size > 5000
    assert (out / "compare_scatter.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_bad_method_is_one_line_error(tmp_path):
    res = CliRunner().invoke(main, ["compare", "--methods", "pca,lda", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "lda" in res.output


def test_curse_cli_with_real_data_contrasts_pixels_and_codes(tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "curse",
            "--max-dim",
            "5",
            "--n-points",
            "50",
            "--data",
            "digits",
            "--latent-dim",
            "3",
            "--epochs",
            "3",
            "--max-samples",
            "400",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "curse.json").read_text())["representations"]
    assert rep["names"] == ["pixels", "PCA", "AE", "VAE"]
    assert rep["dims"] == [64, 3, 3, 3] and len(set(rep["n_samples"])) == 1
    # 3-D codes keep distances far more contrasted than 64-D pixels
    assert rep["contrast_mean"][1] > 2 * rep["contrast_mean"][0]
    assert (tmp_path / "curse_representations.png").exists()


@pytest.mark.slow
def test_umap_when_installed_is_inductive_and_beats_pca(digits):
    pytest.importorskip("umap", reason="umap-learn (the optional extra vaelab[umap]) is not installed")
    r = compare_methods(
        digits.train, digits.test, methods=("pca", "umap"), max_train=600, max_test=300, n_threads=1
    )
    u = r.methods["umap"]
    assert u.available and u.protocol == "inductive" and u.transform_seconds is not None
    assert u.reconstruction_mse is None
    assert u.knn_accuracy[0] > r.methods["pca"].knn_accuracy[0] + 0.15


def test_named_classes_reach_the_result_and_the_figure_legend(digits):
    """Where the data names its labels, compare.json keeps the names and the legend shows them."""
    from vaelab.report.figures.compare import plot_scatter_grid

    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    test = digits.test.subset(np.arange(200))
    test.meta = {**test.meta, "class_names": names}
    res = compare_methods(digits.train, test, methods=("pca",), max_train=300, knn_k=(5,), seed=0)
    assert res.class_names == names
    assert CompareResult.from_dict(json.loads(json.dumps(res.to_dict()))).class_names == names
    legend = [t.get_text() for t in plot_scatter_grid(res).legends[0].get_texts()]
    assert "0 zero" in legend and "9 nine" in legend
    plain = compare_methods(digits.train, digits.test.subset(np.arange(200)), methods=("pca",), max_train=300)
    assert plain.class_names is None
    assert "0" in [t.get_text() for t in plot_scatter_grid(plain).legends[0].get_texts()]
