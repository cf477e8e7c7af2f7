"""(g) The speed issue's items 2–4 once on a CUDA GPU: the epoch, importance sampling, the explainer.

Needs a CUDA device (it stops with a message where there is none). One run, in order:

- **Machine**: the card's name, torch and CUDA versions, and the bf16 and fp32
  matmul peaks (8192³, TF32 off, timed with CUDA events) measured now.
- **The epoch** (item 4), at the protocol of ``epoch_time.py``: 784-400-20,
  Bernoulli on grey levels, batch 128, Adam 1e-3, one epoch of 60k images. The
  pytorch/examples loop (its DataLoader, each batch moved with ``.to(device)`` as
  main.py does on a GPU) against ``vaelab.training.loop.fit(device="cuda")``, fp32
  and bf16; a warm-up round, then ``--repeats`` rounds, medians. The matmul floor
  row is the epoch's matmul FLOP at the bf16 peak above.
- **Importance sampling** (item 3), as ``iw_eval.py`` measures it: a 784-400-20
  VAE trained one epoch, K = ``--samples`` over the first ``--images`` test
  images, fp32 and bf16, at the GPU's default decode batch
  (`vaelab.core.importance.DEVICE_MB`) and, in bf16, at the CPU's (`CACHE_MB`);
  the bf16 − fp32 NLL over the same draws. Then ``vaelab evaluate`` end to end on
  a run trained one epoch by ``vaelab train`` (both on the GPU by default).
- **The explainer** (item 2): ``vaelab explain --data mnist`` at the default
  preset, wall clock, with its models trained on the GPU (``--device cuda``, what
  ``auto`` picks there) and, on the same machine, on the host's CPU cores
  (``--device cpu``). Every measure of the page runs on the CPU either way.

    python benchmarks/gpu.py [--repeats 3] [--images 10000] [--samples 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine
import reference_vae
import torch
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.importance import CACHE_MB, DEVICE_MB, iw_log_likelihood
from vaelab.core.inference import as_flat_tensor
from vaelab.core.models import VAE
from vaelab.evaluate import check_bf16
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit

CUDA = torch.device("cuda")


def cuda_seconds(fn, repeats: int = 1) -> float:
    """Seconds per call of ``fn`` on the GPU, timed with CUDA events after one warm-up call."""
    fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000 / repeats


def matmul_peak(dtype: torch.dtype, n: int = 8192) -> float:
    """TFLOP/s of an ``n × n × n`` matmul in ``dtype`` on random data (TF32 off for fp32)."""
    a, b = torch.randn(n, n, device=CUDA, dtype=dtype), torch.randn(n, n, device=CUDA, dtype=dtype)
    return 2 * n**3 / cuda_seconds(lambda: a @ b, repeats=10) / 1e12


def wall(fn) -> float:
    """Wall seconds of ``fn()``, the GPU's queue drained before and after."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def one_epoch(state: tuple, prec: str, seed: int, reference: bool) -> None:
    """One epoch of the reference loop (``state``: model, optimizer, loader) or of vaelab's fit."""
    if reference:
        model, opt, loader = state
        reference_vae.train_epoch(model, opt, loader, prec == "bf16", CUDA)
    else:
        cfg = TrainConfig(epochs=1, batch_size=128, lr=1e-3, precision=prec, seed=seed, device="cuda")
        fit(state[0], state[1], cfg, progress=False)


def epoch_rows(splits, repeats: int, peak_bf16: float) -> list[list[object]]:
    """Item 4: one epoch of the reference and of vaelab, fp32 and bf16, medians over rounds."""
    state = {}
    for prec in ("fp32", "bf16"):
        state["reference", prec] = reference_vae.make(splits.train, splits.test, device=CUDA)[:3]
        vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,))).to(CUDA)
        state["vaelab", prec] = (vae, splits.train)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in state}
    for rep in range(repeats + 1):  # the first round is a warm-up
        for (name, prec), st in state.items():
            t = wall(lambda st=st, prec=prec, rep=rep, ref=name == "reference": one_epoch(st, prec, rep, ref))
            print(f"epoch round {rep}: {name} {prec} {t:.2f} s", flush=True)
            if rep > 0:
                times[name, prec].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    steps = -(-len(splits.train) // 128)
    rows = [
        [
            name,
            prec,
            f"{med[name, prec]:.2f}",
            f"{1e6 * med[name, prec] / steps:.0f}",
            f"{med['reference', prec] / med[name, prec]:.2f}×",
        ]
        for name, prec in state
    ]
    flop = 3 * 2 * (784 * 400 + 400 * 40 + 20 * 400 + 400 * 784) * len(splits.train)  # forward + 2 backward
    rows.append(["matmul floor (bf16 peak)", "bf16", f"{flop / (peak_bf16 * 1e12):.4f}", "", ""])
    return rows


def iw_rows(splits, images: int, samples: int) -> tuple[list[list[object]], str]:
    """Item 3: importance-sampled log-likelihood on the GPU, fp32 and bf16."""
    vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,))).to(CUDA)
    fit(vae, splits.train, TrainConfig(epochs=1, precision="auto", device="cuda"), progress=False)
    x = as_flat_tensor(splits.test, CUDA)[:images]
    bf16 = torch.bfloat16
    runs = [("fp32", None, DEVICE_MB), ("bf16", bf16, DEVICE_MB), ("bf16", bf16, CACHE_MB)]
    rows, nll = [], {}
    for prec, dtype, mb in runs:
        iw_log_likelihood(vae, x[:2], n_samples=samples, autocast=dtype, memory_mb=mb)  # warm-up
        out = {}

        def run(prec=prec, dtype=dtype, mb=mb, out=out):
            gen = torch.Generator(device=CUDA).manual_seed(0)
            out["est"] = iw_log_likelihood(
                vae, x, n_samples=samples, autocast=dtype, memory_mb=mb, generator=gen
            )

        t = wall(run)
        if mb == DEVICE_MB:
            nll[prec] = -out["est"].log_likelihood
        pairs = len(x) * samples
        gflop = 2.0 * (20 * 400 + 400 * 784) * pairs / 1e9
        rows.append(
            [
                prec,
                f"{mb:g}",
                len(x),
                samples,
                f"{t:.2f}",
                f"{t * 10_000 / len(x):.2f}",
                f"{gflop / t / 1e3:.1f}",
                f"{-out['est'].mean:.3f}",
            ]
        )
        print(rows[-1], flush=True)
    diff = nll["bf16"] - nll["fp32"]
    chk = check_bf16(vae, x[:256], n_samples=min(samples, 500))
    verdict = (
        f"bf16 − fp32 NLL over the same {len(x)} images and draws: {diff.mean():+.4f} nats "
        f"(± {diff.std(ddof=1) / len(diff) ** 0.5:.4f}; criterion: at most 0.01 in size: "
        f"{'met' if abs(diff.mean()) <= 0.01 else 'NOT met'}). `vaelab evaluate`'s self-check on this model: "
        f"{chk.difference:+.4f} ± {chk.standard_error:.4f} nats, {'passed' if chk.passed else 'failed'}."
    )
    return rows, verdict


def cli_seconds(args: list[str], env: dict) -> float:
    """Wall seconds of one ``vaelab`` command in a fresh process (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vaelab", *args], check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="timed epoch rounds after the warm-up")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--no-explain", action="store_true", help="leave out the explainer rows")
    p.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu.py: no CUDA device here; run it on a machine with a GPU")
    info = _machine.machine()
    card = torch.cuda.get_device_name()
    peaks = {"bf16": matmul_peak(torch.bfloat16), "fp32": matmul_peak(torch.float32)}
    print(card, peaks, flush=True)
    splits = _machine.load_mnist()
    epochs = epoch_rows(splits, args.repeats, peaks["bf16"])
    iw, verdict = iw_rows(splits, args.images, args.samples)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    data_dir = os.environ.get("VAELAB_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        train_s = cli_seconds(
            ["train", "--data", "mnist", "--data-dir", data_dir, "--epochs", "1", "--out", str(run)], env
        )
        eval_s = cli_seconds(["evaluate", str(run), "--iw-samples", str(args.samples), "--no-latent"], env)
        ev = json.loads((run / "evaluation.json").read_text())
        explain = {}
        for device in () if args.no_explain else ("cuda", "cpu"):
            page = Path(tmp) / f"page-{device}"
            cmd = ["explain", "--data", "mnist", "--data-dir", data_dir, "--device", device]
            seconds = cli_seconds([*cmd, "--out", str(page)], env)
            explain[device] = (seconds, json.loads((page / "explain.json").read_text())["timings"])
    cli = [
        ["vaelab train --data mnist --epochs 1 (default device: the GPU)", f"{train_s:.1f}", ""],
        [
            f"vaelab evaluate RUN --iw-samples {args.samples} --no-latent",
            f"{eval_s:.1f}",
            f"device {ev['device']}, {ev['iw_precision']}, {ev['n_examples']} images, "
            f"{ev['seconds']:.1f} s inside; log p(x) {ev['log_likelihood']:.2f} nats",
        ],
    ]
    for device, (seconds, timings) in explain.items():
        train = {k: v for k, v in timings.items() if k.startswith(("autoencoder and VAE", "the larger"))}
        cli.append(
            [
                f"vaelab explain --data mnist --device {device} (default preset)",
                f"{seconds:.1f}",
                f"{timings['total']:.1f} s inside; training {sum(train.values()):.1f} s "
                f"(the 2-D pair and the larger models' batched pass: "
                f"{' and '.join(f'{v:.1f}' for v in train.values())} s)",
            ]
        )
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: **{card}**, torch {torch.__version__}, CUDA {torch.version.cuda}; host "
            f"{_machine.machine_line(info)}",
            f"Matmul peak measured in this run (8192³, CUDA events, TF32 off): bf16 {peaks['bf16']:.0f} "
            f"TFLOP/s, fp32 {peaks['fp32']:.0f} TFLOP/s.",
            "**The epoch** at the pytorch/examples protocol (784-400-20, batch 128, Adam 1e-3, 60k images), "
            f"median of {args.repeats} rounds after a warm-up round; speed-up against the reference loop at "
            "the same precision. The matmul floor is the epoch's forward and backward matmul FLOP at the "
            "bf16 peak: at batch 128 a GPU step is bound by kernel launches and the host, not by its "
            "arithmetic.",
            table(["implementation", "precision", "s / epoch", "µs / step", "speed-up"], epochs),
            "**Importance-sampled log-likelihood** of a 784-400-20 VAE trained one epoch on the GPU "
            f"(`vaelab.core.importance.iw_log_likelihood`, K = {args.samples}). The decode batch's budget "
            f"is {DEVICE_MB:g} MB by default on a GPU and {CACHE_MB:g} MB on a CPU; the last row runs the "
            "CPU's on the GPU. TFLOP/s counts the decoder's matmuls only.",
            table(
                ["precision", "decode MB", "images", "K", "seconds", "s per 10k", "TFLOP/s", "NLL"],
                iw,
            ),
            verdict,
            "**The CLI end to end**, each a fresh process (imports, data loading and writing included):",
            table(["command", "wall s", "what it recorded"], cli),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("gpu", "(g) Items 2–4 on a GPU", body)


if __name__ == "__main__":
    main()
