"""(a) Epoch time at the identical protocol: vaelab against the pytorch/examples loop.

784-400-20 VAE, Bernoulli (BCE) on grey-level MNIST, batch 128, Adam 1e-3, one
epoch of 60k images; fp32 and bf16 autocast. Epochs of the two implementations
alternate in one process (ref, vaelab, ref, vaelab, ...) at the same thread
count, so load from other users hits both alike; we report medians and the
median of the per-pair ratios, in wall-clock and in process CPU seconds.

    python benchmarks/epoch_time.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics

import _machine
import reference_vae
from _report import command_line, table, write_section

from vaelab.models import VAE, ModelConfig
from vaelab.train import TrainConfig, fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="epochs per (implementation, precision)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: vaelab's rule)")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    peak_text, peaks = _machine.peak_line(threads)
    splits = _machine.load_mnist()
    rows, summary = [], {}
    for prec in args.precisions.split(","):
        ref_model, ref_opt, ref_loader, _ = reference_vae.make(splits.train, splits.test)
        vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
        times: dict[str, list[_machine.Timer]] = {"reference": [], "vaelab": []}
        for rep in range(args.repeats + 1):  # the first pair is a warm-up
            with _machine.Timer() as t_ref:
                reference_vae.train_epoch(ref_model, ref_opt, ref_loader, autocast=prec == "bf16")
            cfg = TrainConfig(epochs=1, batch_size=128, lr=1e-3, precision=prec, seed=rep)
            with _machine.Timer() as t_vl:
                fit(vae, splits.train, cfg, progress=False)
            print(f"{prec} rep {rep}: reference {t_ref.wall:.2f}s wall {t_ref.cpu:.2f}s cpu | "
                  f"vaelab {t_vl.wall:.2f}s wall {t_vl.cpu:.2f}s cpu", flush=True)
            if rep > 0:
                times["reference"].append(t_ref)
                times["vaelab"].append(t_vl)
        ratio_wall = statistics.median(r.wall / v.wall for r, v in zip(*times.values(), strict=True))
        ratio_cpu = statistics.median(r.cpu / v.cpu for r, v in zip(*times.values(), strict=True))
        med = {k: (statistics.median(t.wall for t in ts), statistics.median(t.cpu for t in ts))
               for k, ts in times.items()}
        gflop = 234.0  # forward + backward matmul work of one epoch (see the issue)
        summary[prec] = ratio_wall
        for name in ("reference", "vaelab"):
            w, c = med[name]
            rows.append([prec, name, f"{w:.2f}", f"{c:.2f}", f"{gflop / c:.0f}",
                         f"{ratio_wall:.2f}× / {ratio_cpu:.2f}×" if name == "vaelab" else ""])
    body = "\n\n".join([
        f"Command: `{command_line()}`",
        f"Machine: {_machine.machine_line(info)}",
        peak_text,
        "Protocol: 784-400-20 VAE, Bernoulli on grey levels, batch 128, Adam 1e-3, one epoch of "
        f"60k MNIST images; {args.repeats} epochs per cell after one warm-up pair, reference and "
        "vaelab alternating; same thread count for both. GFLOP/s = 234 GFLOP per epoch / CPU s.",
        table(["precision", "implementation", "wall s (median)", "CPU s (median)",
               "GFLOP/s per CPU s", "speed-up: median ratio wall / CPU"], rows),
    ])
    print(body)
    if not args.no_write:
        write_section("epoch-time", "(a) Epoch time at the identical protocol", body)


if __name__ == "__main__":
    main()
