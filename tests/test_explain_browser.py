"""The explainer page in a real browser (Debian chromium via Playwright), network off."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "explain"
SECTIONS = ["curse", "reduce", "autoencoder", "holes", "vae", "objective", "balance", "generation", "result"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    from vaelab.report.explain import ExplainConfig, render_html, run_explain

    report = run_explain(ExplainConfig(preset="quick", max_test=200))
    path = tmp_path_factory.mktemp("explain") / "explain.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path, report


@pytest.fixture(scope="module")
def page(built):
    from playwright.sync_api import sync_playwright

    path, _ = built
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        pg = browser.new_page(viewport={"width": 1100, "height": 900})
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
        pg.goto(path.as_uri())
        pg.wait_for_function("window.vaelab && window.vaelab.ready")
        pg.errors, pg.blocked = errors, blocked
        yield pg
        browser.close()


def _pixels(pg, cid: str) -> list[int]:
    return pg.evaluate(
        "id => Array.from(document.getElementById(id).getContext('2d')"
        ".getImageData(0, 0, document.getElementById(id).width, "
        "document.getElementById(id).height).data)",
        cid,
    )


def test_every_section_renders_without_errors(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for sid in SECTIONS:
        sec = page.locator(f"section#{sid}")
        assert sec.is_visible(), sid
        assert len(sec.inner_text()) > 200, sid
        sec.screenshot(path=str(ARTIFACTS / f"{sid}.png"))
    mathml = page.evaluate(
        "() => Array.from(document.querySelectorAll('math'))"
        ".filter(m => m.getBoundingClientRect().height > 5).length"
    )
    assert max(page.locator(".katex").count(), mathml) >= 5  # formulas rendered (KaTeX or MathML)
    assert page.errors == []
    assert page.blocked == []


def test_moving_over_the_explorer_changes_the_decoding(page):
    before = {k: _pixels(page, f"decoded-{k}") for k in ("ae", "vae")}
    page.locator("#plane-vae").scroll_into_view_if_needed()
    box = page.locator("#plane-vae").bounding_box()
    page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.move(box["x"] + 0.85 * box["width"], box["y"] + 0.8 * box["height"])
    after = {k: _pixels(page, f"decoded-{k}") for k in ("ae", "vae")}
    assert all(before[k] != after[k] for k in before)
    page.locator("#plane-ae").focus()
    z0 = page.evaluate("window.vaelab.explorer.getZ()")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("window.vaelab.explorer.getZ()")[0] > z0[0]


def test_sample_button_changes_the_decoding(page):
    before = _pixels(page, "decoded-vae")
    page.click("#sample-button")
    assert _pixels(page, "decoded-vae") != before


def test_js_decoder_matches_pytorch(built, page):
    _, report = built
    t = report.two_d
    for kind, model in (("ae", t.ae), ("vae", t.vae)):
        js = np.array(
            [page.evaluate(f"z => window.vaelab.decode('{kind}', z)", z.tolist()) for z in t.check_z]
        )
        np.testing.assert_allclose(js, model.check, atol=1e-4)


@pytest.mark.parametrize(
    "slider,canvas",
    [
        ("dim-slider", "dim-canvas"),
        ("beta-slider", "beta-samples"),
        ("beta-slider", "rd-canvas"),
        ("interp-slider", "interp-vae"),
    ],
)
def test_sliders_update_their_figures(page, slider, canvas):
    before = _pixels(page, canvas)
    page.eval_on_selector(
        f"#{slider}",
        "s => { s.value = s.value == s.min ? s.max : s.min; s.dispatchEvent(new Event('input')); }",
    )
    assert _pixels(page, canvas) != before


def test_the_plane_legend_names_the_classes_where_the_data_does(built, page):
    """Fashion-MNIST's labels are clothes, not numbers: the legend says which colour is which."""
    import dataclasses

    from vaelab.report.explain import render_html

    path, report = built
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    named = dataclasses.replace(report, data=dataclasses.replace(report.data, class_names=names))
    other = path.with_name("named.html")
    other.write_text(render_html(named), encoding="utf-8")
    context = page.context.browser.new_context()
    pg = context.new_page()
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
    pg.goto(other.as_uri())
    pg.wait_for_function("window.vaelab && window.vaelab.ready")
    text = pg.inner_text("#plane-legend")
    context.close()
    assert "zero (0)" in text and "nine (9)" in text
    assert "zero" not in page.inner_text("#plane-legend")  # the digits page: the labels alone


def test_a_grid_with_more_tiles_than_canvas_pixels_still_shows_every_tile(page, tmp_path):
    """15×15 tiles of 28×20 images do not fit a 420-pixel canvas at one pixel each."""
    from vaelab.report.explain import ExplainConfig, render_html, run_explain

    data = tmp_path / "faces.npy"
    np.save(data, np.random.default_rng(0).random((300, 28 * 20), dtype=np.float32))
    report = run_explain(ExplainConfig(source=str(data), shape=(28, 20), preset="quick", max_test=100))
    page_path = tmp_path / "explain.html"
    page_path.write_text(render_html(report), encoding="utf-8")
    pg = page.context.browser.new_page()  # the module's browser; network blocked below
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
    pg.goto(page_path.as_uri())
    pg.wait_for_function("window.vaelab && window.vaelab.ready")
    size, gap = pg.evaluate(
        """() => { const c = document.querySelector('canvas[data-grid="quantile_grid"]');
        const px = c.getContext('2d').getImageData(20, 5, 1, 1).data;  // between tiles 1 and 2
        return [[c.width, c.height], Array.from(px.slice(0, 3))]; }"""
    )
    pg.close()
    n = report.generation.grid_size
    assert size == [n * 21 - 1, n * 29 - 1]  # every tile at one pixel per pixel, 1-pixel gaps between
    assert gap == [255, 255, 255]  # the white gap between the first two tiles: a grid, not one image
