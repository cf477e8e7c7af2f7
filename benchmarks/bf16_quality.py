"""No quality lost: the same training in fp32 and in bf16, scored in fp32.

``--protocol examples`` (default): the pytorch/examples protocol, 784-400-20 VAE,
Bernoulli on grey-level MNIST, batch 128, Adam 1e-3. ``--protocol recipe``: vaelab's
MNIST recipe of ``benchmarks/iwae_mnist.py`` (784-512-512-50 tanh, dynamically
binarized MNIST, Adam 1e-3 ε 1e-4, cosine decay, KL warm-up), scored on the test
images binarized once. vaelab's fit with ``precision="fp32"`` and
``precision="bf16"`` (autocast, fp32 master weights), same seed. Reported in fp32:
the test negative ELBO (one sample per image) and an importance-sampled test NLL
(−L_K) on the first ``--iw-images`` test images.

    python benchmarks/bf16_quality.py [--protocol examples|recipe] [--epochs 10]
        [--iw-samples 1000] [--iw-images 1000]
"""

from __future__ import annotations

import argparse

import _machine
import numpy as np
import torch
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.importance import iw_log_likelihood
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import VAE
from vaelab.data import binarize_static
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit

PROTOCOLS = {
    "examples": (dict(latent_dim=20, hidden=(400,)), dict(lr=1e-3)),
    "recipe": (
        dict(latent_dim=50, hidden=(512, 512), activation="tanh"),
        dict(lr=1e-3, adam_eps=1e-4, lr_schedule="cosine", kl_warmup_epochs=3, binarize="dynamic"),
    ),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="examples")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--iw-samples", type=int, default=1000)
    p.add_argument("--iw-images", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[1],
        help="one fp32/bf16 pair per seed; the verdict uses the mean difference",
    )
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    splits = _machine.load_mnist()
    model_kw, train_kw = PROTOCOLS[args.protocol]
    test_data = splits.test
    if args.protocol == "recipe":  # dynamic binarization: score one fixed draw of the test set
        test_data = binarize_static(test_data, seed=4)
    x_test = as_flat_tensor(test_data, torch.device("cpu"))
    rows, diffs = [], []
    for seed in args.seeds:
        nelbo = {}
        for prec in ("fp32", "bf16"):
            torch.manual_seed(seed)
            vae = VAE(ModelConfig(input_shape=(784,), **model_kw))
            cfg = TrainConfig(
                epochs=args.epochs, batch_size=128, precision=prec, seed=seed, threads=threads, **train_kw
            )
            hist = fit(vae, splits.train, cfg, progress=False)
            torch.manual_seed(0)
            test = elbo_terms(vae, x_test)
            est = iw_log_likelihood(
                vae,
                x_test[: args.iw_images],
                n_samples=args.iw_samples,
                generator=torch.Generator().manual_seed(0),
            )
            nelbo[prec] = (test["loss"], -est.mean)
            rows.append(
                [
                    seed,
                    prec,
                    f"{sum(hist.seconds):.0f}",
                    f"{hist.train_loss[-1]:.2f}",
                    f"{test['loss']:.2f}",
                    f"{-est.mean:.2f} ± {est.standard_error:.2f}",
                ]
            )
            print(rows[-1], flush=True)
        diffs.append((nelbo["bf16"][0] - nelbo["fp32"][0], nelbo["bf16"][1] - nelbo["fp32"][1]))
    d = np.array(diffs)  # (seeds, 2): bf16 − fp32 of test −ELBO and of IW NLL
    d_elbo, d_nll = d.mean(0)
    se = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.full(2, np.nan)
    # "no quality lost": bf16 may be better, not worse by more than 0.3 nats
    verdict = "holds" if d_elbo <= 0.3 and d_nll <= 0.3 else "does NOT hold"
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}; {threads} thread(s).",
            (
                f"Protocol: pytorch/examples (784-400-20, Bernoulli on grey levels, batch 128, Adam "
                f"1e-3, {args.epochs} epochs)"
                if args.protocol == "examples"
                else f"Protocol: vaelab's MNIST recipe (784-512-512-50 tanh, Bernoulli, dynamically "
                f"binarized MNIST, batch 128, Adam 1e-3 ε 1e-4, cosine decay, KL warm-up 3 epochs, "
                f"{args.epochs} epochs; test images binarized once)"
            )
            + ", trained by `vaelab.training.loop.fit` with "
            f"`precision` fp32 and bf16. All evaluation in fp32. IW NLL: −L_K with "
            f"K = {args.iw_samples} on the first {args.iw_images} test images (± one standard error "
            "over images; both models see the same images).",
            f"Seeds {', '.join(map(str, args.seeds))}: one fp32/bf16 pair each (same seed, same "
            "initial weights).",
            table(
                [
                    "seed",
                    "precision",
                    "train s",
                    "final train −ELBO",
                    "test −ELBO (1 sample)",
                    f"test NLL (K={args.iw_samples})",
                ],
                rows,
            ),
            f"bf16 − fp32, mean over {len(d)} seed(s) (± standard error over seeds): test −ELBO "
            f"{d_elbo:+.2f} ± {se[0]:.2f} nats, IW NLL {d_nll:+.2f} ± {se[1]:.2f} nats; per seed: "
            + ", ".join(f"{a:+.2f}/{b:+.2f}" for a, b in diffs)
            + f". The criterion (bf16 no more than 0.3 nats worse) {verdict} for the mean.",
        ]
    )
    print(body)
    if not args.no_write:
        name = "bf16-quality" + ("" if args.protocol == "examples" else "-" + args.protocol)
        title = "No quality lost: bf16 against fp32 training" + (
            "" if args.protocol == "examples" else ", vaelab's MNIST recipe"
        )
        write_section(name, title, body)


if __name__ == "__main__":
    main()
