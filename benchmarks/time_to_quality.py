"""(b) Time to quality: wall time until the test −ELBO reaches the reference's 10-epoch value.

First the pytorch/examples reference trains for 10 epochs (seed 1); its final
test loss (one-sample negative ELBO; 105.6 nats in the published example) is
the target, and its 10 epochs of training time are the reference's time. Then
vaelab trains with its recipe, evaluating the test −ELBO in fp32 after every
epoch, until it reaches the target. Times count training only (evaluation
excluded for both), at the same thread count.

With ``--schedule cosine`` the learning rate decays to zero over ``--max-epochs``
(the budget is fixed in advance, as a user would set it).

    python benchmarks/time_to_quality.py [--batch-size 128] [--lr 3e-3] [--precision auto]
        [--schedule constant|cosine] [--max-epochs 10]
"""

from __future__ import annotations

import argparse

import _machine
import reference_vae
import torch
from _report import command_line, table, write_section

from vaelab.core.config import ModelConfig
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import VAE
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref-epochs", type=int, default=10)
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--precision", default="auto")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    threads = _machine.set_threads(args.threads)
    info = _machine.machine()
    splits = _machine.load_mnist()

    model, opt, train_loader, test_loader = reference_vae.make(splits.train, splits.test, seed=1)
    ref_rows, ref_time = [], 0.0
    for epoch in range(1, args.ref_epochs + 1):
        with _machine.Timer() as t:
            reference_vae.train_epoch(model, opt, train_loader)
        ref_time += t.wall
        loss = reference_vae.test_loss(model, test_loader)
        ref_rows.append((epoch, ref_time, loss))
        print(f"reference epoch {epoch}: {ref_time:.1f}s test loss {loss:.2f}", flush=True)
    target = ref_rows[-1][2]

    torch.manual_seed(1)
    vae = VAE(ModelConfig(input_shape=(784,), latent_dim=20, hidden=(400,)))
    x_test = as_flat_tensor(splits.test, torch.device("cpu"))
    vl_rows, reached = [], None

    class Reached(Exception):
        pass

    def on_epoch(epoch: int, record: dict) -> None:
        nonlocal reached
        vl_time = (vl_rows[-1][1] if vl_rows else 0.0) + record["seconds"]
        torch.manual_seed(0)
        loss = elbo_terms(vae, x_test)["loss"]  # evaluation outside the timed epoch
        vl_rows.append((epoch, vl_time, loss))
        print(f"vaelab epoch {epoch}: {vl_time:.1f}s test −ELBO {loss:.2f}", flush=True)
        if loss <= target:
            reached = (epoch, vl_time)
            raise Reached

    cfg = TrainConfig(
        epochs=args.max_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.schedule,
        precision=args.precision,
        seed=1,
        threads=threads,
    )
    try:
        fit(vae, splits.train, cfg, on_epoch=on_epoch, progress=False)
    except Reached:
        pass
    vl_time = vl_rows[-1][1]
    ref_reach = next(r for r in ref_rows if r[2] <= target)
    if reached:
        verdict = (
            f"vaelab reached {target:.2f} nats after {reached[0]} epoch(s) in "
            f"{reached[1]:.1f} s; the reference after {ref_reach[0]} epochs in "
            f"{ref_reach[1]:.1f} s: **{ref_reach[1] / reached[1]:.1f}× less wall time**."
        )
    else:
        verdict = (
            f"vaelab did not reach {target:.2f} nats within {args.max_epochs} epochs "
            f"({vl_rows[-1][2]:.2f} after {vl_time:.1f} s)."
        )
    n = max(len(ref_rows), len(vl_rows))
    rows = [
        [
            i + 1,
            *(
                f"{v:.1f}" if j == 0 else f"{v:.2f}"
                for j, v in enumerate(ref_rows[i][1:] if i < len(ref_rows) else ())
            ),
            *(["", ""] if i >= len(ref_rows) else []),
            *(
                f"{v:.1f}" if j == 0 else f"{v:.2f}"
                for j, v in enumerate(vl_rows[i][1:] if i < len(vl_rows) else ())
            ),
            *(["", ""] if i >= len(vl_rows) else []),
        ]
        for i in range(n)
    ]
    body = "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Machine: {_machine.machine_line(info)}; {threads} thread(s) for both.",
            "Reference: pytorch/examples vae/main.py protocol (784-400-20, BCE on grey levels, Adam "
            "1e-3, batch 128, seed 1; its published 10-epoch test loss is 105.6 nats). "
            f"vaelab recipe: same model, batch {args.batch_size}, Adam lr {args.lr:g} "
            f"({args.schedule} schedule over {args.max_epochs} epochs), precision "
            f"{args.precision!r}. Test −ELBO: one-sample negative ELBO on the 10k test images, fp32. "
            "Cumulative training seconds, evaluation excluded.",
            table(["epoch", "reference s", "reference test −ELBO", "vaelab s", "vaelab test −ELBO"], rows),
            verdict,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("time-to-quality", "(b) Time to the reference's 10-epoch quality", body)


if __name__ == "__main__":
    main()
