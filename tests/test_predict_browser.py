"""Predict-first questions and the self-check in a real browser, by keyboard alone, network off.

The page is built by the CLI (``vaelab explain --quick --data digits``); the answers the page
reveals are checked against the numbers in the explain.json written beside it. Screenshots go
to ``$VAELAB_ARTIFACTS/predict`` (or pytest's temporary directory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    out = tmp_path_factory.mktemp("predict")
    exe = Path(sys.executable).with_name("vaelab")
    cmd = [str(exe) if exe.exists() else shutil.which("vaelab") or "vaelab"]
    subprocess.run([*cmd, "explain", "--quick", "--data", "digits", "--out", str(out)], check=True)
    return out / "explain.html", json.loads((out / "explain.json").read_text())


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = os.environ.get("VAELAB_ARTIFACTS")
    out = Path(root) / "predict" if root else tmp_path_factory.mktemp("predict-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser(built):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        args = ["--no-sandbox", "--disable-gpu"]
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


@pytest.fixture
def page(built, browser):
    """A fresh page (own storage) on the built file; console errors and outside requests recorded."""
    path, _ = built
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = ctx.new_page()
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
    pg.goto(path.as_uri())
    pg.wait_for_function("window.vaelab && window.vaelab.predict && window.vaelab.predict.ready")
    yield pg
    ctx.close()
    assert errors == []
    assert blocked == []


def _data(pg) -> dict:
    return pg.evaluate("JSON.parse(document.getElementById('vaelab-data').textContent).predict")


def _active(pg) -> dict:
    return pg.evaluate(
        "() => { const a = document.activeElement; return {id: a.id, tag: a.tagName, "
        "type: a.type || null, value: a.value || null, form: a.form ? a.form.id : null, "
        "cls: a.className || ''}; }"
    )


def _tab_into(pg, form_id: str) -> None:
    """Focus the focusable element just before the form, then Tab into it (as a reader would)."""
    pg.evaluate(
        """id => {
        const form = document.getElementById(id);
        const all = Array.from(document.querySelectorAll(
            'a[href], button, input, textarea, select, [tabindex]:not([tabindex="-1"])'))
            .filter(e => !e.disabled && e.offsetParent !== null);
        const before = all.filter(e => !form.contains(e) &&
            (e.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING));
        before[before.length - 1].focus();
        form.scrollIntoView({block: 'center'});
    }""",
        form_id,
    )
    pg.keyboard.press("Tab")


def _outline(pg) -> tuple[str, str]:
    return tuple(
        pg.evaluate(
            "() => { const s = getComputedStyle(document.activeElement); "
            "return [s.outlineStyle, s.outlineWidth]; }"
        )
    )


def _expected(numbers: dict) -> dict[str, str | None]:
    """Answers recomputed here from explain.json, independently of the page's own data."""
    o, t = numbers["objective"], numbers["typicality"]
    holes = {m["name"]: m["mismatch"]["gaussian_kl"] for m in numbers["holes"]["models"]}
    share = t["shuffled_below_threshold"]
    return {
        "objective": None
        if o["gap"] <= 0
        else "near"
        if o["gap"] < 1
        else "mid"
        if o["gap"] <= 10
        else "far",
        "vae": "vae" if holes["VAE"] < holes["AE"] else "ae",
        "result": "most" if share >= 0.9 else "some" if share >= 0.5 else "few",
    }


def test_a_question_is_answered_by_keyboard_and_the_run_answers_beside_it(built, page, artifacts):
    _, numbers = built
    q = _data(page)["objective"]
    section = page.locator("section#objective")
    measure = section.locator("> .measure:not(.missing)").first
    assert not measure.is_visible()  # the numbers wait for the prediction
    assert section.locator(".predict-wait").is_visible()
    section.screenshot(path=str(artifacts / "objective-before.png"))

    groups = page.get_by_role("radiogroup", name="Predict first.")  # named by their question
    assert groups.count() == len(_data(page))
    _tab_into(page, "predict-objective")
    a = _active(page)
    assert (a["type"], a["form"]) == ("radio", "predict-objective")
    assert _outline(page) == ("solid", "3px")  # a visible focus ring on the choice
    keys = list(q["choices"])
    page.keyboard.press("ArrowDown")  # the second choice, checked by the arrow key
    assert _active(page)["value"] == keys[1]
    page.keyboard.press("Enter")

    assert _active(page)["id"] == "predict-objective-reveal"  # focus moves to the answer
    assert _outline(page)[0] == "solid"
    reveal = page.locator("#predict-objective-reveal")
    text = reveal.inner_text()
    assert f"You predicted: {q['choices'][keys[1]]}" in text
    expected = _expected(numbers)["objective"]
    assert q["answer"] == expected
    if expected is None:
        assert "do not single out" in text and "too noisy" in text
    else:
        assert f"This run: {q['choices'][expected]}" in text
        assert f"{numbers['objective']['gap']:.3g} nats below" in text
    verdict = "matches" if keys[1] == expected else "differs"
    assert verdict in text
    choice = '#predict-objective .predict-choice[data-key="{}"] .badge.{}'
    assert page.locator(choice.format(keys[1], "yours")).count() == 1
    if expected is not None:
        assert page.locator(choice.format(expected, "run")).count() == 1
    assert measure.is_visible() and not section.locator(".predict-wait").is_visible()
    assert page.evaluate("window.vaelab.predict.choices()")["objective"] == keys[1]
    section.screenshot(path=str(artifacts / "objective-after.png"))


def test_space_chooses_and_the_button_answers(built, page):
    _, numbers = built
    for qid in ("vae", "result"):
        _tab_into(page, f"predict-{qid}")
        page.keyboard.press("Space")  # checks the focused (first) choice
        first = _active(page)["value"]
        assert page.evaluate(f"document.querySelector('#predict-{qid} input:checked').value") == first
        page.keyboard.press("Tab")  # to "Check my prediction"
        a = _active(page)
        assert a["tag"] == "BUTTON" and a["form"] == f"predict-{qid}"
        assert _outline(page)[0] == "solid"
        page.keyboard.press("Space")
        assert _active(page)["id"] == f"predict-{qid}-reveal"
        q = _data(page)[qid]
        assert q["answer"] == _expected(numbers)[qid]
        assert f"This run: {q['choices'][q['answer']]}" in page.locator(f"#predict-{qid}-reveal").inner_text()


def test_enter_without_a_choice_asks_for_one(page):
    _tab_into(page, "predict-curse")
    page.keyboard.press("Tab")  # past the radio group, to the answer button
    assert _active(page)["tag"] == "BUTTON"
    page.keyboard.press("Enter")
    assert "Pick one first" in page.locator("#predict-curse .predict-note").inner_text()
    assert _active(page)["type"] == "radio"  # back to the choices
    assert page.locator("#predict-curse-reveal").is_hidden()


def test_skip_shows_the_sections_numbers_by_keyboard(page, artifacts):
    _tab_into(page, "predict-balance-low")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # radio group → answer button → skip
    assert "Skip" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    assert _active(page)["id"] == "predict-balance-low-reveal"
    section = page.locator("section#balance")
    for qid in ("balance-low", "balance-high"):  # every question of the section resolved
        text = page.locator(f"#predict-{qid}-reveal").inner_text()
        assert "You predicted: nothing (skipped)" in text and "This run:" in text
    assert section.locator("> .measure:not(.missing)").first.is_visible()
    assert page.evaluate("window.vaelab.predict.choices()") == {"balance-low": "", "balance-high": ""}
    section.screenshot(path=str(artifacts / "balance-skipped.png"))


def test_a_choice_is_remembered_in_the_page(page):
    _tab_into(page, "predict-holes")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.reload()
    page.wait_for_function("window.vaelab && window.vaelab.predict && window.vaelab.predict.ready")
    assert page.locator("#predict-holes-reveal").is_visible()
    assert page.evaluate("window.vaelab.predict.choices()")["holes"]
    assert page.evaluate("document.activeElement === document.body")  # restored without stealing focus


def test_self_check_reveals_answers_with_the_runs_numbers(built, page, artifacts):
    _, numbers = built
    checks = page.locator(".check")
    assert checks.count() == 6
    _tab_into(page, "check-5")
    assert _active(page)["id"] == "check-5-text"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # nothing written yet: a nudge first
    assert "Have a go first" in page.locator("#check-5 .check-note").inner_text()
    assert page.locator("#check-5-a").is_hidden()
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("KL to the true posterior is never negative")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert _active(page)["id"] == "check-5-a"
    answer = page.locator("#check-5-a").inner_text()
    o = numbers["objective"]
    assert f"{o['elbo_k']:.3g} nats" in answer and f"{o['log_likelihood']:.3g}" in answer
    assert page.locator("#check-5 button").get_attribute("aria-expanded") == "true"
    for i in range(1, 7):  # the rest by click: each answer appears after the nudge
        if i != 5:
            page.locator(f"#check-{i}-text").fill("a guess")
            page.locator(f"#check-{i} button").click()
            assert page.locator(f"#check-{i}-a").is_visible()
    assert str(numbers["pca"]["k_for_90"]) in page.locator("#check-1-a").inner_text()
    page.locator("section#selfcheck").screenshot(path=str(artifacts / "selfcheck.png"))
