"""(a) Epoch time at the identical protocol: vaelab against the pytorch/examples loop.

784-400-20 VAE, Bernoulli (BCE) on grey-level MNIST, batch 128, Adam 1e-3, one
epoch of 60k images; fp32 and bf16 autocast. Every (implementation, precision)
trains one epoch per round and the rounds repeat, all in one process at the same
thread count, so the machine's slow and fast phases hit every configuration
alike. Reported: medians, and medians of the per-round ratios (wall and process
CPU seconds) against the reference at the same precision and against the
reference as written (fp32). With ``--compile`` vaelab with
``TrainConfig(compile=True)`` (torch.compile of the training forward) joins each
round; its compile time falls in the warm-up round, which is not counted.

With ``--floor`` each round also measures the bf16 step floor of
``benchmarks/epoch_floor.py`` (bf16 matmuls, fused Adam, weight casts, softplus and
sigmoid of the logits, each alone), so ``vaelab bf16 / floor`` is a ratio within one
round; the table reports its median. ``--breakdown`` then times one epoch of
vaelab's bf16 step by phase (data, forward, backward, optimizer) and splits
forward and backward into matmuls and the rest with torch.profiler.

    python benchmarks/epoch_time.py [--repeats 3] [--threads N] [--compile] [--floor] [--breakdown]
"""

from __future__ import annotations

import argparse
import statistics

import _machine
import epoch_floor
import reference_vae
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.models import VAE
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="epochs per (implementation, precision)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: vaelab's rule)")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--compile", action="store_true", help="also time vaelab with TrainConfig(compile=True)")
    p.add_argument("--floor", action="store_true", help="also measure the bf16 step floor in every round")
    p.add_argument("--breakdown", action="store_true", help="time vaelab's bf16 step by phase")
    p.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    peak_text, peaks = _machine.peak_line(threads)
    splits = _machine.load_mnist()
    precisions = args.precisions.split(",")
    configs = [("reference", prec, None) for prec in precisions]
    variants = {"vaelab": {}, "vaelab, autograd step": {"step": "autograd"}}  # name → TrainConfig fields
    if args.compile:
        variants["vaelab, torch.compile"] = {"compile": True}
    configs += [(name, prec, variants[name]) for prec in precisions for name in variants]
    state = {}
    for name, prec, _ in configs:  # each configuration keeps its model across rounds
        if name == "reference":
            state[name, prec] = reference_vae.make(splits.train, splits.test)[:3]
        else:
            state[name, prec] = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    times: dict[tuple[str, str], list[_machine.Timer]] = {c[:2]: [] for c in configs}
    floors: list[float] = []
    for rep in range(args.repeats + 1):  # the first round is a warm-up
        line = []
        for name, prec, fields in configs:
            with _machine.Timer() as t:
                if name == "reference":
                    model, opt, loader = state[name, prec]
                    reference_vae.train_epoch(model, opt, loader, autocast=prec == "bf16")
                else:
                    cfg = TrainConfig(epochs=1, batch_size=128, lr=1e-3, precision=prec, seed=rep, **fields)
                    fit(state[name, prec], splits.train, cfg, progress=False)
            line.append(f"{name} {prec} {t.wall:.2f}s")
            if rep > 0:
                times[name, prec].append(t)
        if args.floor:
            floor = sum(epoch_floor.PARTS[k]() for k in epoch_floor.STEP)
            line.append(f"bf16 step floor {floor:.2f}s")
            if rep > 0:
                floors.append(floor)
        print(f"round {rep}: " + " | ".join(line), flush=True)

    def ratio(base: tuple[str, str], key: tuple[str, str], attr: str) -> float:
        return statistics.median(
            getattr(r, attr) / getattr(v, attr) for r, v in zip(times[base], times[key], strict=True)
        )

    gflop = 234.0  # forward + backward matmul work of one epoch (see the issue)
    rows = []
    for (name, prec), ts in times.items():
        w = statistics.median(t.wall for t in ts)
        c = statistics.median(t.cpu for t in ts)
        same = as_written = ""
        if name != "reference":
            same = (
                f"{ratio(('reference', prec), (name, prec), 'wall'):.2f}× / "
                f"{ratio(('reference', prec), (name, prec), 'cpu'):.2f}×"
            )
            if ("reference", "fp32") in times:
                as_written = (
                    f"{ratio(('reference', 'fp32'), (name, prec), 'wall'):.2f}× / "
                    f"{ratio(('reference', 'fp32'), (name, prec), 'cpu'):.2f}×"
                )
                if (name, prec) == ("vaelab", "bf16"):
                    as_written = f"**{as_written}**"
        rows.append([prec, name, f"{w:.2f}", f"{c:.2f}", f"{gflop / c:.0f}", same, as_written])
    parts = []
    if floors and ("vaelab", "bf16") in times:
        per_round = [t.wall / f for t, f in zip(times["vaelab", "bf16"], floors, strict=True)]
        parts.append(
            f"bf16 step floor (`benchmarks/epoch_floor.py`'s four parts, measured in every round): median "
            f"{statistics.median(floors):.2f} s. **vaelab bf16 epoch / floor, median of per-round ratios: "
            f"{statistics.median(per_round):.2f}×** (rounds: {', '.join(f'{r:.2f}' for r in per_round)}; "
            "target: at most 1.25×)."
        )
    if args.breakdown:
        parts.append(breakdown(splits.train))
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}",
            peak_text,
            "Protocol: 784-400-20 VAE, Bernoulli on grey levels, batch 128, Adam 1e-3, one epoch of "
            f"60k MNIST images; {args.repeats} rounds after one warm-up round, each round one "
            "epoch of every configuration in turn; same thread count for all. GFLOP/s = 234 "
            "GFLOP per epoch / CPU s. Speed-ups are medians of per-round ratios; vaelab's "
            "default is bf16 (in bold: against the reference as pytorch/examples runs it).",
            table(
                [
                    "precision",
                    "implementation",
                    "wall s (median)",
                    "CPU s (median)",
                    "GFLOP/s per CPU s",
                    "speed-up vs reference, same precision: wall / CPU",
                    "speed-up vs reference fp32: wall / CPU",
                ],
                rows,
            ),
            *parts,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("epoch-time", "(a) Epoch time at the identical protocol", body)


def breakdown(train, steps: int = 469) -> str:
    """One epoch of each of vaelab's bf16 steps (autograd's and the fused one, as `fit` runs
    them) timed by phase; a markdown table."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    from vaelab.core.inference import as_flat_tensor
    from vaelab.training.fused import fused_step
    from vaelab.training.loop import _adam

    x = as_flat_tensor(train, torch.device("cpu"))
    perm = torch.randperm(len(x))
    mm_names = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul")
    columns: dict[str, dict[str, float]] = {}
    notes = []
    for kind in ("autograd", "fused"):
        vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
        cfg = TrainConfig(lr=1e-3, precision="bf16", step=kind)
        opt = _adam(vae, cfg, torch.device("cpu"))
        fused = fused_step(vae, cfg, torch.bfloat16) if kind == "fused" else None
        phases = {"data": 0.0, "forward + backward": 0.0, "optimizer": 0.0}
        grads = _grads(vae, opt, fused)
        for i in range(20 + steps):
            t0 = time.perf_counter()
            xb = x[perm[(i * 128) % len(x) :][:128]]
            t1 = time.perf_counter()
            grads(xb)
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if i >= 20:  # after a warm-up
                for k, a, b in (("data", t0, t1), ("forward + backward", t1, t2), ("optimizer", t2, t3)):
                    phases[k] += b - a
        xb = x[:128]
        with profile(activities=[ProfilerActivity.CPU]) as prof:  # forward + backward only
            for _ in range(50):
                grads(xb)
        events = prof.key_averages()
        mm = sum(e.self_cpu_time_total for e in events if e.key in mm_names)
        total = sum(e.self_cpu_time_total for e in events)
        calls = sum(e.count for e in events if e.key.startswith("aten::")) / 50
        mm_s = phases["forward + backward"] * mm / total if total else 0.0
        columns[kind] = {
            **phases,
            "forward + backward: matmuls (profiler share)": mm_s,
            "forward + backward: everything else (element-wise, casts, dispatch)": phases[
                "forward + backward"
            ]
            - mm_s,
            "**all**": sum(phases.values()),
        }
        notes.append(f"{kind}: {calls:.0f}")
    rows = [[k, *(f"{columns[c][k]:.3f}" for c in columns)] for k in columns["autograd"]]
    return (
        f"Breakdown of one epoch ({steps} steps) of each of vaelab's bf16 steps as `fit` runs them "
        "(autograd's: autocast forward and backward; the fused one of `vaelab.training.fused`; "
        "both with fused Adam), timed phase by phase with perf_counter; the matmul share of "
        "forward + backward is the self time of the matmul ops in torch.profiler over 50 more "
        "forward + backward passes (the profiler slows small ops, so the share is approximate). "
        f"aten operator calls per forward + backward (nested ones included): {', '.join(notes)}.\n\n"
        + table(["phase", "autograd step, s per epoch", "fused step, s per epoch"], rows)
    )


def _grads(vae, opt, fused):
    """A function of a batch that sets every gradient, with one of the two steps."""
    import torch

    def grads(xb: torch.Tensor) -> None:
        if fused is not None:
            fused(xb, 1.0)
            return
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = vae(xb)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()

    return grads


if __name__ == "__main__":
    main()
