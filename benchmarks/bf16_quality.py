"""No quality lost: 10 epochs of the pytorch/examples protocol in fp32 and in bf16.

784-400-20 VAE, Bernoulli on grey-level MNIST, batch 128, Adam 1e-3, 10 epochs,
vaelab's fit with ``precision="fp32"`` and ``precision="bf16"`` (autocast, fp32
master weights), same seed. Reported in fp32: the test negative ELBO (one
sample per image, the examples' "test set loss") and an importance-sampled
test NLL (−L_K) on the first ``--iw-images`` test images.

    python benchmarks/bf16_quality.py [--epochs 10] [--iw-samples 1000] [--iw-images 1000]
"""

from __future__ import annotations

import argparse

import _machine
import torch
from _report import command_line, table, write_section

from vaelab.importance import iw_log_likelihood
from vaelab.models import VAE, ModelConfig
from vaelab.train import TrainConfig, as_flat_tensor, elbo_terms, fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--iw-samples", type=int, default=1000)
    p.add_argument("--iw-images", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    splits = _machine.load_mnist()
    x_test = as_flat_tensor(splits.test, torch.device("cpu"))
    rows, nelbo = [], {}
    for prec in ("fp32", "bf16"):
        torch.manual_seed(args.seed)
        vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
        cfg = TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, precision=prec,
                          seed=args.seed)
        hist = fit(vae, splits.train, cfg, progress=False)
        torch.manual_seed(0)
        test = elbo_terms(vae, x_test)
        est = iw_log_likelihood(vae, x_test[: args.iw_images], n_samples=args.iw_samples,
                                generator=torch.Generator().manual_seed(0))
        nelbo[prec] = (test["loss"], -est.mean)
        rows.append([prec, f"{sum(hist.seconds):.0f}", f"{hist.train_loss[-1]:.2f}",
                     f"{test['loss']:.2f}", f"{-est.mean:.2f} ± {est.standard_error:.2f}"])
        print(rows[-1], flush=True)
    d_elbo = nelbo["bf16"][0] - nelbo["fp32"][0]
    d_nll = nelbo["bf16"][1] - nelbo["fp32"][1]
    verdict = "holds" if abs(d_elbo) <= 0.3 and abs(d_nll) <= 0.3 else "does NOT hold"
    body = "\n\n".join([
        f"Command: `{command_line()}`",
        f"Machine: {_machine.machine_line(info)}; {threads} thread(s).",
        f"Protocol: pytorch/examples (784-400-20, Bernoulli on grey levels, batch 128, Adam "
        f"1e-3, {args.epochs} epochs, seed {args.seed}), trained by `vaelab.train.fit` with "
        f"`precision` fp32 and bf16. All evaluation in fp32. IW NLL: −L_K with "
        f"K = {args.iw_samples} on the first {args.iw_images} test images (± one standard error "
        "over images; both models see the same images).",
        table(["precision", "train s", "final train −ELBO", "test −ELBO (1 sample)",
               f"test NLL (K={args.iw_samples})"], rows),
        f"bf16 − fp32: test −ELBO {d_elbo:+.2f} nats, IW NLL {d_nll:+.2f} nats. The "
        f"0.3-nat criterion {verdict}.",
    ])
    print(body)
    if not args.no_write:
        write_section("bf16-quality", "No quality lost: bf16 against fp32 training", body)


if __name__ == "__main__":
    main()
