"""Importance-sampled log-likelihood: the IWAE bound L_K (Burda et al. 2015).

For each x, draw z_k ~ q(z|x), k = 1..K, and weigh each by
w_k = p(x|z_k) p(z_k) / q(z_k|x). Then

    L_K(x) = log (1/K) Σ_k w_k ≤ log p(x),

and L_K → log p(x) as K grows (L_1 is the ELBO). The sum runs over chunks of
samples and of data, with a running (max, sum-of-exp) logsumexp in float64, so
memory stays bounded whatever K is; the networks run in fp32 (or bf16 autocast
on request) under `torch.inference_mode`.

For the common case, an MLP decoder with Bernoulli pixels, one decode batch is a
single function of (μ, σ, ε, x) with the weights cast once per call rather than
once per batch: z = μ + σε, the layers, log p(x|z) with one logarithm per group of
pixels (`vaelab.core.likelihoods.bernoulli_log_prob_fused`) and the log weight. On
large jobs `torch.compile` turns its element-wise work into a few fused loops
around the matmuls, and on a CPU with several threads the data chunks are shared
among that many workers, each a single-threaded C++ graph that runs without
Python's lock (``benchmarks/iw_eval.py`` measures it).

Each data chunk draws its ε from a stream of its own, seeded from the caller's
generator, so the estimate does not depend on how many workers ran.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vaelab.core.likelihoods import Bernoulli, bernoulli_log_prob_fused
from vaelab.core.models import VAE, HierarchicalVAE
from vaelab.core.networks import ACTIVATIONS, LatentLinear
from vaelab.errors import ConfigError


@dataclass
class ImportanceEstimate:
    """Per-example results of `iw_log_likelihood`, in nats, each ``(N,)`` float64."""

    log_likelihood: np.ndarray  # L_K(x): log (1/K) Σ_k w_k
    reconstruction: np.ndarray  # −(1/K) Σ_k log p(x|z_k): Monte-Carlo distortion
    log_weight_mean: np.ndarray  # (1/K) Σ_k log w_k: a K-sample Monte-Carlo ELBO
    log_weight_std: np.ndarray  # std over k of log w_k (how peaked the weights are)
    n_samples: int  # K

    @property
    def mean(self) -> float:
        """Mean L_K over examples."""
        return float(self.log_likelihood.mean())

    @property
    def standard_error(self) -> float:
        """Standard error of `mean` over examples: std / √N."""
        n = len(self.log_likelihood)
        return float(self.log_likelihood.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in d.items()}


CACHE_MB = 8.0  # default activation budget of one decode batch on a CPU: about its L2 cache
DEVICE_MB = 1024.0  # on a GPU: batches large enough that kernel launches do not dominate


def default_memory_mb(device: torch.device) -> float:
    """The decode batch's budget where none is given: `CACHE_MB` on a CPU, `DEVICE_MB` elsewhere."""
    return CACHE_MB if device.type == "cpu" else DEVICE_MB


def chunk_sizes(n_data: int, n_samples: int, width: int, memory_mb: float = CACHE_MB) -> tuple[int, int]:
    """(data chunk, sample chunk) whose activations fit in ``memory_mb``.

    ``width`` is the floats one (sample, example) pair keeps alive at once
    (decoder widths + output). Each step decodes sample chunk × data chunk codes
    as one batch. The default budget keeps a batch of a few hundred rows, small
    enough to stay in the CPU cache (``benchmarks/iw_eval.py --memory-mb M``
    times other budgets).

    Examples
    --------
    >>> chunk_sizes(10_000, 5000, width=2000, memory_mb=512)
    (6, 5000)
    >>> chunk_sizes(10_000, 5000, width=2000)
    (1, 500)
    """
    budget = max(1, int(memory_mb * 2**20 / (4 * 2 * width)))  # fp32, ×2 for temporaries
    s = min(n_samples, budget)
    s = math.ceil(n_samples / math.ceil(n_samples / s))  # equal chunks: one compiled shape
    b = max(1, min(n_data, budget // s))
    return b, s


COMPILE_MIN_PAIRS = 20_000_000  # (example, sample) pairs from which torch.compile pays for itself

# (μ, σ, ε, x, generator) → (log weights, log p(x|z)); the generator draws whatever else a step samples
Step = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator | None],
    tuple[torch.Tensor, torch.Tensor],
]


_ACT_NAMES = {cls: name for name, cls in ACTIVATIONS.items()}
_ACT_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "elu": F.elu,
    "silu": F.silu,
    "softplus": F.softplus,
    "leaky_relu": F.leaky_relu,
}  # the functional form of each module `vaelab.core.networks.activation` builds (default arguments)


def _mlp_layers(model: VAE, low: torch.dtype | None) -> list[tuple] | None:
    """The decoder as (weight, bias, activation) triples with weights cast once, or None.

    Only for one stochastic layer (not a `HierarchicalVAE`) with an ``nn.Sequential``
    of linear layers and vaelab's activations ahead of a Bernoulli likelihood. Each
    layer's matmul gets the dtype autocast to ``low`` would give it: `LatentLinear`
    layers stay in the model's own precision (fp32, or float64 for a float64 model),
    the others run in ``low``; biases stay in the model's precision. Without ``low``
    every layer keeps the model's precision.
    """
    dec = model.decoder
    if (
        isinstance(model, HierarchicalVAE)
        or not isinstance(model.likelihood, Bernoulli)
        or not isinstance(dec, nn.Sequential)
    ):
        return None
    layers: list[list] = []
    for m in dec:
        if isinstance(m, nn.Linear):
            dtype = m.weight.dtype if low is None or isinstance(m, LatentLinear) else low
            bias = None if m.bias is None else m.bias.detach()  # added after the matmul, in full precision
            layers.append([m.weight.detach().to(dtype), bias, None])
        elif type(m) in _ACT_NAMES and layers and layers[-1][2] is None:
            layers[-1][2] = _ACT_NAMES[type(m)]
        else:
            return None
    if not layers or layers[-1][2] is not None:
        return None
    return [tuple(layer) for layer in layers]


def _bernoulli_mlp_step(
    mu: torch.Tensor,
    std: torch.Tensor,
    eps: torch.Tensor,
    x: torch.Tensor,
    layers: list[tuple],
    fused: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log weight without its per-example constant, and log p(x|z): each ``(k, b)`` fp32.

    ``fused`` computes log p(x|z) with `bernoulli_log_prob_fused`: one pass when
    compiled, but more passes than `Bernoulli.log_prob` when run eagerly.
    """
    z = torch.addcmul(mu, std, eps)  # (k, b, Z)
    h = z.flatten(0, 1)  # (k·b, Z)
    for weight, bias, act in layers:
        h = torch.mm(h.to(weight.dtype), weight.t())
        if bias is not None:
            h = h + bias  # fused into what reads h next (compiled), not a pass of its own
        if act is not None:
            h = _ACT_FUNCTIONS[act](h)
    logits = h.view(*z.shape[:2], -1)  # (k, b, D)
    log_px = (
        bernoulli_log_prob_fused(logits, x) if fused else Bernoulli().log_prob(logits.to(mu.dtype), x)
    )  # (k, b), in the codes' precision: fp32, or float64 for a float64 model
    # log p(z) − log q(z|x) = ½ Σ (ε² − z² + log σ²): the σ part is one constant per x
    return log_px + 0.5 * (eps.square() - z.square()).sum(-1), log_px


_compiled_steps: dict[bool, Callable] = {}


def _compiled_bernoulli_mlp_step(threaded: bool) -> Callable:
    """`_bernoulli_mlp_step` under `torch.compile`; ``threaded``: for one of several workers.

    A worker's graph is C++ from end to end (inductor's ``cpp_wrapper``, which lets go of
    Python's lock while it runs) and single-threaded, so the workers share the cores
    without waiting on each other.
    """
    if threaded not in _compiled_steps:
        options: dict[str, str | int | bool | Callable] | None = (
            {"cpp_wrapper": True, "cpp.threads": 1} if threaded else None
        )
        _compiled_steps[threaded] = torch.compile(_bernoulli_mlp_step, options=options)
    return _compiled_steps[threaded]


def _step(
    model: VAE, layers: list[tuple] | None, autocast: torch.dtype | None, compile: bool, threaded: bool
) -> Step:
    """The function that decodes one batch of codes into (log weights, log p(x|z)).

    ``layers``: `_mlp_layers` of the model, or None for the model's own modules. The log
    weights leave out ½ Σ log σ² of q(z|x), which the caller adds once per example.
    """
    if isinstance(model, HierarchicalVAE):

        def hierarchical(mu, std, eps, x, generator):
            with torch.autocast(
                mu.device.type, dtype=autocast or torch.float32, enabled=autocast is not None
            ):
                lw, log_px = model.log_weights(mu, std, eps, x, generator)
            return lw.float() - torch.log(std).sum(-1), log_px.float()

        return hierarchical
    if layers is not None and compile:
        fns = [_compiled_bernoulli_mlp_step(threaded)]

        def step(mu, std, eps, x, generator):
            try:
                return fns[0](mu, std, eps, x, layers, True)
            except Exception as exc:  # no C++ compiler, an unsupported platform: run eagerly
                if fns[0] is _bernoulli_mlp_step:
                    raise
                warnings.warn(
                    f"torch.compile failed ({type(exc).__name__}: {exc}); running eagerly", stacklevel=2
                )
                fns[0] = _bernoulli_mlp_step
                return _bernoulli_mlp_step(mu, std, eps, x, layers)

        return step
    if layers is not None:
        return lambda mu, std, eps, x, generator: _bernoulli_mlp_step(mu, std, eps, x, layers)

    def generic(mu, std, eps, x, generator):
        z = torch.addcmul(mu, std, eps)  # (k, b, Z)
        with torch.autocast(mu.device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            params = model.decode(z)  # (k, b, P·D)
        log_px = model.likelihood.log_prob(params.to(mu.dtype), x)  # (k, b)
        return (eps.square() - z.square()).sum(-1).mul_(0.5).add_(log_px), log_px

    return generic


@torch.inference_mode()
def iw_log_likelihood(
    model: VAE,
    x: torch.Tensor,
    n_samples: int = 5000,
    *,
    memory_mb: float | None = None,
    data_chunk: int | None = None,
    sample_chunk: int | None = None,
    autocast: torch.dtype | None = None,
    generator: torch.Generator | None = None,
    compile: bool | None = None,
    workers: int | None = None,
) -> ImportanceEstimate:
    """Per-example importance-sampled log p(x) of a VAE: the IWAE bound L_K.

    Parameters
    ----------
    model : VAE
        Any model with ``posterior(x) -> (mu, log_var)``, ``decode(z)`` and a
        ``likelihood`` whose ``log_prob`` takes leading sample dimensions.
    x : Tensor, shape (N, D)
        Data on the model's device, as the model sees it (binarized where
        the model was trained on binarized data).
    n_samples : int
        K, the number of importance samples per example (1 gives the ELBO).
    memory_mb : float
        Activation budget of one decode batch, used to choose the chunk sizes
        when not given. Default: `default_memory_mb` of the data's device, which
        fits the CPU cache on a CPU (see `chunk_sizes`) and is far larger on a GPU.
    data_chunk, sample_chunk : int, optional
        Examples and samples decoded together in one batch of
        ``sample_chunk × data_chunk`` codes.
    autocast : torch.dtype, optional
        Run the networks under autocast to this dtype (e.g. ``torch.bfloat16``).
        The weights' log-densities are always summed in fp32 and accumulated in
        float64. Default: plain fp32.
    generator : torch.Generator, optional
        Seeds the ε draws, for reproducible estimates: one seed per data chunk is
        drawn from it (default: from torch's global generator), and each chunk
        draws its ε from a generator of its own with that seed.
    compile : bool, optional
        Compile the decode step with `torch.compile` (MLP decoders with Bernoulli
        pixels only; others always run eagerly). Default: when the job has at least
        `COMPILE_MIN_PAIRS` (example, sample) pairs and the device is a CPU, so
        the seconds of compiling are a small part of the run. The estimate is the
        same either way, to float32 rounding.
    workers : int, optional
        Threads that share the data chunks, each running the compiled decode step
        single-threaded (with ``compile`` on a CPU, for the MLP decoders with
        Bernoulli pixels that it covers; elsewhere 1). Default: torch's
        intra-op thread count. The estimate does not depend on it, up to float32
        rounding of the matmuls.

    Returns
    -------
    ImportanceEstimate
        Per-example L_K, Monte-Carlo reconstruction term and K-sample ELBO.

    Examples
    --------
    >>> from vaelab.core.models import VAE, ModelConfig
    >>> vae = VAE(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(8,)))
    >>> x = torch.bernoulli(torch.full((4, 6), 0.5))
    >>> est = iw_log_likelihood(vae, x, n_samples=50)
    >>> est.log_likelihood.shape, bool((est.log_likelihood >= est.log_weight_mean).all())
    ((4,), True)
    """
    if n_samples < 1:
        raise ConfigError(f"n_samples={n_samples} must be >= 1")
    if x.ndim != 2:
        raise ConfigError(f"x must be flat (N, D), got shape {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    n, d = x.shape
    c = model.config
    width = (
        d * model.likelihood.n_params
        + 2 * sum(c.hidden)
        + c.latent_dim
        + 2 * sum(c.hidden2)
        + 3 * c.latent_dim2
    )
    device = x.device
    b_auto, s_auto = chunk_sizes(n, n_samples, width, memory_mb or default_memory_mb(device))
    b, s = data_chunk or b_auto, sample_chunk or s_auto
    if compile is None:
        compile = device.type == "cpu" and n * n_samples >= COMPILE_MIN_PAIRS
    starts = list(range(0, n, b))
    # one seed per data chunk, so that the draws do not depend on which worker runs which chunk
    seeds = torch.randint(
        0, 2**62, (len(starts),), generator=generator, device=generator.device if generator else "cpu"
    ).tolist()
    layers = _mlp_layers(model, autocast)
    # workers only where the step is the compiled MLP one, which runs without Python's lock
    parallel = compile and device.type == "cpu" and layers is not None
    workers = min(workers or torch.get_num_threads(), len(starts)) if parallel else 1
    step = _step(model, layers, autocast, compile, threaded=workers > 1)
    out = {k: torch.empty(n, dtype=torch.float64) for k in ("ll", "rec", "mean", "std")}

    def chunk(i: int, seed: int) -> None:
        """L_K and its companions for the examples ``i : i + b``, written into ``out``."""
        gen = torch.Generator(device=device).manual_seed(seed)
        xb = x[i : i + b]  # (b, D)
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            mu, log_var = model.posterior(xb)
        if autocast is not None:
            mu, log_var = mu.float(), log_var.float()  # (b, Z)
        std = torch.exp(0.5 * log_var)
        log_ratio_const = (0.5 * log_var.sum(-1)).double()  # (b,)
        # log weights wait in a float64 buffer (≤ 16 MB) and fold into running sums
        # when it is full: a few large reductions instead of many small ones per chunk
        hold = max(s, min(n_samples, 2**20 // len(xb)))
        lw_buf = torch.empty((hold, len(xb)), dtype=torch.float64, device=device)
        px_buf = torch.empty_like(lw_buf)
        acc = _Running(len(xb), device)
        filled = 0
        for j in range(0, n_samples, s):
            k = min(s, n_samples - j)
            if filled + k > hold:
                acc.fold(lw_buf[:filled], px_buf[:filled], log_ratio_const)
                filled = 0
            eps = torch.randn((k, *mu.shape), generator=gen, device=device, dtype=mu.dtype)  # (k, b, Z)
            lw, log_px = step(mu, std, eps, xb, gen)  # (k, b) each
            px_buf[filled : filled + k] = log_px
            lw_buf[filled : filled + k] = lw
            filled += k
        acc.fold(lw_buf[:filled], px_buf[:filled], log_ratio_const)
        mean_lw = acc.sum_lw / n_samples
        out["ll"][i : i + b] = (torch.log(acc.sum_exp) + acc.max - math.log(n_samples)).cpu()
        out["rec"][i : i + b] = (-acc.sum_px / n_samples).cpu()
        out["mean"][i : i + b] = mean_lw.cpu()
        var = (acc.sum_lw2 / n_samples - mean_lw.pow(2)).clamp(min=0)
        out["std"][i : i + b] = var.sqrt().cpu()

    if workers == 1:
        for i, seed in zip(starts, seeds, strict=True):
            chunk(i, seed)
    else:
        _run_in_workers(chunk, list(zip(starts, seeds, strict=True)), workers)
    model.train(was_training)
    return ImportanceEstimate(
        out["ll"].numpy(),
        out["rec"].numpy(),
        out["mean"].numpy(),
        out["std"].numpy(),
        n_samples,
    )


def _run_in_workers(chunk: Callable[[int, int], None], jobs: list[tuple[int, int]], workers: int) -> None:
    """``chunk(*job)`` for every job, shared among ``workers`` single-threaded threads.

    torch runs one thread per operation meanwhile (restored afterwards); the first
    job runs here first, so that the compiled step is built once, before the others start.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        chunk(*jobs[0])
        rest = jobs[1:]

        def work(w: int) -> None:
            torch.set_num_threads(1)  # this thread's own OpenMP setting
            with torch.inference_mode():  # grad mode is per thread
                for job in rest[w::workers]:
                    chunk(*job)

        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(work, w) for w in range(workers)]:
                f.result()  # re-raises a worker's error here
    finally:
        torch.set_num_threads(threads)


class _Running:
    """Per-example running sums over importance samples, in float64.

    ``max`` and ``sum_exp`` form a streaming logsumexp: log Σ_k e^{lw_k} =
    log(sum_exp) + max, rescaled whenever a larger weight arrives.
    """

    def __init__(self, b: int, device: torch.device) -> None:
        self.max = torch.full((b,), -math.inf, dtype=torch.float64, device=device)
        zeros = torch.zeros(b, dtype=torch.float64, device=device)
        self.sum_exp, self.sum_px, self.sum_lw, self.sum_lw2 = (zeros.clone() for _ in range(4))

    def fold(self, lw: torch.Tensor, log_px: torch.Tensor, const: torch.Tensor) -> None:
        """Add the log weights ``lw + const`` and the ``log_px`` of some samples, ``(k, b)``."""
        lw = lw + const
        new_max = torch.maximum(self.max, lw.max(0).values)
        self.sum_exp = self.sum_exp * torch.exp(self.max - new_max) + torch.exp(lw - new_max).sum(0)
        self.max = new_max
        self.sum_px += log_px.sum(0)
        self.sum_lw += lw.sum(0)
        self.sum_lw2 += lw.square().sum(0)
