"""Micro-benchmarks behind the training engine's choices (threads, batches, binarization, BCE).

Each row is a median over alternating repeats in one process, CPU and wall time:

- threads: training steps of the 784-400-20 VAE at 1 thread and at all physical
  cores (the choice `vaelab.training.threads.default_num_threads` makes from the load);
- batch gathering for one 60k × 784 epoch at batch 128: fancy indexing,
  `index_select` into a preallocated buffer, contiguous slices of a permuted copy;
- dynamic binarization: `torch.bernoulli` against comparing with uniform draws;
- the Bernoulli log-likelihood: BCE-with-logits against x·l − softplus(l).

    python benchmarks/engine_micro.py [--steps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics

import _machine
import torch
import torch.nn.functional as F
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.models import VAE


def _steps(x: torch.Tensor, steps: int, threads: int, bf16: bool) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    opt = torch.optim.Adam(m.parameters(), 1e-3, fused=True)
    for s in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = m(x[s * 128 : (s + 1) * 128])
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()


def _gather(x: torch.Tensor, how: str) -> None:
    n, bs = len(x), 128
    perm = torch.randperm(n)
    if how == "fancy index x[perm[i:j]]":
        for s in range(0, n, bs):
            x[perm[s : s + bs]]
    elif how == "index_select into a buffer":
        buf = torch.empty(bs, x.shape[1])
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            torch.index_select(x, 0, idx, out=buf[: len(idx)])
    else:
        xp = x[perm]
        for s in range(0, n, bs):
            xp[s : s + bs]


def _binarize(x: torch.Tensor, how: str) -> None:
    g = torch.Generator().manual_seed(0)
    for s in range(0, len(x), 128):
        xb = x[s : s + 128]
        if how == "torch.bernoulli":
            torch.bernoulli(xb, generator=g)
        else:
            (torch.rand(xb.shape, generator=g) < xb).to(xb.dtype)


def _log_prob(p: torch.Tensor, x: torch.Tensor, how: str) -> None:
    with torch.inference_mode():
        if how == "BCE with logits":
            -F.binary_cross_entropy_with_logits(p, x.expand_as(p), reduction="none").sum(-1)
        else:
            torch.linalg.vecdot(p, x) - F.softplus(p).sum(-1)


def _median_times(cases: dict, repeats: int) -> dict:
    times = {k: [] for k in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            with _machine.Timer() as t:
                fn()
            times[name].append(t)
    return {
        k: (statistics.median(t.wall for t in ts), statistics.median(t.cpu for t in ts))
        for k, ts in times.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="training steps per thread timing")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    info = _machine.machine()
    cores = _machine.physical_cores()
    x = torch.rand(60_000, 784, generator=torch.Generator().manual_seed(0))
    per_epoch = 469 / args.steps
    thread_cases = {
        f"{t} thread(s), {'bf16' if bf else 'fp32'}": (lambda t=t, bf=bf: _steps(x, args.steps, t, bf))
        for t in sorted({1, cores})
        for bf in (False, True)
    }
    rows = [
        ["training epoch (extrapolated from steps)", k, f"{w * per_epoch:.2f}", f"{c * per_epoch:.2f}"]
        for k, (w, c) in _median_times(thread_cases, args.repeats).items()
    ]
    torch.set_num_threads(1)
    gathers = ("fancy index x[perm[i:j]]", "index_select into a buffer", "slices of a permuted copy")
    rows += [
        ["batch gathering, one epoch", k, f"{w:.3f}", f"{c:.3f}"]
        for k, (w, c) in _median_times(
            {h: (lambda h=h: _gather(x, h)) for h in gathers}, args.repeats
        ).items()
    ]
    rows += [
        ["dynamic binarization, one epoch", k, f"{w:.3f}", f"{c:.3f}"]
        for k, (w, c) in _median_times(
            {h: (lambda h=h: _binarize(x, h)) for h in ("torch.bernoulli", "rand() < x")}, args.repeats
        ).items()
    ]
    logits = torch.randn(500, 100, 784)
    xb = torch.bernoulli(torch.full((100, 784), 0.2))
    rows += [
        ["Bernoulli log p(x|z), 500 × 100 × 784", k, f"{w:.3f}", f"{c:.3f}"]
        for k, (w, c) in _median_times(
            {h: (lambda h=h: _log_prob(logits, xb, h)) for h in ("BCE with logits", "x·l − softplus(l)")},
            args.repeats,
        ).items()
    ]
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}",
            f"Medians of {args.repeats} alternating repeats; seconds. Thread rows time "
            f"{args.steps} steps of the 784-400-20 VAE at batch 128 and scale to a 469-step epoch.",
            table(["what", "variant", "wall s", "CPU s"], rows),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("engine-micro", "Engine choices: micro-benchmarks", body)


if __name__ == "__main__":
    main()
