"""The explainer's lesson on real data: each section's effect, its size, and its time.

Runs `vaelab explain` (the library call, at a preset) on digits, MNIST,
Fashion-MNIST, a non-square real-valued set made from Fashion-MNIST (the
middle 20 columns: 28×20) and a table (scikit-learn's wine, written as a CSV
with a label column), and writes to EXPERIMENTS.md, for every dataset and
section, the effect the page states, its size, and whether the page had to say
that the effect did not show. Stage times go to BENCHMARKS.md.

    python benchmarks/explain_matrix.py [--preset default] [--data-root ../shared/data]
        [--only digits,mnist,fashion-mnist,fashion-crop,wine]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _machine
import numpy as np
from _report import ROOT, command_line, table, write_section

from vaelab.data import load_dataset
from vaelab.report.explain import ExplainConfig, run_explain
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._sections import build_sections
from vaelab.report.explain._text import sample_score

EXPERIMENTS_MD = ROOT / "EXPERIMENTS.md"
# the page's own words when an effect did not show (vaelab.report.explain._text)
NOT_SHOWN = re.compile(
    r"did not (clearly )?show|did not come back|did not beat|did not fit|did worse|weak anomaly"
    r"|no clear difference"
)


def _score(smp) -> float:
    s = sample_score(smp)
    return float("nan") if s is None else s


def _effects(r: ExplainReport) -> dict[str, str]:
    """Each section's central effect and its size, from the report's numbers."""
    rc = r.representation_contrast
    cm = r.curse.concentration
    large = r.holes_large
    ae_l, vae_l = large.by_name("AE"), large.by_name("VAE")
    pts = sorted(r.sweep.points, key=lambda p: p.beta)
    one = next(p for p in pts if p.beta == 1.0)
    lo, hi = pts[0], pts[-1]
    nl = r.linear.nonlinear
    knn = {k: m.knn_accuracy[0] for k, m in r.compare.methods.items() if m.available}
    pca2 = r.pca.squared_error.get("2", float("nan"))
    return {
        "curse": (
            f"relative contrast {cm.contrast_mean[0]:.3g} at d={cm.dims[0]} → "
            f"{cm.contrast_mean[-1]:.3g} at d={cm.dims[-1]}; on the data: raw "
            f"{rc.contrast_mean[0]:.3g}, {rc.names[-1]} {rc.contrast_mean[-1]:.3g}"
        ),
        "reduce": f"k for 90% variance: {r.pca.k_for_90} of {r.pca.n_features}",
        "autoencoder": (
            f"2-D test MSE: AE {r.two_d.ae.squared_error:.3g} vs PCA {pca2:.3g} "
            f"({100 * (r.two_d.ae.squared_error - pca2) / pca2:+.1f}%)"
        ),
        "holes": (
            f"{ae_l.latent_dim}-D prior samples, min(P, R): AE {_score(ae_l.samplers['prior']):.2f} vs "
            f"VAE {_score(vae_l.samplers['prior']):.2f} (AE + mixture {_score(ae_l.samplers['gmm']):.2f})"
        ),
        "vae": (
            f"KL of 2-D codes to N(0, I): AE {r.holes.by_name('AE').mismatch.gaussian_kl:.3g} vs "
            f"VAE {r.holes.by_name('VAE').mismatch.gaussian_kl:.3g} nats"
        ),
        "objective": (
            f"gap log p(x) − ELBO {r.objective.gap:.3g} nats; Gaussian VAE − pPCA "
            f"{nl.gain_over_ppca:+.1f} nats (± {nl.log_likelihood_se:.2g}); active units "
            f"{r.objective.active_units.n_active}/{r.objective.latent_dim}"
        ),
        "balance": (
            f"β={lo.beta:g}: min(P,R) {_score(lo):.2f}, β=1: {_score(one):.2f}; β={hi.beta:g}: "
            f"{hi.active_units} active units, output spread {hi.output_spread:.2g}"
        ),
        "generation": f"{r.generation.grid_size}×{r.generation.grid_size} grid (no effect to measure)",
        "result": (
            f"kNN: VAE {knn.get('vae', float('nan')):.3f}, PCA {knn.get('pca', float('nan')):.3f}; "
            f"typicality: {100 * r.typicality.shuffled_below_threshold:.1f}% of shuffled flagged"
        ),
    }


def _crop(data_root: Path, out: Path) -> Path:
    """Fashion-MNIST's middle 20 columns: a 28×20 real-valued grey image set."""
    s = load_dataset("fashion-mnist", data_dir=str(data_root / "fashion_mnist"))
    path = out / "fashion_crop_28x20.npz"
    np.savez(
        path,
        x_train=s.train.x[:, 0, :, 4:24],
        y_train=s.train.y,
        x_test=s.test.x[:, 0, :, 4:24],
        y_test=s.test.y,
    )
    return path


def _wine_csv(out: Path) -> Path:
    """scikit-learn's wine measurements as a CSV table, the cultivar in a column named label."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    path = out / "wine.csv"
    header = ",".join([*(n.replace("/", "_") for n in wine.feature_names), "label"])
    np.savetxt(path, np.column_stack([wine.data, wine.target]), delimiter=",", header=header, comments="")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default", choices=["quick", "default", "full"])
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--only", default="digits,mnist,fashion-mnist,fashion-crop,wine")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    root = Path(args.data_root)
    tmp = Path(tempfile.mkdtemp(prefix="vaelab-matrix-"))
    cases: dict[str, Callable[[], ExplainConfig]] = {
        "digits": lambda: ExplainConfig(preset=args.preset),
        "mnist": lambda: ExplainConfig("mnist", str(root / "mnist"), preset=args.preset),
        "fashion-mnist": lambda: ExplainConfig(
            "fashion-mnist", str(root / "fashion_mnist"), preset=args.preset
        ),
        "fashion-crop": lambda: ExplainConfig(str(_crop(root, tmp)), preset=args.preset),
        "wine": lambda: ExplainConfig(str(_wine_csv(tmp)), label_column="label", preset=args.preset),
    }
    machine = _machine.machine_line()  # the date and load at the start, before any run
    effect_rows: list[list] = []
    time_rows: list[tuple] = []
    stages: list[str] = []
    for name in args.only.split(","):
        first = len(effect_rows)
        cfg = cases[name]()
        t0 = time.perf_counter()
        report = run_explain(
            cfg, on_stage=lambda stage, msg, n=name: print(f"[{n}] {stage}: {msg}", flush=True)
        )
        wall = time.perf_counter() - t0
        effects = _effects(report)
        for sec in build_sections(report):
            words = " ".join(sec.measure)
            fallback = [m.group(0) for m in NOT_SHOWN.finditer(words)]
            effect_rows.append([name, sec.id, effects.get(sec.id, ""), "; ".join(fallback) or "—"])
        time_rows.append((name, report.data.n_train, wall, report.timings))
        for k in report.timings:  # every stage any dataset ran, in the order they ran
            if k != "total" and k not in stages:
                stages.append(k)
        print(table(["data", "section", "effect and size", "page says not shown"], effect_rows[first:]))
    body = (
        f"`{command_line()}` on {machine}.\n\n"
        "Each section's central effect as the page states it, its size, and the words the page used "
        "where an effect did not show (— : none).\n\n"
        + table(["data", "section", "effect and size", "page says not shown"], effect_rows)
    )
    rows = [
        [name, n, f"{wall:.0f}", *(f"{t[k]:.0f}" if k in t else "—" for k in stages)]
        for name, n, wall, t in time_rows
    ]
    timing = f"`{command_line()}` on {machine}. Seconds per stage (— : the stage did not run).\n\n" + table(
        ["data", "n train", "total s", *stages], rows
    )
    print(body)
    print(timing)
    if not args.no_write:
        write_section(
            f"explain-matrix-{args.preset}",
            f"The lesson on real data ({args.preset} preset)",
            body,
            EXPERIMENTS_MD,
        )
        write_section(
            f"explain-time-{args.preset}", f"vaelab explain, stage by stage ({args.preset} preset)", timing
        )


if __name__ == "__main__":
    main()
