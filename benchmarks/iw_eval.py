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
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    peak_text, peaks = _machine.peak_line(threads)
    splits = _machine.load_mnist()
    vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    fit(vae, splits.train, TrainConfig(epochs=1, precision="auto", threads=threads), progress=False)
    x = as_flat_tensor(splits.test, torch.device("cpu"))[: args.images]
    rows = []
    for prec in args.precisions.split(","):
        dtype = torch.bfloat16 if prec == "bf16" else None
        iw_log_likelihood(vae, x[:100], n_samples=100, autocast=dtype)  # warm-up
        with _machine.Timer() as t:
            est = iw_log_likelihood(
                vae,
                x,
                n_samples=args.samples,
                autocast=dtype,
                memory_mb=args.memory_mb,
                generator=torch.Generator().manual_seed(0),
            )
        gflop = flop_per_pair() * len(x) * args.samples / 1e9
        scale = 10_000 / len(x)
        rows.append(
            [
                prec,
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
    softplus_s = softplus_seconds_per_element(b * s) * 10_000 * args.samples * 784
    rows.append(["softplus floor (fp32)", 10_000, args.samples, f"{softplus_s:.0f}", "", "", "", "", ""])
    rows.append(
        [
            "**bf16 matmul + softplus floor**",
            10_000,
            args.samples,
            f"{gflop_10k / peaks['bf16']['wall'] + softplus_s:.0f}",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}",
            peak_text,
            "Model: 784-400-20 VAE after one training epoch on grey-level MNIST; data: the "
            "first test images. Work counted: the decoder's matmuls, 2·(20·400 + 400·784) "
            "FLOP per (image, sample) pair (the encoder and the log-densities come on top). "
            "Percentages are of the matmul peak of the same precision measured above. "
            f"Decode batches of {b} image(s) × {s} samples = {b * s} rows "
            f"(`--memory-mb {args.memory_mb:g}`). Floor rows: {gflop_10k:.0f} GFLOP of decoder "
            "matmuls for 10k images at the peak wall rate measured above; torch's fp32 softplus "
            f"alone over the {10_000 * args.samples * 784:.2g} logits, on one decode batch "
            "reused (best of 5).",
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
    )
    print(body)
    if not args.no_write:
        write_section("iw-eval", "(c) Importance-sampled evaluation, K = 5000", body)


if __name__ == "__main__":
    main()
