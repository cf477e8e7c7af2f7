"""The training lab: an AE and a VAE with 2-D codes, trained live in the page on the reader's data.

`lab_stage` picks a subset of the explainer's training split and quantizes it to
uint8; `lab_html` is the lab's section and `lab_json` the data its JavaScript
(``assets/lab.js``) reads. The networks, both loss terms, their gradients and Adam
run in the page in plain JavaScript; ``tests/test_lab_browser.py`` checks them
against PyTorch.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import TYPE_CHECKING

import numpy as np

from vaelab.report.explain._config import ExplainConfig
from vaelab.report.explain._schema import DataSummary, LabData

if TYPE_CHECKING:
    from vaelab.report.explain._stages import Data

MAX_SAMPLES = 2000  # enough codes to fill a plane; 31 batches of 64 per pass
MAX_BYTES = 1_600_000  # raw uint8 bytes at most (≈ 2000 samples of 28×28)
MIN_SAMPLES = 256
BATCH = 64
BETAS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # the β slider's stops


def lab_size(n_train: int, n_features: int) -> int:
    """Samples the lab embeds: at most `MAX_SAMPLES` and `MAX_BYTES` of uint8, at least `MIN_SAMPLES`.

    Examples
    --------
    >>> lab_size(1437, 64), lab_size(50000, 784), lab_size(50000, 3072)
    (1437, 2000, 520)
    """
    return int(min(n_train, MAX_SAMPLES, max(MIN_SAMPLES, MAX_BYTES // n_features)))


def lab_hidden(n_features: int) -> int:
    """Hidden units of the lab's networks: 128, or 64 above 200 features (speed in the page)."""
    return 128 if n_features <= 200 else 64


def quantize(x: np.ndarray, unit: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x`` (N, D) as uint8 ``q`` with ``x ≈ lo + q · scale``.

    Values in [0, 1] use one step of 1/255 (exact for binary data); others run
    from each feature's minimum to its maximum in 255 steps.

    Examples
    --------
    >>> q, lo, s = quantize(np.array([[0.0, 1.0], [0.5, 0.25]]), unit=True)
    >>> q.tolist(), float(np.abs(lo + q * s - [[0, 1], [0.5, 0.25]]).max()) < 0.002
    ([[0, 255], [128, 64]], True)
    """
    x = np.asarray(x, dtype=np.float64)
    if unit:
        lo, scale = np.zeros(x.shape[1]), np.full(x.shape[1], 1 / 255)
    else:
        lo = x.min(0)
        scale = np.maximum(x.max(0) - lo, 1e-12) / 255
    q = np.clip(np.rint((x - lo) / scale), 0, 255).astype(np.uint8)
    return q, lo.astype(np.float32), scale.astype(np.float32)


def _gz_b64(a: np.ndarray) -> str:
    return base64.b64encode(gzip.compress(np.ascontiguousarray(a).tobytes(), 9, mtime=0)).decode("ascii")


def lab_stage(data: Data, cfg: ExplainConfig) -> LabData:
    """The lab's samples: the first `lab_size` of a seeded shuffle of the training split, as uint8.

    Parameters
    ----------
    data : Data
        The explainer's splits (`vaelab.report.explain._stages.load_stage`).
    cfg : ExplainConfig

    Returns
    -------
    LabData
    """
    x = data.xtr.numpy()
    n_train, d = x.shape
    n = lab_size(n_train, d)
    idx = np.sort(np.random.default_rng(cfg.seed + 16).permutation(n_train)[:n])
    unit = data.train.kind in ("binary", "unit")
    q, lo, scale = quantize(x[idx], unit)
    err = float(np.abs(lo + q.astype(np.float32) * scale - x[idx]).max())
    y = data.train.y
    labels = None if y is None else np.asarray(y)[idx].astype(np.int64) % 256
    return LabData(
        n_samples=n,
        n_train=n_train,
        hidden=lab_hidden(d),
        likelihood="bernoulli" if data.likelihood == "bernoulli" else "gaussian-learned",
        batch=BATCH,
        preset_steps=400 if d <= 200 else 200,
        quantization="unit" if unit else "per-feature",
        max_quantization_error=err,
        payload_bytes=len(_gz_b64(q)),
        x=q,
        lo=lo,
        scale=scale,
        labels=None if labels is None else labels.astype(np.uint8),
    )


def _b64(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def lab_json(lab: LabData, look: DataSummary) -> str:
    """The lab's data for ``assets/lab.js``, as a JSON string safe inside a script tag."""
    x = lab.lo + lab.x.astype(np.float32) * lab.scale  # (n, D) what the lab trains on
    payload = {
        "n": lab.n_samples,
        "d": int(lab.x.shape[1]),
        "hidden": lab.hidden,
        "likelihood": lab.likelihood,
        "batch": lab.batch,
        "preset_steps": lab.preset_steps,
        "betas": list(BETAS),
        "image_shape": look.image_shape,
        "table": len(look.sample_shape) == 1,
        "range": look.range,
        "x_gz": _gz_b64(lab.x),
        "lo": _b64(lab.lo, "<f4"),
        "scale": _b64(lab.scale, "<f4"),
        "mean": _b64(x.mean(0), "<f4"),
        "std": _b64(x.std(0), "<f4"),
        "labels": None if lab.labels is None else _b64(lab.labels, "u1"),
        # a learned σ starts at the data's scale, as the page's models (`_stages.model_config`)
        "log_sigma0": float(0.5 * np.log(max(float(x.var(0).mean()), 1e-12))),
    }
    return json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")


AFTER = "balance"  # the lab follows section 7, the balance of the two terms: the presets replay it


def lab_position(section_ids: list[str]) -> int:
    """Where the lab goes among the page's sections: right after `AFTER`, else at the end.

    Examples
    --------
    >>> lab_position(["vae", "balance", "generation"]), lab_position(["vae"])
    (2, 1)
    """
    return section_ids.index(AFTER) + 1 if AFTER in section_ids else len(section_ids)


def _why(lab: LabData, d: int) -> str:
    if lab.n_samples == lab.n_train:
        return f"all {lab.n_train} training samples"
    cap = (
        f"at most {MAX_SAMPLES} samples"
        if lab.n_samples == MAX_SAMPLES
        else f"at most {MAX_BYTES / 1e6:.1f} MB of raw pixels ({d} numbers each)"
    )
    return f"{lab.n_samples} of the {lab.n_train} training samples ({cap}, to keep the page small)"


def _canvas(cid: str, w: int, h: int, label: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<canvas id="{cid}"{c} width="{w}" height="{h}" role="img" aria-label="{label}"></canvas>'


def _panel(kind: str, title: str) -> str:
    name = "autoencoder" if kind == "ae" else "VAE"
    return (
        f'<figure class="panel"><figcaption>{title}</figcaption>'
        f"{_canvas(f'lab-plane-{kind}', 280, 280, f'{name} code plane', 'lab-plane')}"
        "<figcaption>decodings of 8 prior draws z ~ N(0, I)</figcaption>"
        f"{_canvas(f'lab-draws-{kind}', 280, 140, f'{name} decodings of prior draws')}</figure>"
    )


def lab_html(lab: LabData, d: int) -> str:
    """The lab's section: words, controls, canvases; ``assets/lab.js`` brings them to life."""
    lik = (
        "a Bernoulli likelihood, as the page's models"
        if lab.likelihood == "bernoulli"
        else "a Gaussian likelihood with one learned variance, as the page's models"
    )
    kb = lab.payload_bytes / 1024
    betas = "".join(f'<option value="{b:g}"></option>' for b in BETAS)
    return f"""<section id="lab" aria-labelledby="lab-h">
<h2 id="lab-h">Lab: train the two models yourself</h2>
<p class="plain">Here you train an autoencoder and a VAE, both with a 2-D code, side by side in
this page, on {_why(lab, d)} of your data. Press play and watch each model's codes spread over
its plane. The VAE's loss has the two terms of the previous section: the reconstruction term and
the KL term, weighted by β. Set β to 0 and the VAE becomes an autoencoder again: its codes
spread out and leave gaps that random codes fall into. Set β large and the codes collapse onto
the prior: every input gets the same code, and the decoder can only output the average sample.
The presets show each case in a few seconds.</p>
<div class="lab-controls" role="group" aria-label="training controls">
<button type="button" id="lab-play">Play</button>
<button type="button" id="lab-pause" disabled>Pause</button>
<button type="button" id="lab-step">Step</button>
<button type="button" id="lab-reset">Reset</button>
<span><label for="lab-beta">β (KL weight) <output id="lab-beta-out" for="lab-beta">1</output></label>
<input type="range" id="lab-beta" min="0" max="{len(BETAS) - 1}" step="1" value="{BETAS.index(1.0)}"
 list="lab-beta-stops" aria-describedby="lab-beta-help"></span>
<datalist id="lab-beta-stops">{betas}</datalist>
<span><label for="lab-lr">learning rate <output id="lab-lr-out" for="lab-lr">0.003</output></label>
<input type="range" id="lab-lr" min="-4" max="-1.5" step="0.25" value="-2.5"></span>
<span><input type="checkbox" id="lab-kl" checked> <label for="lab-kl">KL term on</label></span>
</div>
<p id="lab-beta-help" class="legend">β applies to the VAE only; the autoencoder has no KL term.
With the KL term off, the VAE trains on reconstruction alone (as β = 0).</p>
<div class="lab-controls" role="group" aria-label="presets">
<span>Presets:</span>
<button type="button" class="lab-preset" data-preset="recon">Reconstruction only (β = 0)</button>
<button type="button" class="lab-preset" data-preset="kl">KL only (β = 100)</button>
<button type="button" class="lab-preset" data-preset="balanced">Balanced (β = 1)</button>
</div>
<div class="row lab-models">{_panel("ae", "Autoencoder: codes of training samples")}
{_panel("vae", "VAE: codes (means of q(z|x)) of training samples")}</div>
<div class="row">
<figure>{_canvas("lab-recon", 330, 200, "reconstruction term per step")}
<figcaption>Reconstruction term −E log p(x|z), nats per sample, per step: autoencoder (orange),
VAE (blue).</figcaption></figure>
<figure>{_canvas("lab-klplot", 330, 200, "KL term per step")}
<figcaption>The VAE's KL term, nats per sample, per step (drawn even when β = 0).</figcaption></figure>
</div>
<p class="readout" id="lab-readout" aria-live="polite"></p>
<p class="legend">The lab in numbers: the {lab.n_samples} samples add {kb:.0f} KB to this page
(stored as {"grey levels in steps of 1/255" if lab.quantization == "unit" else "255 steps per feature"},
compressed). Each network has one hidden layer of {lab.hidden} relu units (encoder {d}–{lab.hidden}–2,
decoder 2–{lab.hidden}–{d}), smaller than the page's models so a step takes milliseconds; {lik}.
Batches of {lab.batch}, Adam, and the noise ε of z = μ + σ·ε from a seeded generator, so Reset
replays the same run. <em>Gaps</em>: the share of 300 prior draws farther from every code (300
training samples, one draw z ~ q(z|x) each) than the codes' median distance to their nearest
other code, the cheap form of section 4's measure: about 0.5 when the codes fill N(0, I), near 1
when they leave holes.</p>
</section>"""
