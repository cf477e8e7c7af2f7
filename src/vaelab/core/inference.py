"""Models applied to data, in batches: the ELBO terms of a data set, without gradients."""

from __future__ import annotations

import numpy as np
import torch

from vaelab.data import Dataset


def as_flat_tensor(ds: Dataset, device: torch.device) -> torch.Tensor:
    """The samples as one ``(N, D)`` float32 tensor on ``device`` (no copy on CPU when possible)."""
    x = torch.from_numpy(np.ascontiguousarray(ds.x)).reshape(len(ds), -1)
    return x.to(device)


@torch.inference_mode()
def elbo_terms(
    model: torch.nn.Module, x: torch.Tensor, batch_size: int = 4096, seed: int = 0
) -> dict[str, float]:
    """Mean reconstruction, KL and negative ELBO (β = 1) over ``x``, in fp32.

    One reparameterized sample per example, as in the pytorch/examples "test loss",
    drawn from ``seed`` (torch's global random state is left as it was), so the
    same model and data give the same numbers in any process.
    """
    with torch.random.fork_rng(devices=[x.device.index or 0] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _elbo_terms(model, x, batch_size)


def _elbo_terms(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    rec = torch.zeros((), dtype=torch.float64, device=x.device)
    kl = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size], beta=1.0)
        rec += out.reconstruction.double().sum()
        kl += out.kl.double().sum()
    model.train(was_training)
    n = len(x)
    r, k = rec.item() / n, kl.item() / n
    return {"loss": r + k, "reconstruction": r, "kl": k}
