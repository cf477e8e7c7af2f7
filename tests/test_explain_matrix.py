"""The explainer page on every shape of data it accepts, in a real browser, network off.

One page per case at the quick preset: 8×8 digits, MNIST and Fashion-MNIST (28×28), a
28×20 crop, a table of features (wine) and 3-channel 8×8 images. Each page must draw its
grids and strips with the right number of tiles at the data's aspect ratio, render its
math, and log no error. Screenshots of every section go to ``$VAELAB_ARTIFACTS`` (default:
the session's pytest tmp dir), one folder per case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import shared_data

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ["curse", "reduce", "autoencoder", "holes", "vae", "objective", "balance", "generation", "result"]
# case → ExplainConfig keywords (files from the shape_matrix_files fixture by key), image (C, H, W)
CASES: dict[str, tuple[dict, tuple[int, int, int] | None]] = {
    "digits": ({"source": "digits"}, (1, 8, 8)),
    "mnist": ({"source": "mnist", "data_dir": "mnist"}, (1, 28, 28)),
    "fashion-mnist": ({"source": "fashion-mnist", "data_dir": "fashion_mnist"}, (1, 28, 28)),
    "crop-28x20": ({"file": "crop", "shape": (28, 20)}, (1, 28, 20)),
    "table-wine": ({"file": "table"}, None),
    "rgb-3x8x8": ({"file": "rgb", "shape": (3, 8, 8)}, (3, 8, 8)),
}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    env = os.environ.get("VAELAB_ARTIFACTS")
    return Path(env) / "explain-matrix" if env else tmp_path_factory.mktemp("explain-matrix")


def _config(case: str, files: dict[str, Path]):
    from vaelab.report.explain import ExplainConfig

    kw = dict(CASES[case][0])
    if "data_dir" in kw:
        kw["data_dir"] = str(shared_data(kw["data_dir"]))
    if "file" in kw:
        key = kw.pop("file")
        if key not in files:
            pytest.skip(f"no {key} data: the shared Fashion-MNIST is absent on this machine")
        kw["source"] = str(files[key])
    return ExplainConfig(preset="quick", max_train=1000, max_test=200, **kw)


def _open(browser, path: Path):
    pg = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("requestfailed", lambda r: errors.append(f"failed request {r.url}"))
    pg.goto(path.as_uri())
    pg.wait_for_function("window.vaelab && window.vaelab.ready")
    return pg, errors, blocked


_CANVAS = """sel => { const c = document.querySelector(sel); if (!c) return null;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inked = 0; for (let i = 0; i < px.length; i += 4) if (px[i] + px[i+1] + px[i+2] < 740) inked++;
  return {tiles: +c.dataset.tiles || 0, cols: +c.dataset.cols || 0, w: +c.dataset.tileW,
          h: +c.dataset.tileH, inked: inked}; }"""


@pytest.mark.parametrize("case", list(CASES))
def test_every_figure_draws_this_shape(case, browser, artifacts, shape_matrix_files, tmp_path):
    from vaelab.report.explain import render_html, run_explain

    report = run_explain(_config(case, shape_matrix_files))
    # no VAE collapses on real data: each uses at least a quarter of its latent units
    # (the β sweep's large β is where collapse is the point, so it is not checked)
    vaes = {
        "2-D VAE": report.two_d.vae.active_units,
        "step 6 VAE": report.objective.active_units,
        "Gaussian VAE": report.linear.nonlinear.active_units,
    }
    for name, au in vaes.items():
        assert au is not None and au.n_active >= au.latent_dim / 4, (name, au.n_active, au.latent_dim)
    path = tmp_path / "explain.html"
    path.write_text(render_html(report), encoding="utf-8")
    pg, errors, blocked = _open(browser, path)
    try:
        image = CASES[case][1]
        tile = pg.evaluate("window.vaelab.tile")
        if image is None:  # a table: one bar (or cell) per feature, not a line of pixels
            assert report.data.sample_shape == [report.data.n_features]
            assert tile["kind"] in ("bars", "heat")
            aspect = tile["h"] / tile["w"]
        else:
            assert report.data.image_shape == list(image)
            assert tile["kind"] == ("rgb" if image[0] == 3 else "grey")
            assert (tile["h"], tile["w"]) == image[1:]
            aspect = image[1] / image[2]

        n, k = report.generation.grid_size, len(report.pca.reconstruction_2d)
        n_ae, n_vae = (len(report.holes.by_name(m).samplers["prior"].examples) for m in ("AE", "VAE"))
        strips = {  # selector → (tiles, columns)
            'canvas[data-grid="quantile_grid"]': (n * n, n),
            'canvas[data-grid="ae_grid"]': (n * n, n),
            'canvas[data-grid="holes_AE_prior"]': (n_ae, 8),
            'canvas[data-grid="holes_VAE_prior"]': (n_vae, 8),
            "#beta-samples": (len(report.sweep.points[0].samples), 8),
            'canvas[data-grid="recon_0"]': (k, k),  # the test inputs of section 3
            'canvas[data-grid="recon_1"]': (k, k),  # their first reconstructions
        }
        for sel, (tiles, cols) in strips.items():
            got = pg.evaluate(_CANVAS, sel)
            assert got is not None, sel
            assert (got["tiles"], got["cols"]) == (tiles, cols), sel
            assert got["h"] / got["w"] == pytest.approx(aspect), sel  # the data's H:W
            assert got["inked"] > 0, sel  # something drawn, not a blank canvas
        for sel in ("#decoded-vae", "#decoded-ae", "#interp-a", "#interp-vae"):
            got = pg.evaluate(_CANVAS, sel)
            assert got["h"] / got["w"] == pytest.approx(aspect), sel

        # the math rendered: native MathML with a real size
        mathml = pg.evaluate(
            "() => Array.from(document.querySelectorAll('math'))"
            ".filter(m => m.getBoundingClientRect().height > 5).length"
        )
        assert mathml >= 5
        # section 6 writes log p(x|z) of the likelihood this page's models use
        words = {"bernoulli": "Bernoulli decoder", "gaussian-learned": "learned variance"}
        decoder = pg.locator("section#objective math", has_text=words[report.data.likelihood])
        assert decoder.count() == 1

        out = artifacts / case
        out.mkdir(parents=True, exist_ok=True)
        for sid in SECTIONS:
            pg.locator(f"section#{sid}").screenshot(path=str(out / f"{sid}.png"))
        assert errors == []
        assert blocked == []
    finally:
        pg.close()
