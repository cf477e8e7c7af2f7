"""Steps per second of the page's training lab, in headless Chromium, at batch 64.

One lab step trains both of the lab's models (the autoencoder and the VAE) on one batch
of 64 samples: forward, backward and Adam, in the page's own JavaScript
(``src/vaelab/report/explain/assets/lab.js``). The goals (issue 16): at least 30 steps/s
on digits (8×8) and at least 10 on 28×28 images, and the code plane redrawn within two
seconds of pressing play.

By default each page holds only the lab, built from the explainer's own stages
(`load_stage` with the quick preset, then `lab_stage`): the same samples, network sizes
and script as ``vaelab explain --quick``, without minutes of training the rest of the
page. ``--page NAME=PATH`` measures built explain.html files instead.

    python benchmarks/lab_speed.py                      # digits and MNIST (../shared/data/mnist)
    python benchmarks/lab_speed.py --page digits=explain-out/explain.html --no-write
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import _machine
from _report import command_line, table, write_section

from vaelab.report.explain import ExplainConfig
from vaelab.report.explain._html import _asset
from vaelab.report.explain._lab import lab_html, lab_json, lab_stage
from vaelab.report.explain._stages import load_stage

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
GOALS = {"digits": 30, "mnist": 10}
CHROMIUM = "/usr/bin/chromium"


def lab_page(source: str, data_dir: str | None, out: Path) -> Path:
    """A page holding only the lab on ``source``'s quick-preset training split."""
    cfg = ExplainConfig(source=source, data_dir=data_dir, preset="quick")
    data, summary, _ = load_stage(cfg)
    lab = lab_stage(data, cfg)
    out.write_text(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lab: {source}</title>'
        f"<style>{_asset('explain.css')}</style></head><body><main>"
        f"{lab_html(lab, summary.n_features)}</main>"
        f'<script type="application/json" id="vaelab-lab">{lab_json(lab, summary)}</script>'
        f"<script>{_asset('lab.js')}</script></body></html>",
        encoding="utf-8",
    )
    return out


def measure(browser, path: Path, seconds: float, repeats: int) -> dict:
    """Steps/s (median of ``repeats`` runs of ``seconds``), and play → first redraw in ms."""
    pg = browser.new_page(viewport={"width": 1100, "height": 1000})
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
    pg.goto(path.as_uri())
    pg.wait_for_function("() => window.vaelabLab && window.vaelabLab.ready", timeout=60_000)
    cfg = pg.evaluate("vaelabLab.config()")
    pg.evaluate("vaelabLab.speed(1000)")  # warm-up: the JIT compiles the loops
    rates = [pg.evaluate(f"vaelabLab.speed({int(seconds * 1000)})") for _ in range(repeats)]
    pg.evaluate("vaelabLab.reset()")
    pg.click("#lab-play")
    pg.wait_for_timeout(2500)
    moved = pg.evaluate("vaelabLab.state().movedMs")
    pg.click("#lab-pause")
    pg.close()
    return {**cfg, "rate": statistics.median(rates), "rates": rates, "moved_ms": moved}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--page", action="append", default=[], help="NAME=PATH of a built explain.html")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    machine = _machine.machine_line()
    tmp = Path(tempfile.mkdtemp(prefix="lab-speed-"))
    if args.page:
        pages = {k: Path(v) for k, v in (p.split("=", 1) for p in args.page)}
    else:
        pages = {"digits": lab_page("digits", None, tmp / "digits.html")}
        if MNIST.exists():
            pages["mnist"] = lab_page("mnist", str(MNIST), tmp / "mnist.html")
    rows, results = [], {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        version = browser.version
        for name, path in pages.items():
            r = results[name] = measure(browser, path, args.seconds, args.repeats)
            goal = GOALS.get(name)
            rows.append(
                [
                    name,
                    r["d"],
                    f"{r['d']}–{r['hidden']}–2 / 2–{r['hidden']}–{r['d']}",
                    r["likelihood"],
                    r["n"],
                    f"{r['rate']:.1f}",
                    f"{1000 / r['rate']:.1f}",
                    "—" if goal is None else f"≥ {goal}: {'met' if r['rate'] >= goal else 'NOT met'}",
                    f"{r['moved_ms']:.0f}" if r["moved_ms"] is not None else "—",
                ]
            )
            print(name, r)
        browser.close()
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {machine}. Browser: headless Chromium {version}.",
            "One lab step trains both the autoencoder and the VAE on one batch of 64 samples "
            "(forward, backward, Adam) in the page's JavaScript; steps/s is the median of "
            f"{args.repeats} runs of {args.seconds:g} s after a 1 s warm-up. *Play → redraw* is "
            "the time from pressing play to the first redraw of the code planes (goal: under "
            "2000 ms). Pages hold the lab only, built from the explainer's quick-preset stages, "
            "unless the command names built pages.",
            table(
                [
                    "data",
                    "D",
                    "encoder / decoder",
                    "likelihood",
                    "samples",
                    "steps/s",
                    "ms/step",
                    "goal",
                    "play → redraw (ms)",
                ],
                rows,
            ),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("lab-speed", "The page's training lab: steps per second in Chromium", body)


if __name__ == "__main__":
    main()
