"""`run_explain`: the storyline's stages, composed in order.

Each stage is a function of `vaelab.report.explain._stages` that returns a typed
result; this module only runs them in order, times them and reports progress.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, TypeVar

from vaelab.report.explain import _stages as st
from vaelab.report.explain._config import ExplainConfig
from vaelab.report.explain._lab import lab_stage
from vaelab.report.explain._schema import ExplainReport
from vaelab.training.runtime import resolve_device
from vaelab.training.threads import default_num_threads, torch_threads

Progress = Callable[[str, str], None]  # (stage, message)
T = TypeVar("T")


class _Clock:
    """Runs stages, says when each starts and ends, and keeps their timings."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[..., T], *args: Any, announce: bool = True) -> T:
        if announce:
            self.say(name, "start")
        t0 = time.perf_counter()
        out = fn(*args)
        self.timings[name] = round(time.perf_counter() - t0, 2)
        self.say(name, f"done in {self.timings[name]:.1f} s")
        return out


def run_explain(
    cfg: ExplainConfig, on_stage: Progress | None = None, progress: bool = False
) -> ExplainReport:
    """Train and measure everything the explainer shows.

    Parameters
    ----------
    cfg : ExplainConfig
    on_stage : callable, optional
        Called as ``on_stage(stage, message)`` when a stage starts and ends.
    progress : bool
        Show training progress bars.

    Returns
    -------
    ExplainReport
        One typed result per stage; ``to_dict()`` gives the numbers of explain.json.

    Raises
    ------
    DataError
        For data the explainer cannot teach with (constant, one feature, on a line).
    """
    # vaelab's thread policy: every core unless others oversubscribe them; each training
    # inside narrows it further (one thread for small networks, see vaelab.training.threads)
    with torch_threads(default_num_threads()):
        return _run(cfg, on_stage or (lambda stage, msg: None), progress)


def _run(cfg: ExplainConfig, say: Progress, progress: bool) -> ExplainReport:
    t_all = time.perf_counter()
    # where the models train, settled before any work: explain.json records "cpu" or "cuda"
    cfg = dataclasses.replace(cfg, device=resolve_device(cfg.device).type)
    stage = _Clock(say)
    unavailable: dict[str, str] = {}
    # silent until the data is accepted, so refused data prints its one error line alone
    data, summary, dropped = stage("data", st.load_stage, cfg, announce=False)
    if dropped is not None:
        unavailable["labels"] = dropped
        say("data", dropped)
    curse = stage("curse", st.curse_stage, cfg)
    pca, pca_model = stage("pca", st.pca_stage, data, cfg)
    two_d, ae, vae2 = stage("autoencoder and VAE, 2-D", st.two_d_stage, data, cfg)
    holes = stage("holes", st.holes_stage, data, ae, vae2, cfg)
    larger = stage(
        "the larger models (every β, the autoencoder, the Gaussian VAE), one batched pass",
        st.larger_models_stage,
        data,
        pca.rank,
        cfg,
    )
    betas, records = larger.betas, larger.records
    vae = betas[st.BETAS.index(1.0)]  # step 6's VAE is the sweep's β = 1
    objective, ll_test = stage(
        "ELBO and log p(x)", st.objective_stage, data, vae, records[st.BETAS.index(1.0)], cfg
    )
    holes_large = stage("holes with larger codes", st.holes_large_stage, data, larger.ae, vae, cfg)
    linear = stage(
        "pPCA against a linear and a non-linear VAE",
        st.linear_stage,
        data,
        pca.rank,
        objective,
        vae,
        larger.gaussian,
        cfg,
        progress,
    )
    sweep = stage("β sweep", st.sweep_stage, data, betas, larger.sweep_seconds, cfg)
    training = {
        "2-D AE": two_d.ae.training,
        "2-D VAE": two_d.vae.training,
        f"AE, {objective.latent_dim} latents": larger.ae_record,
        **{f"VAE, β = {b:g}": r for b, r in zip(st.BETAS, records, strict=True)},
    }
    if not linear.nonlinear.is_objective_model:
        training["Gaussian VAE"] = linear.nonlinear.training
    generation = stage("generation", st.generation_stage, ae, vae2)

    def result():
        return (
            st.compare_stage(data, ae, vae2, cfg),
            st.contrast_stage(data, pca_model, vae, cfg),
            st.typicality_stage(data, vae, ll_test, cfg),
        )

    compare, contrast, typicality = stage("what you end up with", result)
    lab = stage("lab data", lab_stage, data, cfg)
    for key, m in compare.methods.items():
        if not m.available:  # an optional package (umap-learn) that is not installed
            unavailable[key] = f"{m.label} was not run ({'; '.join(m.notes)})"
    stage.timings["total"] = round(time.perf_counter() - t_all, 2)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    return ExplainReport(
        config,
        summary,
        curse,
        pca,
        two_d,
        holes,
        holes_large,
        objective,
        linear,
        sweep,
        generation,
        compare,
        contrast,
        typicality,
        stage.timings,
        training,
        unavailable,
        lab=lab,
    )
