"""The page's training lab in a real browser (Debian chromium via Playwright), network off.

Its JavaScript networks are checked against PyTorch: the same weights, batch and noise give
the same loss and gradients, and the same steps of Adam give the same losses. Then the lab
itself: play lowers the loss and moves the codes within two seconds, the presets show the
story, every control works by keyboard, and screenshots are saved as test artifacts.

Pages are built by ``vaelab explain --quick`` on digits (a learned-σ Gaussian) and MNIST
(Bernoulli; skipped without ../shared/data/mnist), both at once in one module fixture.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_DATA

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
VAELAB = Path(sys.executable).with_name("vaelab")
GRAD_RTOL = 1e-5  # |JS − PyTorch| ≤ GRAD_RTOL · max |PyTorch| per gradient tensor; loss likewise
ADAM_STEPS = 60
ADAM_RTOL = 1e-4  # per-step loss after ADAM_STEPS steps of Adam, float32 on both sides


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    root = os.environ.get("VAELAB_ARTIFACTS")
    path = Path(root) / "lab" if root else tmp_path_factory.mktemp("lab-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """explain.html of digits and (when its files are here) MNIST, built side by side."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    out = tmp_path_factory.mktemp("lab-pages")
    args = {"digits": ["--data", "digits"]}
    if (SHARED_DATA / "mnist").exists():
        args["mnist"] = ["--data", "mnist", "--data-dir", str(SHARED_DATA / "mnist")]
    t0 = time.perf_counter()
    procs = {
        name: subprocess.Popen(
            [str(VAELAB), "explain", "--quick", *a, "--out", str(out / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, a in args.items()
    }
    for name, p in procs.items():
        log, _ = p.communicate(timeout=900)
        assert p.returncode == 0, f"vaelab explain on {name} failed:\n{log}"
    print(f"built {sorted(procs)} in {time.perf_counter() - t0:.0f} s")
    return {name: out / name / "explain.html" for name in procs}


@pytest.fixture(scope="module")
def browser(pages):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module", params=["digits", "mnist"])
def lab(request, pages, browser):
    """One page, its lab unpacked and ready; ``.errors`` and ``.blocked`` collect what went wrong."""
    if request.param not in pages:
        pytest.skip(f"no {request.param} page: its data is not in {SHARED_DATA}")
    pg = browser.new_page(viewport={"width": 1100, "height": 1000})
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
    pg.goto(pages[request.param].as_uri())
    pg.wait_for_function("window.vaelabLab && window.vaelabLab.ready", timeout=60_000)
    pg.errors, pg.blocked, pg.name = errors, blocked, request.param
    yield pg
    pg.close()


# ---------------------------------------------------------------- PyTorch's side


def _init(d: int, hidden: int, kind: str, seed: int) -> list[torch.Tensor]:
    """PyTorch's default nn.Linear weights of the lab's four layers, as [W1, b1, …, W4, b4]."""
    torch.manual_seed(seed)
    sizes = [(d, hidden), (hidden, 4 if kind == "vae" else 2), (2, hidden), (hidden, d)]
    out = []
    for nin, nout in sizes:
        lin = torch.nn.Linear(nin, nout)
        out += [lin.weight.detach().clone(), lin.bias.detach().clone()]
    return out


def torch_loss(w, x, eps, kind, likelihood, beta, log_sigma):
    """The lab's loss in PyTorch: mean −log p(x|z) + β · mean KL; returns (loss, recon, kl)."""
    w1, b1, w2, b2, w3, b3, w4, b4 = w
    o = F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)
    if kind == "vae":
        mu, lv = o[:, :2], o[:, 2:]
        z = mu + torch.exp(0.5 * lv) * eps
        kl = 0.5 * (mu**2 + lv.exp() - lv - 1).sum(1).mean()  # Kingma & Welling 2014, appendix B
    else:
        z, kl = o, torch.zeros((), dtype=x.dtype)
    out = F.linear(F.relu(F.linear(z, w3, b3)), w4, b4)
    if likelihood == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1).mean()
    else:
        rec = 0.5 * (x - out) ** 2 * torch.exp(-2 * log_sigma) + log_sigma + 0.5 * math.log(2 * math.pi)
        rec = rec.sum(1).mean()
    return rec + beta * kl, rec, kl


def _spec(lab, kind: str, weights, x: np.ndarray, eps: np.ndarray, beta: float, log_sigma: float) -> dict:
    cfg = lab.evaluate("vaelabLab.config()")
    return {
        "kind": kind,
        "d": cfg["d"],
        "hidden": cfg["hidden"],
        "likelihood": cfg["likelihood"],
        "batch": len(eps),
        "beta": beta,
        "logSigma": log_sigma,
        "weights": [t.float().numpy().ravel().tolist() for t in weights],
        "x": x.ravel().tolist(),
        "eps": eps.ravel().tolist(),
    }


# ---------------------------------------------------------------- correctness


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_loss_and_gradients_match_pytorch(lab, kind):
    cfg = lab.evaluate("vaelabLab.config()")
    d, b = cfg["d"], 64
    x = np.asarray(lab.evaluate(f"vaelabLab.data({b})"), dtype=np.float32).reshape(b, d)
    eps = np.random.default_rng(3).standard_normal((b, 2)).astype(np.float32)
    beta, log_sigma = 0.7, -1.3
    weights = _init(d, cfg["hidden"], kind, seed=5)
    got = lab.evaluate("s => vaelabLab.lossAndGrads(s)", _spec(lab, kind, weights, x, eps, beta, log_sigma))

    w64 = [t.double().requires_grad_() for t in weights]
    s64 = torch.tensor(log_sigma, dtype=torch.float64, requires_grad=True)
    x64, e64 = torch.from_numpy(x).double(), torch.from_numpy(eps).double()
    loss, rec, kl = torch_loss(w64, x64, e64, kind, cfg["likelihood"], beta, s64)
    loss.backward()
    assert got["loss"] == pytest.approx(loss.item(), rel=GRAD_RTOL)
    assert got["reconstruction"] == pytest.approx(rec.item(), rel=GRAD_RTOL)
    assert got["kl"] == pytest.approx(kl.item(), rel=GRAD_RTOL, abs=1e-6)
    worst = 0.0
    for i, (g_js, w) in enumerate(zip(got["grads"], w64, strict=True)):
        ref = w.grad.numpy().ravel()
        err = np.abs(np.asarray(g_js) - ref).max()
        assert err <= GRAD_RTOL * np.abs(ref).max() + 1e-7, f"gradient {i}: {err} vs max {np.abs(ref).max()}"
        worst = max(worst, err / max(np.abs(ref).max(), 1e-12))
    print(f"{lab.name} {kind}: loss rel err {abs(got['loss'] / loss.item() - 1):.1e}, worst grad {worst:.1e}")
    if cfg["likelihood"] != "bernoulli":
        assert got["dLogSigma"] == pytest.approx(s64.grad.item(), rel=GRAD_RTOL)


def test_adam_steps_match_pytorch(lab):
    """The same init, batches and noise: Adam in the page gives PyTorch's losses, step by step."""
    cfg = lab.evaluate("vaelabLab.config()")
    d, b, n, lr, beta, log_sigma = cfg["d"], 64, 256, 3e-3, 1.0, -1.0
    x = np.asarray(lab.evaluate(f"vaelabLab.data({n})"), dtype=np.float32).reshape(n, d)
    rng = np.random.default_rng(4)
    batches = [rng.choice(n, b, replace=False) for _ in range(ADAM_STEPS)]
    eps = rng.standard_normal((ADAM_STEPS, b, 2)).astype(np.float32)
    weights = _init(d, cfg["hidden"], "vae", seed=6)
    spec = _spec(lab, "vae", weights, x, eps[0], beta, log_sigma)
    spec |= {"batches": [bt.tolist() for bt in batches], "eps": [e.ravel().tolist() for e in eps], "lr": lr}
    got = lab.evaluate("s => vaelabLab.train(s)", spec)

    params = [torch.nn.Parameter(t.clone()) for t in weights]
    s = torch.nn.Parameter(torch.tensor(log_sigma))
    opt = torch.optim.Adam([*params, s] if cfg["likelihood"] != "bernoulli" else params, lr=lr)
    xt, losses = torch.from_numpy(x), []
    for bt, e in zip(batches, eps, strict=True):
        opt.zero_grad()
        loss = torch_loss(params, xt[bt], torch.from_numpy(e), "vae", cfg["likelihood"], beta, s)[0]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(got["losses"], losses, rtol=ADAM_RTOL)
    worst = np.max(np.abs(np.array(got["losses"]) / losses - 1))
    print(f"{lab.name} Adam: {ADAM_STEPS} steps, worst per-step loss rel diff {worst:.1e}")
    assert losses[-1] < losses[0]  # the steps did train


# ---------------------------------------------------------------- the lab in use


def _plane(lab, kind: str) -> list[int]:
    return lab.evaluate(
        "id => Array.from(document.getElementById(id).getContext('2d').getImageData(0, 0, 280, 280).data)",
        f"lab-plane-{kind}",
    )


def _wait(lab, predicate: str, timeout_s: float) -> None:
    """Poll a JS function until it returns true (the page's CSP forbids wait_for_function's eval)."""
    t_end = time.perf_counter() + timeout_s
    while not lab.evaluate(predicate):
        assert time.perf_counter() < t_end, f"timed out waiting for {predicate}"
        time.sleep(0.05)


def test_play_moves_the_codes_and_lowers_the_loss(lab, artifacts):
    lab.locator("#lab").scroll_into_view_if_needed()
    lab.locator("#lab").screenshot(path=str(artifacts / f"lab-{lab.name}-before.png"))
    before = _plane(lab, "vae")
    lab.focus("#lab-play")
    lab.keyboard.press("Enter")  # play, by keyboard
    target = 300 if lab.name == "digits" else 150
    _wait(lab, f"() => vaelabLab.state().step >= {target}", 60)
    moved = lab.evaluate("vaelabLab.state().movedMs")  # from pressing play to the first redraw, in the page
    assert moved is not None and moved < 2000, moved
    assert _plane(lab, "vae") != before
    lab.focus("#lab-pause")
    lab.keyboard.press("Enter")
    assert not lab.evaluate("vaelabLab.state().playing")
    hist = np.asarray(lab.evaluate("vaelabLab.history()"))  # (steps, [AE rec, VAE rec, VAE KL])
    vae_loss = hist[:, 1] + hist[:, 2]
    assert hist[-20:, 0].mean() < hist[:20, 0].mean(), "the AE's loss did not fall"
    assert vae_loss[-20:].mean() < vae_loss[:20].mean(), "the VAE's loss did not fall"
    lab.locator("#lab").screenshot(path=str(artifacts / f"lab-{lab.name}-after.png"))
    first, last = vae_loss[:20].mean(), vae_loss[-20:].mean()
    print(f"{lab.name}: codes redrawn {moved:.0f} ms after play; VAE loss {first:.4g} → {last:.4g}")
    assert "Step" in lab.text_content("#lab-readout")


def test_presets_show_the_story(lab, artifacts):
    lab.evaluate("vaelabLab.reset()")
    start = lab.evaluate("vaelabLab.stats()")
    recon = lab.evaluate("vaelabLab.preset('recon', true)")
    lab.locator("#lab").screenshot(path=str(artifacts / f"lab-{lab.name}-preset-recon.png"))
    kl = lab.evaluate("vaelabLab.preset('kl', true)")
    lab.locator("#lab").screenshot(path=str(artifacts / f"lab-{lab.name}-preset-kl.png"))
    bal = lab.evaluate("vaelabLab.preset('balanced', true)")
    lab.locator("#lab").screenshot(path=str(artifacts / f"lab-{lab.name}-preset-balanced.png"))
    print(lab.name, {"start": start["vae"], "recon": recon["vae"], "kl": kl["vae"], "balanced": bal["vae"]})
    # β = 0: the codes spread out from their start and leave holes for prior draws
    assert recon["vae"]["codeSpread"] > 3 * start["vae"]["codeSpread"]
    assert recon["vae"]["gaps"] > 0.7 and recon["ae"]["gaps"] > 0.7
    assert recon["vae"]["gaps"] > bal["vae"]["gaps"]
    # large β: the codes collapse and the decoder outputs one sample whatever the input
    assert kl["vae"]["codeSpread"] < 0.05
    assert kl["vae"]["outputSpread"] < 0.02
    # β = 1: codes that carry the input, decodings that vary with it
    assert bal["vae"]["outputSpread"] > 0.3 and bal["vae"]["codeSpread"] > 0.3


def test_controls_work_by_keyboard(lab):
    lab.evaluate("vaelabLab.reset()")
    lab.focus("#lab-beta")
    lab.keyboard.press("ArrowLeft")
    assert lab.evaluate("vaelabLab.state().beta") == 0.3
    assert lab.text_content("#lab-beta-out") == "0.3"
    lab.keyboard.press("Tab")  # to the learning rate
    lab.keyboard.press("ArrowRight")
    assert lab.evaluate("vaelabLab.state().lr") == pytest.approx(10**-2.25)
    lab.focus("#lab-kl")
    lab.keyboard.press("Space")
    assert lab.evaluate("vaelabLab.state().klOn") is False
    lab.focus("#lab-step")
    lab.keyboard.press("Enter")
    lab.keyboard.press("Enter")
    assert lab.evaluate("vaelabLab.state().step") == 2
    lab.focus("#lab-reset")
    lab.keyboard.press("Enter")
    assert lab.evaluate("vaelabLab.state().step") == 0
    for cid in ("lab-beta", "lab-lr", "lab-kl"):  # every control has a label
        assert lab.evaluate(f"document.getElementById('{cid}').labels.length") >= 1
    lab.focus("#lab-kl")
    lab.keyboard.press("Space")  # back on, for the tests after this one


def test_lab_is_its_own_section_after_the_balance(lab):
    order = lab.evaluate("Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    assert order.index("lab") == order.index("balance") + 1
    assert lab.locator('nav a[href="#lab"]').count() == 1
    assert "samples" in lab.text_content("#lab") and "KB" in lab.text_content("#lab")


def test_no_console_errors_and_no_network(lab):
    assert lab.errors == [], lab.errors
    assert lab.blocked == [], lab.blocked
