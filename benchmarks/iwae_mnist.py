"""VAEs with one or two stochastic layers on binarized MNIST, scored like Burda et al. (2015).

Protocols
---------
iwae-vae
    Burda, Grosse & Salakhutdinov 2015, Table 1, VAE with one stochastic layer:
    784-200-200-50 tanh MLP (encoder and mirrored decoder), Bernoulli output,
    Adam (lr 1e-3, eps 1e-4), batch 20, the "iwae" learning-rate schedule (stages in
    proportion to 3^i at lr·10^(−i/7)) squeezed into the epoch budget, dynamically
    binarized MNIST: all 60k training images, a fresh Bernoulli draw per batch, the
    test set binarized once with a fixed seed. Published: 86.76 nats after 3280 passes.
vaelab-recipe
    vaelab's single-stochastic-layer recipe (see ``PROTOCOLS`` for its settings).
    ``--latent-dim2 N --hidden2 W,W`` adds a second stochastic layer above the code
    (`vaelab.core.models.HierarchicalVAE`, Burda et al.'s two-layer architecture).

Every protocol trains into a run directory (``vaelab train``'s format) and then runs
``vaelab.evaluate.evaluate_run`` on it: test NLL = −mean L_K over the full 10k test
set with K = 5000 importance samples, ± the standard error over test examples.

Examples
--------
python benchmarks/iwae_mnist.py --protocol vaelab-recipe --minutes 30 --out runs/recipe
python benchmarks/iwae_mnist.py --protocol iwae-vae --epochs 3280 --out runs/iwae-vae
python benchmarks/iwae_mnist.py --protocol iwae-vae --data binarized-mnist --minutes 30
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import time
from pathlib import Path

import torch

from vaelab.core.config import ModelConfig
from vaelab.core.inference import as_flat_tensor
from vaelab.core.models import build_model
from vaelab.runs.run import DataSpec, load_data, train_run
from vaelab.training.config import TrainConfig
from vaelab.training.runtime import resolve_device, resolve_precision

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

PROTOCOLS = {
    "iwae-vae": {
        "model": {"hidden": (200, 200), "activation": "tanh", "latent_dim": 50},
        "train": {
            "batch_size": 20,
            "lr": 1e-3,
            "adam_eps": 1e-4,
            "lr_schedule": "iwae",
            "kl_warmup_epochs": 0,
            "precision": "fp32",
        },
    },
    "vaelab-recipe": {
        "model": {"hidden": (512, 512), "activation": "tanh", "latent_dim": 50},
        "train": {
            "batch_size": 128,
            "lr": 1e-3,
            "adam_eps": 1e-4,
            "lr_schedule": "cosine",
            "kl_warmup_epochs": 3,
            "precision": "bf16",
        },
    },
}


def _configs(args: argparse.Namespace) -> tuple[DataSpec, ModelConfig, TrainConfig]:
    proto = PROTOCOLS[args.protocol]
    model = dict(proto["model"])
    train = dict(proto["train"])
    for key, value in (
        ("hidden", args.hidden),
        ("activation", args.activation),
        ("latent_dim", args.latent_dim),
        ("latent_dim2", args.latent_dim2),
        ("hidden2", args.hidden2),
    ):
        if value is not None:
            model[key] = value
    for key, value in (
        ("batch_size", args.batch_size),
        ("lr", args.lr),
        ("lr_schedule", args.schedule),
        ("kl_warmup_epochs", args.kl_warmup),
        ("importance_samples", args.train_k),
        ("precision", args.precision),
        ("on_divergence", args.on_divergence),
    ):
        if value is not None:
            train[key] = value
    if args.data == "mnist":
        # all 60k for training; test binarized once (seed + 4, see vaelab.runs.run.eval_view)
        spec = DataSpec(
            source="mnist",
            data_dir=str(args.data_dir or SHARED / "mnist"),
            valid_fraction=0.0,
            seed=args.seed,
        )
        binarize = "dynamic"
    else:
        # Larochelle's static binarization: train on the 50k train split only
        spec = DataSpec(
            source="binarized-mnist",
            data_dir=str(args.data_dir or SHARED / "binarized_mnist"),
            valid_fraction=0.0,
            seed=args.seed,
        )
        binarize = "none"
    cfg = ModelConfig(kind="vae", input_shape=(1, 28, 28), network="mlp", likelihood="bernoulli", **model)
    tcfg = TrainConfig(
        epochs=max(1, args.epochs or 1),
        binarize=binarize,
        seed=args.seed,
        device="cpu",
        threads=args.threads,
        **train,
    )
    return spec, cfg, tcfg


def seconds_per_epoch(cfg: ModelConfig, tcfg: TrainConfig, x: torch.Tensor, steps: int = 150) -> float:
    """Time ``steps`` training steps on a throwaway model and scale to one epoch."""
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, eps=tcfg.adam_eps)
    dtype = resolve_precision(tcfg.precision, resolve_device("cpu"))
    bs = tcfg.batch_size
    idx = torch.randint(0, len(x), (steps + 10, bs))

    extra = {"n_samples": tcfg.importance_samples} if tcfg.importance_samples > 1 else {}

    def step(i: int) -> None:
        xb = torch.bernoulli(x[idx[i]])
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(xb, **extra)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    for i in range(10):
        step(i)
    start = time.perf_counter()
    for i in range(10, steps + 10):
        step(i)
    per_step = (time.perf_counter() - start) / steps
    return per_step * math.ceil(len(x) / bs) * 1.05  # + evaluation/bookkeeping slack


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="vaelab-recipe")
    p.add_argument(
        "--data",
        choices=["mnist", "binarized-mnist"],
        default="mnist",
        help="mnist: dynamic binarization; binarized-mnist: Larochelle's static set",
    )
    p.add_argument("--data-dir", default=None)
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--epochs", type=int, help="passes over the training set")
    budget.add_argument(
        "--minutes", type=float, help="training-time budget: epochs = budget / measured epoch time"
    )
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=None)
    p.add_argument("--activation", default=None)
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--latent-dim2", type=int, default=None, help="a second stochastic layer of this size")
    p.add_argument("--hidden2", type=lambda s: tuple(int(v) for v in s.split(",")), default=None)
    p.add_argument("--on-divergence", choices=["stop", "rollback"], default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--schedule", choices=["constant", "cosine", "iwae"], default=None)
    p.add_argument("--kl-warmup", type=int, default=None)
    p.add_argument(
        "--train-k",
        type=int,
        default=None,
        help="importance samples of the training objective (1: ELBO, K > 1: IWAE)",
    )
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default=None)
    p.add_argument("--iw-samples", type=int, default=5000, help="K of the test NLL")
    p.add_argument(
        "--subsample", type=int, default=None, help="evaluate on the first N test images only (quick trials)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="run directory")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    spec, cfg, tcfg = _configs(args)
    if args.minutes is not None:
        x = as_flat_tensor(load_data(spec).train, torch.device("cpu"))
        epoch_s = seconds_per_epoch(cfg, tcfg, x)
        epochs = max(1, int(args.minutes * 60 / epoch_s))
        print(f"measured {epoch_s:.1f} s/epoch -> {epochs} epochs in {args.minutes} min", flush=True)
        tcfg = (
            copy.replace(tcfg, epochs=epochs)
            if hasattr(copy, "replace")
            else TrainConfig(**{**tcfg.to_dict(), "epochs": epochs})
        )
    if args.kl_warmup is None and tcfg.kl_warmup_epochs > tcfg.epochs // 3:
        # the recipe's warm-up takes at most a third of a short run
        tcfg = TrainConfig(**{**tcfg.to_dict(), "kl_warmup_epochs": tcfg.epochs // 3})
    start = time.perf_counter()
    train_run(spec, cfg, tcfg, args.out, overwrite=True, progress=False)
    train_s = time.perf_counter() - start
    result = {
        "protocol": args.protocol,
        "data": args.data,
        "epochs": tcfg.epochs,
        "train_seconds": round(train_s, 1),
        "model": cfg.to_dict(),
        "train": tcfg.to_dict(),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    print(json.dumps({k: result[k] for k in ("protocol", "epochs", "train_seconds")}), flush=True)
    if not args.no_eval:
        from vaelab.evaluate import evaluate_run

        ev = evaluate_run(  # fp32: the published rows are fp32 numbers
            args.out,
            iw_samples=args.iw_samples,
            subsample=args.subsample,
            latent_metrics=False,
            iw_precision="fp32",
        )
        result.update(
            test_nll=-ev.log_likelihood,
            test_nll_se=ev.log_likelihood_se,
            test_elbo=ev.elbo,
            iw_samples=ev.iw_samples,
            n_test=ev.n_examples,
            eval_seconds=round(ev.seconds, 1),
            active_units=ev.active_units,
        )
    (args.out / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)
    return result


if __name__ == "__main__":
    main()
