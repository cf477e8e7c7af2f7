"""K β-VAEs trained one after another with `fit`, or together with `fit_many`.

The explainer's β sweep: K = 6 VAEs that differ only in β, same data, same
`TrainConfig` (batch 128, cosine lr, the explainer's default budget of 2000 steps
per model, so the epochs follow from the data size), precision "auto" (bf16 where
the CPU has it). Two sizes, the explainer's: hidden (128,), latent 8 on the 64
features of scikit-learn's digits; hidden (256, 128), latent 16 on 20 000 MNIST
training images. ``--explainer-batch`` adds what the explainer trains beside the
six βs: an autoencoder and a VAE with a learned Gaussian noise (K = 8, three
kinds of model in one batch). Every round times, back to back on the same machine state:

- ``sequential``: K calls of `fit` (its own thread rule: one thread for small steps);
- ``fit_many``: one call, its thread rule (`threads_for_step` on the K-fold work);
- with ``--threads-check``, ``fit_many 1t`` / ``2t``: ``TrainConfig.threads`` 1 and 2.

Reported: the median wall time of each over the rounds, and the median of the
per-round ratios ``sequential / fit_many`` (a ratio inside one round is less
exposed to the other users of a shared machine than two medians).

``--step`` adds a micro-benchmark of one batched training step (forward,
backward, fused Adam) for three ways to batch K networks: the hand-written step
of `vaelab.training.fused.BatchedFusedStep` (fit_many's default), the grouped
bmm under autograd of `vaelab.training.batched` (``step="autograd"``) and
``torch.func.vmap`` over ``functional_call`` with stacked parameters.

    python benchmarks/batched.py [--repeats 3] [--k 6] [--steps 2000] [--data digits mnist]
                                 [--explainer-batch] [--step] [--write]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import _machine
import torch
from _report import command_line, table, write_section

BETAS = (0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # the first K are used
SIZES = {"digits": ((128,), 8), "mnist": ((256, 128), 16)}  # hidden, latent (the explainer's)
N_MNIST = 20_000


def load(name: str):
    """Training data: digits' train split, or the first 20 000 MNIST training images."""
    from vaelab.data import load_dataset

    if name == "digits":
        return load_dataset("digits", seed=0).train
    return _machine.load_mnist().train.subset(range(N_MNIST))


def setup(name: str, k: int, steps: int, precision: str, explainer: bool = False):
    import dataclasses

    from vaelab.core.config import ModelConfig
    from vaelab.training.config import TrainConfig

    train = load(name)
    hidden, latent = SIZES[name]
    configs = [
        ModelConfig(input_shape=(train.n_features,), latent_dim=latent, hidden=hidden, beta=b)
        for b in BETAS[:k]
    ]
    if explainer:  # step 4's autoencoder and step 8's Gaussian VAE beside the βs
        configs.append(dataclasses.replace(configs[0], kind="ae"))
        configs.append(dataclasses.replace(configs[0], likelihood="gaussian-learned", sigma=0.3))
    epochs = max(1, math.ceil(steps / math.ceil(len(train) / 128)))
    tc = TrainConfig(epochs=epochs, batch_size=128, lr_schedule="cosine", precision=precision, device="cpu")
    return train, configs, tc


def sequential(configs, train, tc) -> float:
    from vaelab.core.models import build_model
    from vaelab.training.loop import fit

    start = time.perf_counter()
    for c in configs:
        fit(build_model(c, seed=tc.seed), train, tc, progress=False)
    return time.perf_counter() - start


def many(configs, train, tc, threads: int | None = None) -> float:
    import dataclasses

    from vaelab.training.batched import fit_many

    start = time.perf_counter()
    fit_many(configs, train, dataclasses.replace(tc, threads=threads))
    return time.perf_counter() - start


def step_micro(name: str, k: int, precision: str, threads: int, n: int = 60) -> dict[str, float]:
    """Median ms of one K-model training step: the hand-written batched step, the grouped
    bmm under autograd, and vmap(functional_call)."""
    import dataclasses

    from torch.func import functional_call, stack_module_state, vmap

    from vaelab.core.models import build_model
    from vaelab.training import batched

    train, configs, tc = setup(name, k, 1, precision)
    torch.set_num_threads(threads)
    x = torch.from_numpy(train.x[:128]).reshape(128, -1)
    dtype = torch.bfloat16 if precision != "fp32" and _bf16() else None
    beta = torch.tensor([c.beta for c in configs])

    fused = batched._Batched(configs, [0] * k, tc)
    assert fused.fused is not None
    opt_f = torch.optim.Adam(fused.stacked, fused=True)

    def hand_written() -> None:
        fused.fused(x, beta)  # type: ignore[misc]
        opt_f.step()

    model = batched._Batched(configs, [0] * k, dataclasses.replace(tc, step="autograd"))
    opt = torch.optim.Adam([p for m in model.models for p in m.parameters()], fused=True)

    def ours() -> None:
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model.forward(x, beta)[0]
        for leaf in model.stacked:
            leaf.grad.zero_()
        loss.sum().backward()
        opt.step()

    models = [build_model(c, seed=i) for i, c in enumerate(configs)]
    params, buffers = stack_module_state(models)
    opt_v = torch.optim.Adam(list(params.values()), fused=True)
    base = models[0]

    def one(p, xb, b):
        return functional_call(base, (p, buffers), (xb,), {"beta": b}).loss

    batched_loss = vmap(one, in_dims=(0, None, 0), randomness="same")

    def with_vmap() -> None:
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = batched_loss(params, x, beta)
        opt_v.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt_v.step()

    out = {}
    for label, fn in (("fused", hand_written), ("bmm", ours), ("vmap", with_vmap)):
        for _ in range(5):
            fn()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out[label] = 1e3 * statistics.median(times)
    return out


def _bf16() -> bool:
    from vaelab.training.runtime import cpu_has_fast_bf16

    return cpu_has_fast_bf16()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--k", type=int, default=6)
    p.add_argument(
        "--steps", type=int, default=2000, help="gradient steps per model (the explainer's default)"
    )
    p.add_argument(
        "--explainer-batch",
        action="store_true",
        help="add the explainer's autoencoder and Gaussian VAE to the six βs (K = 8)",
    )
    p.add_argument("--data", nargs="+", default=["digits", "mnist"], choices=sorted(SIZES))
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--step", action="store_true", help="also time one step: grouped bmm against vmap")
    p.add_argument("--threads-check", action="store_true", help="also fit_many at 1 and 2 threads")
    p.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    a = p.parse_args()
    machine = _machine.machine_line()
    print(machine, flush=True)
    rows = []
    for name in a.data:
        train, configs, tc = setup(name, a.k, a.steps, a.precision, a.explainer_batch)
        many(configs[:2], train, tc)  # warm-up: torch.optim's first-call imports, allocator
        runs: dict[str, list[float]] = {
            "sequential": [],
            "fit_many": [],
            "fit_many 1t": [],
            "fit_many 2t": [],
        }
        for r in range(a.repeats):
            runs["sequential"].append(sequential(configs, train, tc))
            runs["fit_many"].append(many(configs, train, tc))
            if a.threads_check:  # slow: 2 threads on a loaded 2-core machine stall (threads.py)
                runs["fit_many 1t"].append(many(configs, train, tc, threads=1))
                runs["fit_many 2t"].append(many(configs, train, tc, threads=2))
            print(name, r, {key: round(v[-1], 2) for key, v in runs.items() if v}, flush=True)
        med = {key: statistics.median(v) if v else math.nan for key, v in runs.items()}
        ratio = statistics.median(s / m for s, m in zip(runs["sequential"], runs["fit_many"], strict=True))
        steps = tc.epochs * math.ceil(len(train) / tc.batch_size)
        hidden, latent = SIZES[name]
        rows.append(
            [
                f"{name} ({len(train)})",
                f"{len(train.x[0].ravel())}-{'-'.join(map(str, hidden))}-{latent}",
                len(configs),
                steps,
                f"{med['sequential']:.2f}",
                f"{med['fit_many']:.2f}",
                f"**{ratio:.2f}×**",
                f"{med['fit_many 1t']:.2f} / {med['fit_many 2t']:.2f}" if a.threads_check else "not run",
            ]
        )
    header = [
        "data (n train)",
        "network",
        "K",
        "steps per model",
        "sequential fit (s)",
        "fit_many (s)",
        "speed-up",
        "fit_many 1 / 2 threads (s)",
    ]
    body = f"`{command_line()}`\n\n{machine}\n\n" + table(header, rows)
    if a.step:
        micro = []
        for name in a.data:
            for threads in (1, 2):
                t = step_micro(name, a.k, a.precision, threads)
                micro.append(
                    [
                        name,
                        a.k,
                        threads,
                        f"{t['fused']:.2f}",
                        f"{t['bmm']:.2f}",
                        f"{t['vmap']:.2f}",
                        f"{t['bmm'] / t['fused']:.2f}×",
                    ]
                )
        body += "\n\nOne training step of K models (median ms):\n\n" + table(
            [
                "data",
                "K",
                "threads",
                "hand-written batched step (ms)",
                "grouped bmm, autograd (ms)",
                "vmap(functional_call) (ms)",
                "autograd / hand-written",
            ],
            micro,
        )
    print(body)
    if a.write:
        write_section("batched", "Training K models at once (fit_many)", body)


if __name__ == "__main__":
    main()
