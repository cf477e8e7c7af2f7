"""Can an autoencoder's codes be sampled? AE against VAE at latent sizes 2, 8 and 16.

For each latent size, trains an AE and a VAE (same MLP, Bernoulli decoder) on a
seeded subset of the training data, then scores four samplers with
`vaelab.experiments.holes.compare_holes`: the AE's decoder on N(0, I) draws
("prior"), on a full-covariance Gaussian fitted to its codes ("gaussian"), on
a 10-component GaussianMixture fitted to them ("gmm"), and the VAE's decoder on
its prior draws. Prints, per (model, sampler), improved precision and recall
(Kynkäänniemi et al. 2019, k = 3, PCA-64 features of the real training data;
against real data, and against the model's own reconstructions), the share of
the codes far from every training code, the classifier's confidence; and per
model the gap share of prior draws. With --sweep it also runs
`vaelab.experiments.sweep.sweep_beta` and prints both ends.

Usage:
    .venv/bin/python benchmarks/holes_dims.py --data mnist --max-train 10000 --epochs 30
    .venv/bin/python benchmarks/holes_dims.py --data digits --epochs 60
    .venv/bin/python benchmarks/holes_dims.py --data mnist --sweep-only --betas 0,0.1,0.3,1,3,10,30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vaelab.core.config import ModelConfig
from vaelab.core.inference import seeded_subset
from vaelab.core.models import build_model
from vaelab.data import load_dataset
from vaelab.experiments.fidelity import FeatureSpace
from vaelab.experiments.holes import compare_holes, fit_classifier
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}"


def holes_dims(train, test, dims, hidden, epochs, n_samples, seed, classifier, features) -> list[dict]:
    rows = []
    for z in dims:
        models = {}
        for kind in ("ae", "vae"):
            cfg = ModelConfig(
                kind=kind, input_shape=train.sample_shape, latent_dim=z, hidden=hidden, likelihood="bernoulli"
            )
            net = build_model(cfg, seed=seed)
            t = time.perf_counter()
            fit(net, train, TrainConfig(epochs=epochs, batch_size=128, seed=seed), progress=False)
            print(f"latent {z}: trained {kind} in {time.perf_counter() - t:.1f}s", flush=True)
            models[kind.upper()] = net.eval()
        t = time.perf_counter()
        res = compare_holes(
            models, train, test, classifier=classifier, features=features, n_samples=n_samples, seed=seed
        )
        print(f"latent {z}: measured in {time.perf_counter() - t:.1f}s", flush=True)
        print(
            f"  real test vs train: precision {_fmt(res.test_precision)} recall {_fmt(res.test_recall)}; "
            f"classifier accuracy {_fmt(res.classifier_accuracy)}, confidence {_fmt(res.test_confidence)}"
        )
        for m in res.models:
            mm = m.mismatch
            print(
                f"  {m.name}: gap share {_fmt(mm.gap_fraction)} (draw/code NN ratio "
                f"{_fmt(mm.draw_distance_ratio)}), far99 {_fmt(mm.far_fraction)}, uncovered "
                f"{_fmt(mm.uncovered_fraction)}, codeKL {mm.gaussian_kl:.2f}; reconstructions P "
                f"{_fmt(m.reconstruction_precision)} R {_fmt(m.reconstruction_recall)}, "
                f"spread {_fmt(m.reconstruction_spread)}"
            )
        print(
            f"  {'model':>5} {'sampler':>9} {'P':>6} {'R':>6} {'ownP':>6} {'ownR':>6} {'far':>6} {'conf':>6}"
        )
        for r in res.table():
            print(
                f"  {r['model']:>5} {r['sampler']:>9} {_fmt(r['precision']):>6} {_fmt(r['recall']):>6} "
                f"{_fmt(r['own_precision']):>6} {_fmt(r['own_recall']):>6} {_fmt(r['far_fraction']):>6} "
                f"{_fmt(r['classifier_confidence']):>6}"
            )
            rows.append(r)
    return rows


def sweep_ends(train, test, betas, latent, hidden, epochs, n_samples, seed, classifier, features) -> dict:
    from vaelab.experiments.sweep import sweep_beta

    def show(p) -> None:
        pr = p.holes.samplers["prior"]
        print(
            f"  beta={p.beta:g}: rate {p.rate:.2f} distortion {p.distortion:.2f} AU {p.active_units} "
            f"P {_fmt(pr.precision)} R {_fmt(pr.recall)} ownP {_fmt(pr.own_precision)} "
            f"ownR {_fmt(pr.own_recall)} gap {_fmt(p.gap_fraction)} far99 "
            f"{_fmt(p.holes.mismatch.far_fraction)} output spread {_fmt(p.output_spread)} "
            f"samples spread {_fmt(p.samples_spread)} ({p.train_seconds:.0f}s)",
            flush=True,
        )

    s = sweep_beta(
        train,
        test,
        betas,
        model=ModelConfig(kind="vae", latent_dim=latent, hidden=hidden, likelihood="bernoulli"),
        train_config=TrainConfig(epochs=epochs, batch_size=128, seed=seed),
        classifier=classifier,
        features=features,
        n_samples=n_samples,
        seed=seed,
        on_point=show,
    )
    return s.ends()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", help="digits, mnist or fashion-mnist")
    ap.add_argument("--max-train", type=int, default=10000)
    ap.add_argument("--dims", default="2,8,16")
    ap.add_argument("--hidden", default="256")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--n-samples", type=int, default=2000)
    ap.add_argument("--sweep", action="store_true", help="also run the β sweep")
    ap.add_argument("--sweep-only", action="store_true")
    ap.add_argument("--betas", default="0,0.1,0.3,1,3,10,30")
    ap.add_argument("--sweep-latent", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    data_dir = None if a.data == "digits" else SHARED
    splits = load_dataset(a.data, data_dir=data_dir, seed=a.seed)
    train = seeded_subset(splits.train, a.max_train, a.seed)
    test = splits.test
    hidden = tuple(int(h) for h in a.hidden.split(","))
    print(f"{a.data}: train {len(train)}, test {len(test)}, hidden {hidden}, epochs {a.epochs}", flush=True)
    classifier = fit_classifier(train, seed=a.seed)
    features = FeatureSpace(seed=a.seed).fit(train.x)
    print(f"features: {features.to_dict()}", flush=True)
    out: dict = {"data": a.data, "n_train": len(train), "epochs": a.epochs, "hidden": list(hidden)}
    if not a.sweep_only:
        dims = [int(d) for d in a.dims.split(",")]
        out["holes"] = holes_dims(
            train, test, dims, hidden, a.epochs, a.n_samples, a.seed, classifier, features
        )
    if a.sweep or a.sweep_only:
        betas = [float(b) for b in a.betas.split(",")]
        print(f"beta sweep, latent {a.sweep_latent}:", flush=True)
        out["sweep_ends"] = sweep_ends(
            train, test, betas, a.sweep_latent, hidden, a.epochs, a.n_samples, a.seed, classifier, features
        )
        print(json.dumps(out["sweep_ends"], indent=1))
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
