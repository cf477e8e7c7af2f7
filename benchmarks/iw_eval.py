"""(c) Importance-sampled evaluation: K = 5000 over the MNIST test images.

Times `vaelab.core.importance.iw_log_likelihood` on a 784-400-20 VAE (trained for one
epoch first, so the weights are realistic) and reports the achieved GFLOP/s of
its matmul work against the matmul peak measured in the same run. With
``--images`` below 10000 the 10k time is extrapolated linearly (the work is
exactly linear in images × K), and the table says so.

The decode batch is `vaelab.core.importance.chunk_sizes`'s cache-sized default unless
``--memory-mb`` sets another budget (``--memory-mb 512`` is the earlier default of
tens of thousands of rows per batch). The matmul floor rows are the decoder matmul
work at 100% of the peak measured in the same run: no implementation on torch's
kernels beats them. The Bernoulli log-density adds one softplus per logit (K × images × 784 of
them, 3.9·10¹⁰ at K = 5000 over 10k images) that no implementation avoids either:
the "softplus" floor times torch's fp32 softplus alone on a preallocated decode
batch, and the last row adds it to the bf16 matmul floor.

The importance sampler compiles its decode step (`torch.compile`: the layers, the
Bernoulli log-density with one logarithm per 49 pixels, and the log weight, fused
around the matmuls) on jobs of this size; ``--compile off`` times the eager path.
With the compiled step, as many workers as torch has threads share the images, each
running the step single-threaded; ``--workers 1,auto`` times one worker (all threads
inside each operation, as before) against that default in the same run.
A "shape floor" row times the decoder's bf16 400 → 784 matmul alone at the decode
batch's own shape, the same number of times, in the same run. With both precisions
the table ends with the bf16 − fp32 difference of the NLL over the same images and
draws, and the verdict of `vaelab.evaluate.check_bf16` (the self-check that
``vaelab evaluate --iw-precision auto`` runs on 256 images × K = 500) on this model.

    python benchmarks/iw_eval.py [--images 10000] [--samples 5000] [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse

import _machine
import torch
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.importance import CACHE_MB, chunk_sizes, iw_log_likelihood
from vaelab.core.inference import as_flat_tensor
from vaelab.core.models import VAE
from vaelab.evaluate import check_bf16
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def flop_per_pair(d: int = 784, h: int = 400, z: int = 20) -> float:
    """Forward FLOP of decoding one (image, sample) pair: 2·(z·h + h·d)."""
    return 2.0 * (z * h + h * d)


def softplus_seconds_per_element(rows: int, d: int = 784, repeats: int = 50) -> float:
    """Wall seconds per element of torch's fp32 softplus on a (rows, d) batch, out= reused."""
    logits = torch.randn(rows, d) * 4 - 3
    out = torch.empty_like(logits)
    torch.nn.functional.softplus(logits)  # warm-up
    best = float("inf")
    for _ in range(5):
        with _machine.Timer() as t:
            for _ in range(repeats):
                torch.ops.aten.softplus.out(logits, 1, 20, out=out)
        best = min(best, t.wall)
    return best / (repeats * rows * d)


def shape_floor_seconds(vae: VAE, rows: int, pairs: int) -> float:
    """Wall seconds of the decoder's last matmul in bf16 alone, at ``rows`` per batch, over ``pairs`` rows."""
    w = vae.decoder[-1].weight.detach().bfloat16()  # (784, 400)
    h = torch.randn(rows, w.shape[1]).relu().bfloat16()
    out = torch.empty(rows, w.shape[0], dtype=torch.bfloat16)
    torch.mm(h, w.t(), out=out)
    with _machine.Timer() as t:
        for _ in range(max(1, pairs // rows)):
            torch.mm(h, w.t(), out=out)
    return t.wall * pairs / (max(1, pairs // rows) * rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--memory-mb",
        type=float,
        default=CACHE_MB,
        help="activation budget of one decode batch (default: cache-sized)",
    )
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    p.add_argument(
        "--workers", default="auto", help="comma-separated worker counts to time, 'auto' for the default"
    )
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    peak_text, peaks = _machine.peak_line(threads)
    splits = _machine.load_mnist()
    vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    fit(vae, splits.train, TrainConfig(epochs=1, precision="auto", threads=threads), progress=False)
    x = as_flat_tensor(splits.test, torch.device("cpu"))[: args.images]
    compile_ = {"auto": None, "on": True, "off": False}[args.compile]
    rows, nll = [], {}
    worker_counts = [None if w == "auto" else int(w) for w in args.workers.split(",")]
    by_workers: dict[tuple[str, int | None], float] = {}  # (precision, workers; None: default) → wall s
    for prec, workers in [(p, w) for p in args.precisions.split(",") for w in worker_counts]:
        dtype = torch.bfloat16 if prec == "bf16" else None
        with _machine.Timer() as warm:  # warm-up: compiles the decode step for this precision
            iw_log_likelihood(
                vae,
                x[:2],
                n_samples=args.samples,
                autocast=dtype,
                compile=compile_ is not False,
                workers=workers,
            )
        print(f"{prec}, workers {workers or 'auto'}: warm-up (compiling) {warm.wall:.1f} s", flush=True)
        with _machine.Timer() as t:
            est = iw_log_likelihood(
                vae,
                x,
                n_samples=args.samples,
                autocast=dtype,
                memory_mb=args.memory_mb,
                generator=torch.Generator().manual_seed(0),
                compile=compile_,
                workers=workers,
            )
        by_workers[prec, workers] = t.wall
        if workers is None:
            nll[prec] = -est.log_likelihood
        gflop = flop_per_pair() * len(x) * args.samples / 1e9
        scale = 10_000 / len(x)
        rows.append(
            [
                prec if workers is None else f"{prec}, {workers} worker(s)",
                len(x),
                args.samples,
                f"{t.wall:.1f}",
                f"{t.cpu:.1f}",
                f"{t.wall * scale:.0f}" + ("" if scale == 1 else " (extrapolated)"),
                f"{gflop / t.wall:.0f} ({100 * gflop / t.wall / peaks[prec]['wall']:.0f}%)",
                f"{gflop / t.cpu:.0f} ({100 * gflop / t.cpu / peaks[prec]['cpu']:.0f}%)",
                f"{-est.mean:.3f}",
            ]
        )
        print(rows[-1], flush=True)
    gflop_10k = flop_per_pair() * 10_000 * args.samples / 1e9
    for prec in args.precisions.split(","):
        rows.append(
            [
                f"{prec} matmul floor",
                10_000,
                args.samples,
                f"{gflop_10k / peaks[prec]['wall']:.0f}",
                "",
                "",
                "100% of peak",
                "",
                "",
            ]
        )
    b, s = chunk_sizes(len(x), args.samples, 784 + 2 * 400 + 20, args.memory_mb)
    shape_s = shape_floor_seconds(vae, b * s, len(x) * args.samples) * 10_000 / len(x)
    rows.append(
        [
            f"bf16 400→784 matmul alone, {b * s} rows (shape floor)",
            10_000,
            args.samples,
            f"{shape_s:.0f}",
            "",
            "",
            f"{gflop_10k / shape_s:.0f} ({100 * gflop_10k / shape_s / peaks['bf16']['wall']:.0f}%)",
            "",
            "",
        ]
    )
    softplus_s = softplus_seconds_per_element(b * s) * 10_000 * args.samples * 784
    rows.append(
        ["torch softplus (fp32, eager) alone", 10_000, args.samples, f"{softplus_s:.0f}", "", "", "", "", ""]
    )
    verdict = ""
    if {"fp32", "bf16"} <= nll.keys():
        diff = nll["bf16"] - nll["fp32"]
        x_chk = x if len(x) >= 256 else x.repeat(256 // len(x) + 1, 1)
        chk = check_bf16(vae, x_chk, n_samples=min(args.samples, 500))
        verdict = (
            f"bf16 − fp32 NLL over the same {len(x)} images and draws: **{diff.mean():+.4f} nats** "
            f"(± {diff.std(ddof=1) / len(diff) ** 0.5:.4f} over images; criterion: at most 0.01 in size: "
            f"{'met' if abs(diff.mean()) <= 0.01 else 'NOT met'}). The self-check of "
            f"`vaelab evaluate --iw-precision auto` on this model ({chk.n_examples} images × "
            f"K = {chk.n_samples}, {chk.seconds:.1f} s): {chk.difference:+.4f} ± {chk.standard_error:.4f} "
            f"nats, {'passed' if chk.passed else 'failed'}. Time ratios in this run: bf16 evaluation / "
            f"shape floor = {by_workers['bf16', None] / (shape_s * len(x) / 10_000):.2f}; bf16 evaluation / "
            f"fp32 evaluation = {by_workers['bf16', None] / by_workers['fp32', None]:.2f}."
        )
    for prec in args.precisions.split(","):
        if (prec, 1) in by_workers and (prec, None) in by_workers:
            verdict += (
                f" {prec}: one worker / the default ({threads} worker(s)) = "
                f"{by_workers[prec, 1] / by_workers[prec, None]:.2f} in this run."
            )
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}",
            peak_text,
            f"Decode step: {'compiled' if args.compile != 'off' else 'eager'} (`--compile {args.compile}`); "
            f"rows without a worker count ran the default: {threads} worker(s) of one thread each where "
            "the step is compiled.",
            "Model: 784-400-20 VAE after one training epoch on grey-level MNIST; data: the "
            "first test images. Work counted: the decoder's matmuls, 2·(20·400 + 400·784) "
            "FLOP per (image, sample) pair (the encoder and the log-densities come on top). "
            "Percentages are of the matmul peak of the same precision measured above. "
            f"Decode batches of {b} image(s) × {s} samples = {b * s} rows "
            f"(`--memory-mb {args.memory_mb:g}`). Floor rows: {gflop_10k:.0f} GFLOP of decoder "
            "matmuls for 10k images at the peak wall rate measured above; the same matmuls timed "
            "at the decode batch's shape (shape floor); torch's eager fp32 softplus alone over the "
            f"{10_000 * args.samples * 784:.2g} logits, on one decode batch reused (best of 5), "
            "which the fused log-density no longer calls.",
            table(
                [
                    "precision",
                    "images",
                    "K",
                    "wall s",
                    "CPU s",
                    "wall s for 10k images",
                    "GFLOP/s wall (% of peak)",
                    "GFLOP per CPU s (% of peak)",
                    "NLL (nats)",
                ],
                rows,
            ),
        ]
        + ([verdict] if verdict else [])
    )
    print(body)
    if not args.no_write:
        write_section("iw-eval", "(c) Importance-sampled evaluation, K = 5000", body)


if __name__ == "__main__":
    main()
