"""Run every measurement the explainer page shows, stage by stage.

`run_explain` trains what the storyline needs (PCA, a 2-D AE and VAE, a VAE with
a larger latent, a small β sweep, a linear VAE against pPCA), measures each
step, and returns one JSON-serialisable report dict. Arrays the page draws
(codes, images, decoder weights) go into ``report["arrays"]``; the HTML embeds
them, explain.json keeps only the numbers the text states.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from vaelab.core.config import ModelConfig, default_likelihood
from vaelab.core.inference import as_flat_tensor, elbo_terms
from vaelab.core.models import build_model, linear_vae_config
from vaelab.data import Dataset
from vaelab.errors import ConfigError, DataError
from vaelab.experiments import curse
from vaelab.runs.run import DataSpec, load_data
from vaelab.training.config import TrainConfig
from vaelab.training.loop import fit
from vaelab.training.threads import default_num_threads, torch_threads

PRESETS = ("quick", "default", "full")

# Gradient steps per model for each preset; epochs follow from the data size.
_STEPS = {
    "quick": {"2d": 150, "big": 150, "sweep": 60, "linear": 150, "iw_k": 64},
    "default": {"2d": 1500, "big": 1500, "sweep": 500, "linear": 800, "iw_k": 500},
    "full": {"2d": 12000, "big": 12000, "sweep": 4000, "linear": 4000, "iw_k": 1000},
}
BETAS = (0.1, 0.3, 1.0, 3.0, 10.0)
CURSE_DIMS = (1, 2, 3, 5, 8, 10, 20, 30, 50, 100, 200, 300, 500, 1000)
RANK_TOL = 1e-6  # a principal variance below this share of the largest counts as zero


@dataclass
class ExplainConfig:
    """What `run_explain` measures and how hard it trains."""

    source: str = "digits"  # dataset name or path (see vaelab.data.load_dataset)
    data_dir: str | None = None  # local directory of a named dataset
    shape: tuple[int, ...] | None = None  # read flat rows as images of this shape
    preset: str = "default"  # "quick" (tests), "default" (≈2 min on digits), "full"
    seed: int = 0
    max_train: int | None = None  # subsample the training set (None: quick/default cap)
    max_test: int = 1000  # test examples used for log p(x) and the metrics

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset={self.preset!r} must be one of {PRESETS}")
        if self.max_test < 10:
            raise ConfigError(f"max_test={self.max_test} must be >= 10")


Progress = Callable[[str, str], None]  # (stage, message)


def _optional(module: str):
    """A sibling module that may not exist yet (its feature is then reported unavailable)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _subset(ds: Dataset, n: int | None, seed: int) -> Dataset:
    if n is None or len(ds) <= n:
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False))
    y = None if ds.y is None else ds.y[idx]
    return Dataset(ds.x[idx], y, ds.sample_shape, ds.kind, ds.name, ds.meta)


def _likelihood(ds: Dataset) -> str:
    return default_likelihood(ds.kind, real="gaussian-learned")


def _epochs(steps: int, n: int, batch: int) -> int:
    return max(1, math.ceil(steps / max(1, math.ceil(n / batch))))


def _train(cfg: ModelConfig, train: Dataset, steps: int, seed: int, progress: bool):
    torch.manual_seed(seed)
    model = build_model(cfg)
    batch = 128
    tc = TrainConfig(epochs=_epochs(steps, len(train), batch), batch_size=batch, lr=2e-3,
                     lr_schedule="cosine", seed=seed, device="cpu")
    hist = fit(model, train, tc, progress=progress)
    return model.eval(), hist


def _f32(a) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def export_decoder(model: torch.nn.Module) -> dict:
    """The decoder as plain dense layers for the page's JavaScript.

    Parameters
    ----------
    model : VAE or Autoencoder
        With an ``mlp`` or ``linear`` network.

    Returns
    -------
    dict
        ``layers``: list of ``{"w": (out, in) float32 array, "b": (out,) array}``;
        ``activation``; ``output``: "sigmoid" (Bernoulli) or "identity".

    Examples
    --------
    >>> from vaelab.core.models import VAE
    >>> vae = VAE(ModelConfig(input_shape=(6,), latent_dim=2, hidden=(4,)))
    >>> [l["w"].shape for l in export_decoder(vae)["layers"]]
    [(4, 2), (6, 4)]
    """
    cfg = model.config
    if cfg.network not in ("mlp", "linear"):
        raise ConfigError(f"the explainer exports mlp/linear decoders, got network={cfg.network!r}")
    linears = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    d = cfg.n_features
    layers = []
    for i, lin in enumerate(linears):
        w = lin.weight.detach().float().numpy()
        b = lin.bias.detach().float().numpy()
        if i == len(linears) - 1:  # keep only the mean block of the likelihood's parameters
            w, b = w[:d], b[:d]
        layers.append({"w": np.ascontiguousarray(w), "b": np.ascontiguousarray(b)})
    output = "sigmoid" if cfg.likelihood == "bernoulli" else "identity"
    return {"layers": layers, "activation": cfg.activation, "output": output}


@torch.inference_mode()
def _decode(model, z: np.ndarray) -> np.ndarray:
    return model.decode_mean(torch.from_numpy(np.asarray(z, np.float32))).numpy()


@torch.inference_mode()
def _codes(model, x: torch.Tensor) -> np.ndarray:
    return model.code(x).numpy()


def _stage_curse(rep: dict, cfg: ExplainConfig) -> None:
    n = 300 if cfg.preset == "quick" else 500
    conc = curse.distance_concentration(dims=CURSE_DIMS, n_points=n, n_queries=50,
                                        seed=cfg.seed)
    ann = curse.gaussian_annulus(dims=CURSE_DIMS, n_samples=2000, seed=cfg.seed)
    hist = curse.pairwise_distance_histograms(dims=CURSE_DIMS, n_points=n, bins=40,
                                              seed=cfg.seed)
    empt = curse.neighbourhood_emptiness(dims=CURSE_DIMS, n_points=n, n_queries=50,
                                         seed=cfg.seed)
    rep["curse"] = {
        "concentration": conc.to_dict() if hasattr(conc, "to_dict") else asdict(conc),
        "annulus": ann.to_dict() if hasattr(ann, "to_dict") else asdict(ann),
        "histograms": hist.to_dict() if hasattr(hist, "to_dict") else asdict(hist),
        "emptiness": empt.to_dict() if hasattr(empt, "to_dict") else asdict(empt),
    }


def run_explain(cfg: ExplainConfig, on_stage: Progress | None = None,
                progress: bool = False) -> dict:
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
    dict
        JSON-serialisable numbers, plus ``"arrays"`` (numpy arrays for the page).
    """
    # vaelab's thread policy: every core unless others oversubscribe them; each training
    # inside narrows it further (one thread for small networks, see vaelab.training.threads)
    with torch_threads(default_num_threads()):
        return _run(cfg, on_stage or (lambda stage, msg: None), progress)


def _run(cfg: ExplainConfig, say: Progress, progress: bool) -> dict:
    steps = _STEPS[cfg.preset]
    rep: dict = {"config": {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in asdict(cfg).items()},
                 "timings": {}, "unavailable": {}}
    arrays: dict = {}
    t_all = time.perf_counter()

    def stage(name: str, fn: Callable[[], None]) -> None:
        say(name, "start")
        t0 = time.perf_counter()
        fn()
        rep["timings"][name] = round(time.perf_counter() - t0, 2)
        say(name, f"done in {rep['timings'][name]:.1f} s")

    ctx: dict = {}

    def data() -> None:
        spec = DataSpec(source=cfg.source, data_dir=cfg.data_dir, shape=cfg.shape,
                        valid_fraction=0.0, seed=cfg.seed)
        splits = load_data(spec)
        cap = cfg.max_train if cfg.max_train is not None else (
            2000 if cfg.preset == "quick" else 20000 if cfg.preset == "default" else None)
        train = _subset(splits.train, cap, cfg.seed)
        test = _subset(splits.test, cfg.max_test, cfg.seed + 1)
        if len(train) < 20 or len(test) < 10:
            raise ConfigError(f"explain needs >= 20 training and 10 test samples, got "
                              f"{len(train)} and {len(test)}")
        if train.n_features < 2:
            raise DataError(
                f"explain needs samples of at least 2 features, but {train.name} has "
                f"{train.n_features}: there is nothing to reduce (the page compares 2-D "
                f"codes and a linear VAE with fewer latents than features)")
        if not np.ptp(train.x.reshape(len(train), -1), axis=0).any():
            raise DataError(
                f"explain needs data that varies, but all {len(train)} training samples of "
                f"{train.name} are identical: there is nothing to reduce or explain")
        train, test = _drop_single_class(train, test, rep, say)
        ctx.update(train=train, test=test,
                   xtr=as_flat_tensor(train, torch.device("cpu")),
                   xte=as_flat_tensor(test, torch.device("cpu")))
        shape = tuple(train.sample_shape)
        img = shape if len(shape) == 3 else (1, 1, shape[0]) if len(shape) == 1 else (1, *shape)
        lo, hi = float(train.x.min()), float(train.x.max())
        rep["data"] = {"name": train.name or cfg.source, "n_train": len(train),
                       "n_test": len(test), "sample_shape": list(shape),
                       "image_shape": list(img), "n_features": int(ctx["xtr"].shape[1]),
                       "kind": train.kind, "range": [lo, hi],
                       "has_labels": train.y is not None,
                       "likelihood": _likelihood(train)}
        arrays["test_images"] = test.x.reshape(len(test), -1)[:16]

    stage("data", data)
    stage("curse", lambda: _stage_curse(rep, cfg))
    d = rep["data"]["n_features"]

    def pca() -> None:
        xtr, xte = ctx["xtr"].numpy(), ctx["xte"].numpy()
        k_max = int(min(d, len(xtr) - 1, 100))
        p = PCA(n_components=k_max, random_state=cfg.seed).fit(xtr)
        ev = p.explained_variance_
        ctx["rank"] = rank = int((ev > RANK_TOL * ev[0]).sum())  # at most k_max
        if rank < 2:
            raise DataError(
                f"explain needs data that varies in at least 2 directions, but the "
                f"{len(xtr)} training samples of {ctx['train'].name} lie on a line (one "
                f"principal component holds all their variance): a 2-D code and "
                f"probabilistic PCA have nothing to find")
        cum = np.cumsum(p.explained_variance_ratio_)
        ks = sorted({k for k in (1, 2, 5, 10, 20, 50, 100) if k <= k_max})
        mse = {}
        for k in ks:
            z = (xte - p.mean_) @ p.components_[:k].T
            rec = z @ p.components_[:k] + p.mean_
            mse[str(k)] = float(((xte - rec) ** 2).sum(1).mean())
        total_var = float(((xte - p.mean_) ** 2).sum(1).mean())
        k90 = int(np.searchsorted(cum, 0.9) + 1) if cum[-1] >= 0.9 else None
        z2 = (xte[:8] - p.mean_) @ p.components_[:2].T
        arrays["pca_rec2"] = z2 @ p.components_[:2] + p.mean_
        ctx["pca"] = p
        rep["pca"] = {"cumulative_variance": _f32(cum), "k_for_90": k90,
                      "squared_error": mse, "total_squared_distance": total_var,
                      "n_features": d}

    stage("pca", pca)

    def two_d() -> None:
        lik = _likelihood(ctx["train"])
        base = dict(input_shape=(d,), latent_dim=2, hidden=(256, 64) if d > 200 else (128,),
                    likelihood=lik)
        models = {}
        for kind in ("ae", "vae"):
            m, hist = _train(ModelConfig(kind=kind, **base), ctx["train"], steps["2d"],
                             cfg.seed, progress)
            models[kind] = m
        ctx["ae"], ctx["vae2"] = models["ae"], models["vae"]
        n_show = min(len(ctx["train"]), 2000)
        xs = ctx["xtr"][:n_show]
        labels = None if ctx["train"].y is None else ctx["train"].y[:n_show]
        out = {}
        for kind, m in models.items():
            codes = _codes(m, xs)
            terms = elbo_terms(m, ctx["xte"])
            arrays[f"{kind}_codes"] = codes.astype(np.float32)
            arrays[f"{kind}_decoder"] = export_decoder(m)
            sq = float(((m.reconstruct(ctx["xte"]).detach().numpy() - ctx["xte"].numpy()) ** 2)
                       .sum(1).mean())
            out[kind] = {"reconstruction": terms["reconstruction"], "kl": terms["kl"],
                         "squared_error": sq,
                         "code_mean": _f32(codes.mean(0)), "code_std": _f32(codes.std(0)),
                         "code_min": _f32(codes.min(0)), "code_max": _f32(codes.max(0))}
        # PyTorch's own decodings at a few codes: the browser test checks the JS decoder on them.
        check_z = np.random.default_rng(cfg.seed).normal(size=(4, 2)).astype(np.float32)
        arrays["check_z"] = check_z
        for kind, m in models.items():
            arrays[f"check_{kind}"] = _decode(m, check_z)
        arrays["code_labels"] = None if labels is None else np.asarray(labels).astype(np.int32)
        # Two test images for the interpolation slider: the first two with different labels.
        yte = ctx["test"].y
        j = 1
        if yte is not None:
            j = next((i for i in range(1, len(yte)) if yte[i] != yte[0]), 1)
        ends = ctx["xte"][[0, j]]
        arrays["interp_images"] = ends.numpy()
        for kind, m in models.items():
            arrays[f"{kind}_interp_codes"] = _codes(m, ends).astype(np.float32)
        rep["two_d"] = out

    stage("autoencoder and VAE, 2-D", two_d)

    def holes() -> None:
        mod = _optional("vaelab.experiments.holes")
        if mod is None:
            rep["unavailable"]["holes"] = ("vaelab.experiments.holes (issue 5) is not in this build, so the "
                                           "holes measurement was not run")
            return
        n = 300 if cfg.preset == "quick" else 1000
        res = mod.compare_holes({"AE": ctx["ae"], "VAE": ctx["vae2"]}, ctx["train"], ctx["test"],
                                n_samples=n, samplers=("prior", "gmm"), max_reference=5000,
                                seed=cfg.seed)
        out = res.to_dict()
        for m in out["models"]:
            for k, s in m["samplers"].items():
                arrays[f"holes_{m['name']}_{k}"] = np.asarray(s.pop("examples"), np.float32)
        rep["holes"] = out

    stage("holes", holes)

    def objective() -> None:
        lik = _likelihood(ctx["train"])
        zdim = 10 if d <= 100 else 20
        hidden = (256, 128) if d > 200 else (128,)
        cfg_big = ModelConfig(kind="vae", input_shape=(d,), latent_dim=zdim, hidden=hidden,
                              likelihood=lik)
        m, _ = _train(cfg_big, ctx["train"], steps["big"], cfg.seed, progress)
        ctx["vae_big"] = m
        terms = elbo_terms(m, ctx["xte"])
        importance = _optional("vaelab.core.importance")
        res = {"latent_dim": zdim, "hidden": list(hidden),
               "reconstruction": terms["reconstruction"], "kl": terms["kl"],
               "elbo": -terms["loss"]}
        with torch.inference_mode():
            mu, log_var = m.posterior(ctx["xte"])
            kl_dim = 0.5 * (mu**2 + log_var.exp() - log_var - 1)  # (N, Z)
        res["kl_per_dim"] = _f32(kl_dim.mean(0))
        if importance is not None:
            gen = torch.Generator().manual_seed(cfg.seed)
            est = importance.iw_log_likelihood(m, ctx["xte"], n_samples=steps["iw_k"],
                                               generator=gen)
            res.update(log_likelihood=est.mean, log_likelihood_se=est.standard_error,
                       iw_samples=steps["iw_k"],
                       elbo_k=float(est.log_weight_mean.mean()),
                       gap=float(est.mean - est.log_weight_mean.mean()))
            ctx["ll_test"] = est.log_likelihood
        else:
            rep["unavailable"]["log_likelihood"] = "vaelab.core.importance is not in this build"
        res["active_units"] = _active_units(m, ctx["xte"], rep)
        rep["objective"] = res

    stage("VAE with a larger latent: ELBO and log p(x)", objective)

    def linear() -> None:
        # pPCA's noise variance is the mean variance beyond q components: it must be > 0
        q = int(min(rep["objective"]["latent_dim"], d - 1, ctx["rank"] - 1))
        xtr, xte = ctx["xtr"].numpy(), ctx["xte"].numpy()
        p = PCA(n_components=q).fit(xtr)
        exact_test = float(p.score(xte))
        torch.manual_seed(cfg.seed)
        lin = build_model(linear_vae_config(d, q))
        with torch.no_grad():  # start the noise at the data's mean per-feature variance
            lin.likelihood.log_var.fill_(math.log(max(float(xtr.var(0).mean()), 1e-6)))
        train_real = Dataset(ctx["train"].x, ctx["train"].y, ctx["train"].sample_shape, "real",
                             ctx["train"].name)
        tc = TrainConfig(epochs=_epochs(steps["linear"], len(train_real), 128), batch_size=128,
                         lr=1e-2, lr_schedule="cosine", seed=cfg.seed, device="cpu")
        fit(lin, train_real, tc, progress=progress)
        lin.eval()
        terms = elbo_terms(lin, ctx["xte"])
        res = {"latent_dim": q, "ppca_log_likelihood": exact_test,
               "ppca_sigma2": float(p.noise_variance_),
               "linear_vae_elbo": -terms["loss"],
               "linear_vae_sigma2": float(lin.likelihood.log_var.detach().exp()),
               "gap_to_exact": exact_test - (-terms["loss"])}
        importance = _optional("vaelab.core.importance")
        if importance is not None:
            est = importance.iw_log_likelihood(lin, ctx["xte"], n_samples=steps["iw_k"],
                                               generator=torch.Generator().manual_seed(cfg.seed))
            res["linear_vae_iw_log_likelihood"] = est.mean
        rep["linear"] = res

    stage("linear VAE against pPCA", linear)

    def sweep() -> None:
        lik = _likelihood(ctx["train"])
        zdim = rep["objective"]["latent_dim"]
        hidden = tuple(rep["objective"]["hidden"])
        rows = []
        samples = []
        gen_z = torch.Generator().manual_seed(cfg.seed + 7)
        z_fixed = torch.randn(16, zdim, generator=gen_z)
        for beta in BETAS:
            if beta == 1.0:
                m = ctx["vae_big"]
            else:
                mc = ModelConfig(kind="vae", input_shape=(d,), latent_dim=zdim, hidden=hidden,
                                 likelihood=lik, beta=beta)
                m, _ = _train(mc, ctx["train"], steps["sweep"], cfg.seed, progress)
            terms = elbo_terms(m, ctx["xte"])
            with torch.inference_mode():
                mu, log_var = m.posterior(ctx["xte"])
                kl_dim = (0.5 * (mu**2 + log_var.exp() - log_var - 1)).mean(0)
                samples.append(m.decode_mean(z_fixed).numpy())
                spread = float(m.reconstruct(ctx["xte"]).std(0).mean())
            rows.append({"beta": beta, "rate": terms["kl"], "distortion": terms["reconstruction"],
                         "elbo": -terms["loss"], "active_units": int((kl_dim > 0.01).sum()),
                         "reconstruction_spread": spread})
        data_spread = float(ctx["xte"].std(0).mean())
        arrays["sweep_samples"] = np.stack(samples)
        rep["sweep"] = {"latent_dim": zdim, "rows": rows, "data_spread": data_spread,
                        "active_rule": "mean KL of the unit over test data > 0.01 nats"}

    stage("β sweep", sweep)

    def generation() -> None:
        latent = _optional("vaelab.experiments.latent")
        n = 15
        if latent is None:
            rep["unavailable"]["quantile_grid"] = "vaelab.experiments.latent is not in this build"
            return
        grid = latent.quantile_grid(ctx["vae2"], n=n)
        arrays["quantile_grid"] = grid.x.astype(np.float32)
        arrays["ae_grid"] = _decode(ctx["ae"], grid.z)
        rep["generation"] = {"grid_size": n, "quantile_min": float(grid.quantiles[0]),
                             "quantile_max": float(grid.quantiles[-1])}

    stage("generation", generation)

    def compare() -> None:
        mod = _optional("vaelab.experiments.compare")
        if mod is None:
            rep["unavailable"]["compare"] = ("vaelab.experiments.compare (issue 5) is not in this build, so "
                                             "the kNN / trustworthiness comparison was not run")
        else:
            rep["compare"] = _call_compare(mod, ctx, cfg)
        codes = {"pixels": ctx["xte"].numpy(),
                 "PCA (2-D)": ctx["pca"].transform(ctx["xte"].numpy())[:, :2],
                 f"VAE ({rep['objective']['latent_dim']}-D)": _codes(ctx["vae_big"], ctx["xte"])}
        rc = curse.representation_contrast(codes, n_queries=min(200, len(ctx["xte"])),
                                           seed=cfg.seed)
        rep["representation_contrast"] = rc.to_dict() if hasattr(rc, "to_dict") else asdict(rc)
        if "ll_test" in ctx:
            rng = np.random.default_rng(cfg.seed)
            x = ctx["xte"].numpy()
            shuffled = np.take_along_axis(x, rng.permuted(np.tile(np.arange(d), (len(x), 1)),
                                                          axis=1), 1)
            importance = _optional("vaelab.core.importance")
            est = importance.iw_log_likelihood(
                ctx["vae_big"], torch.from_numpy(shuffled.astype(np.float32)),
                n_samples=steps["iw_k"], generator=torch.Generator().manual_seed(cfg.seed))
            real = ctx["ll_test"]
            thr = float(np.quantile(real, 0.01))
            rep["typicality"] = {
                "real_mean": float(real.mean()), "shuffled_mean": est.mean,
                "threshold_1pct": thr,
                "shuffled_below_threshold": float((est.log_likelihood < thr).mean())}

    stage("what you end up with", compare)
    rep["timings"]["total"] = round(time.perf_counter() - t_all, 2)
    rep["arrays"] = arrays
    return rep


def _drop_single_class(train: Dataset, test: Dataset, rep: dict,
                       say: Progress) -> tuple[Dataset, Dataset]:
    """Labels of one class separate nothing: drop them, and say so in the report."""
    if train.y is None:
        return train, test
    classes = np.unique(train.y)
    if len(classes) >= 2:
        return train, test
    reason = (f"all {len(train)} training samples have the label {int(classes[0])}: kNN "
              "accuracy and the classifier of the holes measurement need at least 2 classes, "
              "so the labels were not used")
    rep["unavailable"]["labels"] = reason
    say("data", reason)
    return (Dataset(train.x, None, train.sample_shape, train.kind, train.name, train.meta),
            Dataset(test.x, None, test.sample_shape, test.kind, test.name, test.meta))


def _active_units(model, x: torch.Tensor, rep: dict) -> dict | None:
    mod = _optional("vaelab.experiments.latent")
    fn = getattr(mod, "active_units", None) if mod is not None else None
    if fn is None:
        rep["unavailable"]["active_units"] = "vaelab.evaluate.active_units is not in this build"
        return None
    out = fn(model, x.numpy())
    return out.to_dict() if hasattr(out, "to_dict") else out


def _call_compare(mod, ctx: dict, cfg: ExplainConfig) -> dict:
    """kNN accuracy and trustworthiness of 2-D codes: vaelab.experiments.compare.compare_methods."""
    quick = cfg.preset == "quick"
    methods = ("pca", "ae", "vae") if quick else ("pca", "ae", "vae", "tsne")
    res = mod.compare_methods(ctx["train"], ctx["test"], n_components=2, methods=methods,
                              epochs=3 if quick else 8, max_train=2000 if quick else 5000,
                              max_test=300 if quick else 1000, seed=cfg.seed)
    out = res.to_dict() if hasattr(res, "to_dict") else asdict(res)
    out.pop("labels", None)
    for m in out.get("methods", {}).values():
        m.pop("codes", None)
    return out
