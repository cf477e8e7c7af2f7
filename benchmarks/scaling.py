"""(d) Scaling: epoch time and peak memory against dataset size and against width.

Synthetic data in [0, 1] (D features), a VAE with one hidden layer, batch 256,
fp32. Each point runs in a fresh process, so the peak resident memory it
reports is its own: "extra peak" is the peak RSS during `fit` above the RSS
once the data is in memory, i.e. what training costs beyond holding the data.
Time per epoch is the median of the epochs after the first.

    python benchmarks/scaling.py [--features 64] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import _machine
from _report import command_line, table, write_section

SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
WIDTHS = (64, 128, 256, 512, 1024)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_point(n: int, width: int, features: int, epochs: int, threads: int | None) -> dict:
    """Train on n synthetic samples in this process; epoch seconds and memory."""
    import statistics

    import numpy as np
    import torch

    from vaelab.core.config import ModelConfig
    from vaelab.core.models import VAE
    from vaelab.data import Dataset
    from vaelab.training.config import TrainConfig
    from vaelab.training.loop import fit

    x = np.random.default_rng(0).random((n, features), dtype=np.float32)
    ds = Dataset(x, None, (features,), "unit")
    vae = VAE(ModelConfig(input_shape=(features,), latent_dim=8, hidden=(width,)))
    vae(torch.from_numpy(x[:256]))  # allocator warm-up before the baseline
    base = _rss_mb()
    hist = fit(
        vae, ds, TrainConfig(epochs=epochs, batch_size=256, precision="fp32", threads=threads), progress=False
    )
    return {
        "n": n,
        "width": width,
        "seconds": statistics.median(hist.seconds[1:]),
        "data_mb": x.nbytes / 2**20,
        "base_mb": base,
        "extra_peak_mb": _rss_mb() - base,
    }


def run_point(n: int, width: int, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        str(n),
        str(width),
        "--features",
        str(args.features),
        "--epochs",
        str(args.epochs),
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print(r, flush=True)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--one", nargs=2, type=int, metavar=("N", "WIDTH"), help=argparse.SUPPRESS)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    if args.one:
        print(json.dumps(one_point(*args.one, args.features, args.epochs, args.threads)))
        return
    info = _machine.machine()
    by_size = [run_point(n, 256, args) for n in SIZES]
    by_width = [run_point(100_000, w, args) for w in WIDTHS]
    size_rows = [
        [
            f"{r['n']:,}",
            f"{r['seconds']:.2f}",
            f"{1e6 * r['seconds'] / r['n']:.1f}",
            f"{r['data_mb']:.0f}",
            f"{r['extra_peak_mb']:.0f}",
        ]
        for r in by_size
    ]
    width_rows = [
        [
            r["width"],
            f"{r['seconds']:.2f}",
            f"{r['seconds'] / by_width[0]['seconds']:.2f}",
            f"{r['extra_peak_mb']:.0f}",
        ]
        for r in by_width
    ]
    per = [r["seconds"] / r["n"] for r in by_size]
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}",
            f"Synthetic uniform data, D = {args.features}, VAE {args.features}-W-8, batch 256, "
            "fp32, thread count by vaelab's default rule; one fresh process per point; median "
            f"epoch time over epochs 2..{args.epochs}. Extra peak = peak RSS during fit minus RSS "
            "with the data loaded.",
            "Against dataset size (W = 256):",
            table(["samples", "s / epoch", "µs / sample", "data MB", "extra peak MB"], size_rows),
            f"µs per sample ranges {1e6 * min(per):.1f}–{1e6 * max(per):.1f} over a 100× range of "
            "sizes (linear time means a flat column).",
            "Against width (100,000 samples):",
            table(["width W", "s / epoch", "× of W=64", "extra peak MB"], width_rows),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("scaling", "(d) Scaling with dataset size and width", body)


if __name__ == "__main__":
    main()
