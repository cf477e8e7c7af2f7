"""The matmul floor of one epoch at the identical protocol of (a).

One training epoch of the pytorch/examples VAE (784-400-20, batch 128, 60k images,
469 steps) multiplies the same matrices whatever the implementation: per step, four
forward matmuls, four weight gradients and three input gradients (the first layer
needs none). This benchmark runs exactly those eleven matmuls per step, on
preallocated tensors with ``out=``, and nothing else: no activations, no loss, no
optimizer, no data. Its time is a lower bound on any epoch that uses torch's CPU
matmul kernels, so ``reference epoch time / floor`` bounds the speed-up any
implementation can reach over the reference at this protocol on this machine.

    python benchmarks/epoch_floor.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics

import _machine
import torch
from _report import command_line, table, write_section

D, H, Z, BATCH, N = 784, 400, 20, 128, 60_000


def shapes(batch: int = BATCH) -> list[tuple[int, int, int]]:
    """(m, k, n) of each matmul of one training step: A (m×k) @ B (k×n)."""
    layers = [(D, H), (H, 2 * Z), (Z, H), (H, D)]  # encoder: 784→400→(μ, log σ²); decoder
    fwd = [(batch, i, o) for i, o in layers]
    grad_w = [(o, batch, i) for i, o in layers]  # dL/dW = gradᵀ @ input
    grad_x = [(batch, o, i) for i, o in layers[1:]]  # dL/dinput = grad @ W; not for x itself
    return fwd + grad_w + grad_x


def flop_per_epoch(batch: int = BATCH, n: int = N) -> float:
    steps = -(-n // batch)
    return steps * sum(2 * m * k * nn for m, k, nn in shapes(batch))


def epoch_floor(dtype: torch.dtype, batch: int = BATCH, n: int = N) -> float:
    """Seconds for one epoch's matmuls alone (wall)."""
    ops = []
    for m, k, nn in shapes(batch):
        ops.append((torch.randn(m, k).to(dtype), torch.randn(k, nn).to(dtype),
                    torch.empty(m, nn, dtype=dtype)))
    steps = -(-n // batch)
    for a, b, c in ops:  # warm-up
        torch.mm(a, b, out=c)
    with _machine.Timer() as t:
        for _ in range(steps):
            for a, b, c in ops:
                torch.mm(a, b, out=c)
    return t.wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--reference-seconds", type=float, default=None,
                   help="reference epoch time to compare with (default: the fp32 reference "
                        "row of section (a) is not read; pass it, e.g. 3.08)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    peak_text, peaks = _machine.peak_line(threads)
    gflop = flop_per_epoch() / 1e9
    rows = []
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        times = [epoch_floor(dtype) for _ in range(args.repeats)]
        floor = statistics.median(times)
        row = [name, f"{floor:.3f}", f"{min(times):.3f}", f"{gflop / floor:.0f}",
               f"{100 * gflop / floor / peaks[name]['wall']:.0f}%"]
        if args.reference_seconds:
            row.append(f"{args.reference_seconds / min(times):.2f}×")
        rows.append(row)
        print(row, flush=True)
    header = ["precision", "floor s (median)", "floor s (best)", "GFLOP/s",
              "% of the 2048² peak"]
    if args.reference_seconds:
        header.append(f"largest possible speed-up over a {args.reference_seconds} s epoch")
    body = "\n\n".join([
        f"Command: `{command_line()}`",
        f"Machine: {_machine.machine_line(info)}",
        peak_text,
        f"Work: one epoch of 784-400-20 at batch {BATCH} over {N // 1000}k images, "
        f"{-(-N // BATCH)} steps × 11 matmuls = {gflop:.0f} GFLOP; each matmul on "
        f"preallocated tensors with `out=`, nothing else, {args.repeats} repeats.",
        table(header, rows),
    ])
    print(body)
    if not args.no_write:
        write_section("epoch-floor", "(a) The matmul floor of one epoch", body)


if __name__ == "__main__":
    main()
