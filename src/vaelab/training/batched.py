"""Train K models of one shape at once: `fit_many`, one batched model and one batched Adam.

The explainer and the β sweep train many small networks that differ only in β,
kind, likelihood or their initial weights; each alone is too small to keep two
cores busy. Here the K models' parameters are stacked along a leading axis
``(K, ...)`` and one step runs all K through batched matmuls. Every model
receives exactly its own gradient, and Adam, being elementwise, over the stacked
parameters is K independent Adams.

Each model trains as `vaelab.training.loop.fit` would train it alone with the
same `TrainConfig`: the same initial weights (`build_model` with its seed), the
same batch order and binarization draws (the generator seeded with
``config.seed``), the same reparameterization noise (torch's generator seeded
with ``config.seed``; one draw per step is shared by all K, as each alone would
have drawn it), the same learning-rate schedule, β warm-up, fused Adam and
autocast precision. Two steps do it:

- **the hand-written step** (``step="auto"``, the default, as in `fit`):
  `vaelab.training.fused.BatchedFusedStep`, the gradients of `fit`'s own
  hand-written step with the K models' matmuls batched (bmm) and one fused Adam
  over the stacked leaves. Models may differ in kind, likelihood and σ as well as
  β: an autoencoder's code layer fills the first Z rows of the VAEs' 2Z, and each
  likelihood scores its own models. Each model ends within float rounding of `fit`
  alone (``tests/test_batched.py``: within 1e-4 of a tensor's largest weight in fp32
  and 1e-3 in bf16 after 3 epochs).
- **autograd's step** (``step="autograd"``), for models that differ only in β: on
  CPU bit-identical to `fit(step="autograd")` alone, in fp32 and bf16, because every
  operation keeps each model's shapes and summation order: the shared input enters
  as a stride-0 expanded bmm (one wide matmul over the K models' stacked weights
  was as fast but rounded differently), the weight gradient is formed as nn.Linear
  forms it (``gᵀ @ h``), and fit's fused Adam runs over each model's own parameter
  tensors, which are views of the stacked leaves (a fused Adam over the stacked
  tensors splits vector and scalar tails elsewhere and moved the last bit of a few
  weights).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

from vaelab.core.config import ModelConfig
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import VAE, Model, build_model
from vaelab.core.networks import LatentLinear
from vaelab.core.objectives import gaussian_kl
from vaelab.data import Dataset, dynamic_binarize_batch
from vaelab.errors import ConfigError
from vaelab.training import distributed
from vaelab.training.batches import NpySource, TensorSource, steps_per_epoch
from vaelab.training.config import TrainConfig, check_objective, check_step, fused_refusals
from vaelab.training.fused import BatchedFusedStep, batched_fused_step
from vaelab.training.history import History
from vaelab.training.loop import _adam, _set_lr, _warmup_beta, fit, lr_factor
from vaelab.training.runtime import resolve_device, resolve_precision
from vaelab.training.threads import threads_for_step

__all__ = ["fit_many"]


Layer = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def fit_many(
    configs: Sequence[ModelConfig],
    train: Dataset | TensorSource | NpySource,
    config: TrainConfig,
    *,
    seeds: Sequence[int] | None = None,
    valid: Dataset | None = None,
) -> tuple[list[Model], list[History]]:
    """Train one model per config, all K in one batched model; each as `fit` would alone.

    Parameters
    ----------
    configs : sequence of ModelConfig
        K configs of one network shape (sizes, network, activation): they may
        differ in ``beta``, and with the hand-written step also in ``kind``,
        ``likelihood`` and ``sigma``; with autograd's step, or where the
        hand-written step does not cover a model, such configs train one after
        another with `fit`.
    train : Dataset or batch source
        Training data, as for `vaelab.training.loop.fit`.
    config : TrainConfig
        Shared by all K models. ``checkpoint_*`` and ``compile`` are not used.
    seeds : sequence of int, optional
        Seed of each model's initial weights (`build_model`); default
        ``config.seed`` for every model, as `vaelab.experiments.sweep.sweep_beta` does.
    valid : Dataset, optional
        Validation data. Each model keeps its own early-stopping state: a model
        whose patience is spent ends with its best weights and its history stops
        there (its weights keep moving inside the batch, unused, which changes
        no other model); training ends when every model has stopped.

    Returns
    -------
    models : list of VAE or Autoencoder
        Ordinary models in eval mode, built by ``build_model(configs[k], seeds[k])``
        and loaded with their trained weights.
    histories : list of History
        Per-model curves; ``seconds`` is the time of the batched epoch (all K).

    Raises
    ------
    ConfigError
        A ValueError: configs of different shapes, a wrong number of seeds, or
        data that does not fit the models.
    TrainingDivergedError
        As `fit` raises it: a model whose loss or weights become non-finite in
        the batch is trained again alone with `fit`, which applies
        ``config.on_divergence`` (stop with this error, or roll back).

    Notes
    -----
    Networks other than ``mlp``/``linear``, ``importance_samples > 1`` and
    multi-process runs are trained one after another with `fit` (same results).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((256, 16), dtype=np.float32)
    >>> ds = Dataset(x, None, (16,), "unit")
    >>> cfgs = [ModelConfig(input_shape=(16,), latent_dim=2, hidden=(8,), beta=b) for b in (0.5, 1.0)]
    >>> models, histories = fit_many(cfgs, ds, TrainConfig(epochs=2, batch_size=64, precision="fp32"))
    >>> [m.config.beta for m in models], len(histories[1].train_loss)
    ([0.5, 1.0], 2)
    """
    seeds = _check_many(configs, train, config, seeds)
    if not _batchable(configs, config):
        return _one_by_one(configs, train, config, seeds, valid)
    threads_before = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):  # the caller's random state survives, as with fit
        try:
            batch = _Batched(configs, seeds, config)
            if batch.fused is None and _differences(configs, FREE) is not None:
                # models of several kinds or likelihoods batch only in the hand-written step
                return _one_by_one(configs, train, config, seeds, valid)
            return batch.run(train, valid)
        finally:
            torch.set_num_threads(threads_before)


# what models trained in one batch may differ in: β always; kind, likelihood and σ with the
# hand-written step (`vaelab.training.fused.BatchedFusedStep`)
FREE = ("beta",)
FREE_FUSED = ("beta", "kind", "likelihood", "sigma")


def _differences(configs: Sequence[ModelConfig], free: Sequence[str]) -> str | None:
    """How a config differs from configs[0] beyond ``free``, or None if none does."""
    first = configs[0]
    for k, c in enumerate(configs):
        names = [f.name for f in dataclasses.fields(c) if f.name not in free]
        names = [n for n in names if getattr(c, n) != getattr(first, n)]
        if names:
            ours = ", ".join(f"{n}={getattr(c, n)!r}" for n in names)
            theirs = ", ".join(f"{n}={getattr(first, n)!r}" for n in names)
            return f"configs[{k}] has {ours} where configs[0] has {theirs}"
    return None


def _check_many(
    configs: Sequence[ModelConfig],
    train: Dataset | TensorSource | NpySource,
    config: TrainConfig,
    seeds: Sequence[int] | None,
) -> list[int]:
    """Refuse what cannot train as one batch; returns the seeds."""
    if len(configs) == 0:
        raise ConfigError("fit_many needs at least one ModelConfig, got none")
    differ = _differences(configs, FREE_FUSED)
    if differ is not None:
        raise ConfigError(
            f"fit_many trains models of one shape together, but {differ}; only "
            f"{', '.join(FREE_FUSED)} may differ (train the others in a separate fit_many call)"
        )
    seeds = [config.seed] * len(configs) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(configs):
        raise ConfigError(f"seeds has {len(seeds)} entries for {len(configs)} configs; give one per config")
    if len(train) < 2:
        raise ConfigError(f"training needs at least 2 samples, got {len(train)}")
    first = configs[0]
    if train.n_features != first.n_features:
        raise ConfigError(
            f"data has {train.n_features} features per sample but the models expect {first.n_features}"
        )
    for c in configs:
        check_objective(c.kind, config)
        check_step(c.network, c.likelihood, config, c.latent_dim2)
    return seeds


def _batchable(configs: Sequence[ModelConfig], config: TrainConfig) -> bool:
    """True when a batched step applies; otherwise `fit_many` runs `fit` K times.

    Models that differ in more than β need the hand-written step, so each must be one
    it covers (`vaelab.training.config.fused_refusals`), and ``step`` not "autograd".
    """
    first = configs[0]
    if not (
        first.network in ("mlp", "linear")
        and not first.latent_dim2
        and config.importance_samples == 1
        and distributed.world_size() == 1
    ):
        return False
    return _differences(configs, FREE) is None or (
        config.step != "autograd"
        and not any(fused_refusals(c.network, c.likelihood, config, c.latent_dim2) for c in configs)
    )


def _one_by_one(configs, train, config, seeds, valid) -> tuple[list[Model], list[History]]:
    models = [build_model(c, seed=s) for c, s in zip(configs, seeds, strict=True)]
    histories = [fit(m, train, config, valid=valid, progress=False) for m in models]
    return models, histories


class _Batched:
    """K models stacked: parameters ``(K, ...)``, one Adam, per-model early stopping."""

    def __init__(self, configs: Sequence[ModelConfig], seeds: list[int], config: TrainConfig) -> None:
        self.config = config
        self.configs, self.seeds = list(configs), seeds
        self.device = resolve_device(config.device)
        self.autocast_dtype = resolve_precision(config.precision, self.device)
        self.models = [build_model(c, seed=s).to(self.device) for c, s in zip(configs, seeds, strict=True)]
        template = self.models[0]
        per_model = [dict(m.named_parameters()) for m in self.models]
        # one leaf (K, ...) per parameter name the K models share; model k's parameter is a
        # view of row k, and its .grad a view of the leaf's gradient, so Adam runs over the
        # models' own tensors. An autoencoder's code layer fills the first rows of a VAE's.
        self.names = [n for n, _ in template.named_parameters() if all(n in p for p in per_model)]
        self.stacked = [_stack([p[n] for p in per_model]) for n in self.names]
        for leaf, name in zip(self.stacked, self.names, strict=True):
            leaf.grad = torch.zeros_like(leaf)
            for k, p in enumerate(per_model):
                rows = _corner(k, p[name].shape)
                p[name].data = leaf.detach()[rows]
                p[name].grad = leaf.grad[rows]
        # parameters not every model has (a learned σ² among other likelihoods): their own leaves
        self.extra: list[torch.Tensor] = [t for p in per_model for n, t in p.items() if n not in self.names]
        self.encoder = _layers(template.encoder, "encoder")
        self.decoder = _layers(template.decoder, "decoder")
        self.likelihood = _LogProb(template.likelihood)
        self.is_vae = isinstance(template, VAE)
        self.betas = [c.beta if c.kind == "vae" else 0.0 for c in configs]
        self.fused: BatchedFusedStep | None = None
        if config.step != "autograd":
            log_vars: dict[int, torch.Tensor] = {
                k: p["likelihood.log_var"] for k, p in enumerate(per_model) if "likelihood.log_var" in p
            }
            self.fused = batched_fused_step(self.models, self.params(), log_vars, config, self.autocast_dtype)

    def params(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.stacked, strict=True))

    def forward(self, x: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-model loss ``(K,)``, reconstruction and KL ``(K, B)`` of one batch ``x`` (B, D)."""
        p = self.params()
        h = x
        for layer in self.encoder:
            h = layer(h, p)  # (K, B, ·) after the first layer
        if self.is_vae:
            mu, log_var = h.chunk(2, dim=-1)  # (K, B, Z) each
            # one draw of (B, Z), as each model alone draws it in vaelab.core.objectives.reparameterize
            std = torch.exp(0.5 * log_var)
            eps = torch.randn(mu.shape[1:], dtype=mu.dtype, device=mu.device)  # (B, Z)
            z = mu + std * eps  # (K, B, Z)
        else:
            z = h
        out = z
        for layer in self.decoder:
            out = layer(out, p)  # (K, B, P·D)
        lik = {k[len("likelihood.") :]: v for k, v in p.items() if k.startswith("likelihood.")}
        rec = -self.likelihood.log_prob(out.float(), x, lik)  # (K, B)
        if self.is_vae:
            kl = gaussian_kl(mu.float(), log_var.float())  # (K, B)
            loss = (rec + beta[:, None] * kl).mean(-1)  # (K,)
        else:
            kl = torch.zeros_like(rec)
            loss = rec.mean(-1)
        return loss, rec, kl

    def run(
        self, train: Dataset | TensorSource | NpySource, valid: Dataset | None
    ) -> tuple[list[Model], list[History]]:
        config, device, k_models = self.config, self.device, len(self.models)
        torch.manual_seed(config.seed)  # fit's reparameterization noise (rank 0)
        gen = torch.Generator(device=device).manual_seed(config.seed)  # fit's batch order
        if device.type == "cpu":
            torch.set_num_threads(config.threads or min(torch.get_num_threads(), self._threads()))
        source = (
            train
            if isinstance(train, TensorSource | NpySource)
            else TensorSource(as_flat_tensor(train, device))
        )
        x_valid = None if valid is None else as_flat_tensor(valid, device)
        # autograd's step: fit's fused Adam over each model's own tensors, the same kernel on
        # the same shapes (bit for bit); the hand-written step: one Adam over the stacked leaves
        opt = _adam(
            nn.ModuleList(self.models) if self.fused is None else self.stacked + self.extra, config, device
        )
        n_steps = steps_per_epoch(len(source), config.batch_size)
        stops = [_Stopping(config.patience if x_valid is not None else None) for _ in range(k_models)]
        redo: dict[int, tuple[Model, History]] = {}  # diverged in the batch: trained alone by fit
        for epoch in range(1, config.epochs + 1):
            if all(s.stopped for s in stops):
                break
            start = time.perf_counter()
            stats = self._epoch(source, opt, gen, epoch, n_steps)  # (K, 3) means
            seconds = time.perf_counter() - start
            for k, model in enumerate(self.models):
                if stops[k].stopped or k in redo:
                    continue
                if not (torch.isfinite(stats[k]).all() and _finite(model)):
                    redo[k] = self._fit_alone(k, train, valid)
                    continue
                record = {
                    "epoch": epoch,
                    "train_loss": float(stats[k, 0]),
                    "train_reconstruction": float(stats[k, 1]),
                    "train_kl": float(stats[k, 2]),
                }
                if x_valid is not None:
                    v = elbo_terms(model, x_valid, config.eval_batch_size)
                    record.update(
                        valid_loss=v["loss"], valid_reconstruction=v["reconstruction"], valid_kl=v["kl"]
                    )
                record["seconds"] = seconds
                stops[k].update(record, model)
        histories = []
        for k, model in enumerate(self.models):
            for param in model.parameters():  # own storage again, no gradient
                param.data, param.grad = param.data.clone(), None
            if k in redo:
                self.models[k], history = redo[k]
            else:
                history, best = stops[k].history, stops[k].best_weights
                if best is not None:
                    model.load_state_dict(best)
            self.models[k].eval()
            histories.append(history)
        return self.models, histories

    def _threads(self) -> int:
        """`threads_for_step`'s rule for the whole batched step (K models' work)."""
        return threads_for_step(self.models[0], self.config.batch_size * len(self.models))

    def _epoch(
        self,
        source: TensorSource | NpySource,
        opt: torch.optim.Optimizer,
        gen: torch.Generator,
        epoch: int,
        n_steps: int,
    ) -> torch.Tensor:
        """One pass over the data for all K models; per-model [loss, rec, kl] means ``(K, 3)``."""
        config, device = self.config, self.device
        # β per step and model, as fit's _warmup_beta gives it to each model alone
        ramps = [_warmup_beta(b, epoch, n_steps, config.kl_warmup_epochs) for b in self.betas]
        beta = torch.tensor(
            [r if isinstance(r, list) else [r] * n_steps for r in ramps], dtype=torch.float32, device=device
        ).T  # (n_steps, K)
        scheduled = config.lr_schedule != "constant"
        _set_lr(opt, config.lr * lr_factor(config.lr_schedule, epoch - 1, config.epochs))
        perm = torch.randperm(len(source), generator=gen, device=gen.device)  # (N,)
        stats = torch.zeros(n_steps, len(self.models), 3, dtype=torch.float64, device=device)
        seen = 0
        dtype = self.autocast_dtype
        for step, xb in enumerate(source.batches(perm, config.batch_size)):
            if config.binarize == "dynamic":  # xb: (B, D)
                xb = dynamic_binarize_batch(xb, gen)
            if scheduled and step:
                _set_lr(
                    opt, config.lr * lr_factor(config.lr_schedule, epoch - 1 + step / n_steps, config.epochs)
                )
            if self.fused is not None:  # writes every leaf's .grad in place
                loss, rec, kl = self.fused(xb, beta[step])
            else:
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss, rec, kl = self.forward(xb, beta[step])
                for leaf in self.stacked:
                    leaf.grad.zero_()  # type: ignore[union-attr]  # the models' grads are its views
                loss.sum().backward()  # the sum: each model gets exactly its own gradient
            opt.step()
            stats[step] = torch.stack(
                [loss.detach() * len(xb), rec.detach().sum(-1), kl.detach().sum(-1)], dim=-1
            ).double()
            seen += len(xb)
        return stats.sum(0) / seen  # (K, 3)

    def _fit_alone(self, k: int, train, valid) -> tuple[Model, History]:
        model = build_model(self.configs[k], seed=self.seeds[k])
        return model, fit(model, train, self.config, valid=valid, progress=False)


class _Stopping:
    """One model's history and early-stopping state, as fit's `_Loop` keeps them."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.history = History()
        self.best_loss = math.inf
        self.bad_epochs = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    @property
    def stopped(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def update(self, record: dict, model: Model) -> None:
        h = self.history
        h.epoch.append(record["epoch"])
        h.train_loss.append(record["train_loss"])
        h.train_reconstruction.append(record["train_reconstruction"])
        h.train_kl.append(record["train_kl"])
        if "valid_loss" in record:
            h.valid_loss.append(record["valid_loss"])
            h.valid_reconstruction.append(record["valid_reconstruction"])
            h.valid_kl.append(record["valid_kl"])
        h.seconds.append(record["seconds"])
        if self.patience is None:
            return
        if record["valid_loss"] < self.best_loss - 1e-6:
            self.best_loss, self.bad_epochs = record["valid_loss"], 0
            self.best_weights = {n: t.clone() for n, t in model.state_dict().items()}
            h.best_epoch = record["epoch"]
        else:
            self.bad_epochs += 1


def _stack(params: list[torch.Tensor]) -> torch.Tensor:
    """One leaf ``(K, ...)`` holding K parameters; smaller ones fill its leading corner, zeros around."""
    shape = [max(sizes) for sizes in zip(*(p.shape for p in params), strict=True)]
    leaf = params[0].new_zeros(len(params), *shape)
    for k, p in enumerate(params):
        leaf[_corner(k, p.shape)] = p.detach()
    return leaf.requires_grad_()


def _corner(k: int, shape: torch.Size) -> tuple[int | slice, ...]:
    """The index of a tensor of ``shape`` in row ``k`` of a leaf, at its leading corner."""
    return (k,) + tuple(slice(0, size) for size in shape)


def _finite(model: Model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


class _LogProb(nn.Module):
    """A likelihood's log_prob with its own parameters (a learned σ²) stacked per model."""

    def __init__(self, likelihood: nn.Module) -> None:
        super().__init__()
        self.likelihood = likelihood

    def forward(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.likelihood.log_prob(params, x)  # type: ignore[operator]

    def log_prob(self, params: torch.Tensor, x: torch.Tensor, own: dict[str, torch.Tensor]) -> torch.Tensor:
        """log p(x|z) ``(K, B)`` for decoder outputs ``(K, B, P·D)``; ``own``: name → ``(K, ...)``."""
        if not own:
            return self.likelihood.log_prob(params, x)  # type: ignore[operator]
        k = params.shape[0]
        shaped = {
            f"likelihood.{n}": v.reshape(k, *([1] * (params.dim() - 1)), *v.shape[1:]) for n, v in own.items()
        }
        return functional_call(self, shaped, (params, x))


def _layers(module: nn.Module, prefix: str) -> list[Layer]:
    """The batched layers of an mlp/linear network: stacked linears and its activations."""
    mods = list(module) if isinstance(module, nn.Sequential) else [module]
    names = [f"{prefix}.{i}" for i in range(len(mods))] if isinstance(module, nn.Sequential) else [prefix]
    layers: list[Layer] = []
    for name, m in zip(names, mods, strict=True):
        if isinstance(m, nn.Linear):
            layers.append(_linear(name, isinstance(m, LatentLinear)))
        else:
            layers.append(_activation(m))
    return layers


def _activation(act: nn.Module) -> Layer:
    """An elementwise activation, applied as is to ``(K, B, ·)``."""
    return lambda h, p: act(h)


def _linear(name: str, latent: bool) -> Layer:
    """h ``(B, in)`` (the data, shared) or ``(K, B, in)`` → ``(K, B, out)`` with weights ``(K, out, in)``."""

    def apply(h: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        w, b = p[f"{name}.weight"], p[f"{name}.bias"]
        if latent:  # LatentLinear: full precision under autocast
            with torch.autocast(h.device.type, enabled=False):
                return _matmul(h.to(w.dtype), w, b)
        return _matmul(h, w, b)

    return apply


def _matmul(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    k, out, _ = w.shape
    if h.dim() == 2:  # the data, shared by all K: a stride-0 view, no copy
        # (one wide (B, in) @ (in, K·out) matmul was as fast but not bit-identical to fit)
        h = h.expand(k, *h.shape)  # (K, B, in)
    dtype = torch.get_autocast_dtype(h.device.type) if torch.is_autocast_enabled(h.device.type) else None
    if dtype is not None:  # what autocast does for nn.Linear: h, W and b in low precision
        h, w, b = h.to(dtype), w.to(dtype), b.to(dtype)
    return _BatchedLinear.apply(h, w, b)  # (K, B, out)


class _BatchedLinear(torch.autograd.Function):
    """K linear layers ``h @ Wᵀ + b`` whose weight gradient is ``gᵀ @ h``, as nn.Linear's.

    Autograd's bmm backward would form ``(hᵀ @ g)ᵀ`` instead, which sums in another
    order for some shapes; this keeps each model's gradient bit-identical to `fit`'s.
    """

    @staticmethod
    def forward(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # (K, B, out)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        h, w, _ = inputs
        ctx.save_for_backward(h, w)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # g: (K, B, out)
        h, w = ctx.saved_tensors
        grad_h = torch.bmm(g, w) if ctx.needs_input_grad[0] else None  # (K, B, in)
        grad_w = torch.bmm(g.transpose(1, 2), h) if ctx.needs_input_grad[1] else None  # (K, out, in)
        grad_b = g.sum(1) if ctx.needs_input_grad[2] else None  # (K, out)
        return grad_h, grad_w, grad_b
