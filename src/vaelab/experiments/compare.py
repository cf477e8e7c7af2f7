"""Dimensionality reduction side by side: PCA, AE, VAE, t-SNE and UMAP on the same data.

Storyline step 9: what a VAE ends up being is a dimensionality reducer, so measure it
as one, next to the linear answer (PCA), its deterministic sibling (an autoencoder
with the same networks) and the 2-D visualisation methods people reach for (t-SNE,
UMAP). Every method maps the same training and test samples to ``n_components``
numbers, and `compare_methods` measures, per method:

- ``reconstruction_mse``: mean squared error per feature on the data scale, on the
  test set, where the method can map codes back (PCA ``inverse_transform``, the AE
  and VAE decoders); ``None`` with the reason otherwise;
- ``knn_accuracy``: a k-nearest-neighbour classifier fitted on the training codes
  and scored on the test codes, for each k in ``knn_k``;
- ``trustworthiness``: `sklearn.manifold.trustworthiness` of the test codes against
  the test samples (are a code's neighbours neighbours in the data too?), on a
  subsample;

(these two are `code_scores`, which `vaelab.evaluate` uses for a model's latent means too)
- ``fit_seconds`` and ``transform_seconds`` (encoding the test set, i.e. new points);
- the test ``codes`` themselves, for the scatter plot and for `vaelab.experiments.curse`.

t-SNE cannot embed new points. Rather than hide it, it is run *transductively*: the
training and test samples are embedded together (labels unused), the kNN classifier is
fitted on the training part and scored on the test part, and ``transform_seconds`` is
``None`` with the reason. UMAP needs the optional ``umap-learn`` package
(``pip install vaelab[umap]``); without it the method is reported as unavailable.

Numbers live here; `vaelab.report.figures.compare` draws them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vaelab.core.config import default_likelihood
from vaelab.core.inference import seeded_subset
from vaelab.data import Dataset
from vaelab.errors import ConfigError, DataError
from vaelab.experiments.options import DEFAULT_METHODS, METHODS

if TYPE_CHECKING:
    from vaelab.core.models import Model
    from vaelab.data._dataset import ValueKind

__all__ = [
    "METHODS",
    "CodeScores",
    "CompareResult",
    "MethodResult",
    "code_representations",
    "code_scores",
    "compare_methods",
]

LABELS = {
    "pca": "PCA",
    "ae": "AE",
    "vae": "VAE",
    "tsne": "t-SNE",
    "umap": "UMAP",
    "random": "random projection",
}


@dataclass
class MethodResult:
    """One method's measurements; a ``None`` number comes with its reason in ``notes``."""

    method: str  # key in METHODS
    label: str  # display name
    available: bool  # False: not run (package missing, unsupported size); see notes
    protocol: str  # "inductive" (fit on train, encode test) or "transductive" (t-SNE)
    reconstruction_mse: float | None  # test MSE per feature, data scale
    knn_accuracy: list[float | None]  # test accuracy per k in CompareResult.knn_k
    trustworthiness: float | None  # in [0, 1], on the test subsample
    fit_seconds: float | None  # wall-clock fit on train (t-SNE: train + test jointly)
    transform_seconds: float | None  # wall-clock encoding of the n_test test samples
    notes: list[str] = field(default_factory=list)  # caveats and reasons for None
    codes: list[list[float]] | None = None  # (n_test, n_components) test codes


@dataclass
class CompareResult:
    """All methods on one dataset; ``methods`` maps a key of METHODS to its result."""

    data: str  # dataset name
    n_components: int
    n_features: int
    n_train: int  # training samples used (after subsampling)
    n_test: int
    knn_k: list[int]
    trust_neighbors: int  # n_neighbors of trustworthiness
    n_trust: int  # test samples trustworthiness was computed on
    seed: int
    epochs: int  # AE and VAE training epochs
    model: dict[str, Any]  # the AE/VAE ModelConfig (kind aside), as a dict
    labels: list[int] | None  # test labels, aligned with every method's codes
    methods: dict[str, MethodResult]
    class_names: list[str] | None = None  # what label i means, where the data says

    def to_dict(self) -> dict[str, Any]:
        """Return the measurements as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompareResult:
        """Rebuild a result from `to_dict` output, e.g. ``json.load`` of ``compare.json``."""
        fields = dict(data)
        fields["methods"] = {k: MethodResult(**v) for k, v in data["methods"].items()}
        return cls(**fields)

    def codes(self, method: str) -> np.ndarray:
        """The test codes of ``method`` as an ``(n_test, n_components)`` array."""
        r = self.methods.get(method)
        if r is None or r.codes is None:
            raise ConfigError(
                f"method={method!r} has no codes; available: "
                f"{[k for k, v in self.methods.items() if v.codes is not None]}"
            )
        return np.asarray(r.codes, dtype=np.float64)


@dataclass
class _Fitted:
    """What a method runner returns: codes, optional reconstruction, timings, notes."""

    train_codes: np.ndarray  # (n_train, K)
    test_codes: np.ndarray  # (n_test, K)
    test_reconstruction: np.ndarray | None  # (n_test, D)
    fit_seconds: float
    transform_seconds: float | None
    protocol: str = "inductive"
    notes: list[str] = field(default_factory=list)


@dataclass
class _Options:
    n_components: int
    epochs: int
    seed: int
    hidden: tuple[int, ...]
    likelihood: str
    batch_size: int
    device: str
    kind: ValueKind  # the data's value kind


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _run_pca(xtr: np.ndarray, xte: np.ndarray, o: _Options) -> _Fitted:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=o.n_components, random_state=o.seed)
    train_codes, fit_s = _timed(lambda: pca.fit_transform(xtr))
    test_codes, tr_s = _timed(lambda: pca.transform(xte))
    return _Fitted(train_codes, test_codes, pca.inverse_transform(test_codes), fit_s, tr_s)


def _run_random(xtr: np.ndarray, xte: np.ndarray, o: _Options) -> _Fitted:
    """A Gaussian random projection of the centred data: the no-learning baseline."""
    rng = np.random.default_rng(o.seed)
    proj = rng.standard_normal((xtr.shape[1], o.n_components)) / np.sqrt(o.n_components)
    mean = xtr.mean(axis=0)
    train_codes, fit_s = _timed(lambda: (xtr - mean) @ proj)
    test_codes, tr_s = _timed(lambda: (xte - mean) @ proj)
    return _Fitted(
        train_codes,
        test_codes,
        None,
        fit_s,
        tr_s,
        notes=["reconstruction: a random projection has no decoder (baseline only)"],
    )


def _run_model(kind: str, xtr: np.ndarray, xte: np.ndarray, o: _Options) -> _Fitted:
    from vaelab.core.config import ModelConfig
    from vaelab.core.inference import decode, encode
    from vaelab.core.models import build_model
    from vaelab.training.config import TrainConfig
    from vaelab.training.loop import fit

    cfg = ModelConfig(
        kind=kind,
        input_shape=(xtr.shape[1],),
        latent_dim=o.n_components,
        network="mlp",
        hidden=o.hidden,
        likelihood=o.likelihood,
    )
    model = build_model(cfg, seed=o.seed)  # same initial weights for the same architecture
    train_ds = Dataset(xtr.astype(np.float32), None, (xtr.shape[1],), o.kind)
    # fp32 pinned: the numbers must not depend on whether this CPU has fast bf16
    tcfg = TrainConfig(
        epochs=o.epochs, batch_size=o.batch_size, seed=o.seed, device=o.device, precision="fp32"
    )
    _, fit_s = _timed(lambda: fit(model, train_ds, tcfg, progress=False))
    model.cpu().eval()

    def codes(x: np.ndarray) -> np.ndarray:  # one forward pass over all rows
        return encode(model, x, batch_size=len(x)).astype(np.float64)

    train_codes = codes(xtr)
    test_codes, tr_s = _timed(lambda: codes(xte))
    rec = decode(model, test_codes, batch_size=len(test_codes)).astype(np.float64)
    notes = [f"MLP hidden={list(o.hidden)}, likelihood={o.likelihood}, {o.epochs} epochs, fp32"]
    if kind == "vae":
        notes.append("codes are posterior means mu(x); reconstruction decodes mu(x)")
    return _Fitted(train_codes, test_codes, rec, fit_s, tr_s, notes=notes)


def _run_trained(model: Model, xtr: np.ndarray, xte: np.ndarray, n_components: int) -> _Fitted:
    """The codes of a model its caller trained: nothing is fitted here."""
    from vaelab.core.inference import decode, encode

    cfg = model.config
    if cfg.latent_dim != n_components or cfg.n_features != xtr.shape[1]:
        raise ConfigError(
            f"a trained {cfg.kind} with latent_dim={cfg.latent_dim} and {cfg.n_features} inputs "
            f"cannot be compared at n_components={n_components} on {xtr.shape[1]} features"
        )
    train_codes = encode(model, xtr).astype(np.float64)
    test_codes, tr_s = _timed(lambda: encode(model, xte).astype(np.float64))
    rec = decode(model, test_codes).astype(np.float64)
    notes = [f"trained by the caller: MLP hidden={list(cfg.hidden)}, likelihood={cfg.likelihood}"]
    if cfg.kind == "vae":
        notes.append("codes are posterior means mu(x); reconstruction decodes mu(x)")
    return _Fitted(train_codes, test_codes, rec, 0.0, tr_s, notes=notes)


def _run_tsne(xtr: np.ndarray, xte: np.ndarray, o: _Options) -> _Fitted:
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=o.n_components,
        init="pca",
        random_state=o.seed,
        perplexity=min(30.0, (len(xtr) + len(xte) - 1) / 3),
    )
    joint, fit_s = _timed(lambda: tsne.fit_transform(np.concatenate([xtr, xte])))
    notes = [
        "transform: t-SNE has no mapping for new points, so none was timed",
        "transductive: train and test samples were embedded together (labels unused); "
        "kNN is fitted on the train part and scored on the test part",
        "fit time covers train + test samples",
        "reconstruction: t-SNE has no inverse map",
    ]
    return _Fitted(
        joint[: len(xtr)], joint[len(xtr) :], None, fit_s, None, protocol="transductive", notes=notes
    )


def _run_umap(xtr: np.ndarray, xte: np.ndarray, o: _Options) -> _Fitted:
    import umap  # optional extra: vaelab[umap]

    reducer = umap.UMAP(n_components=o.n_components, random_state=o.seed, n_jobs=1)
    train_codes, fit_s = _timed(lambda: reducer.fit_transform(xtr))
    reducer.transform(xte[:5])  # compile numba's transform path once, untimed
    test_codes, tr_s = _timed(lambda: reducer.transform(xte))
    notes = [
        "reconstruction: not measured (UMAP learns no decoder; its inverse_transform "
        "interpolates training points)",
        "random_state set: single-threaded UMAP",
        "fit time includes numba's one-off JIT compilation; transform was warmed up first",
    ]
    return _Fitted(np.asarray(train_codes), np.asarray(test_codes), None, fit_s, tr_s, notes=notes)


_RUNNERS: dict[str, Callable[[np.ndarray, np.ndarray, _Options], _Fitted]] = {
    "pca": _run_pca,
    "ae": lambda a, b, o: _run_model("ae", a, b, o),
    "vae": lambda a, b, o: _run_model("vae", a, b, o),
    "tsne": _run_tsne,
    "umap": _run_umap,
    "random": _run_random,
}


def _unavailable(method: str, n_k: int, reason: str) -> MethodResult:
    return MethodResult(method, LABELS[method], False, "none", None, [None] * n_k, None, None, None, [reason])


def _why_unavailable(method: str, n_components: int) -> str | None:
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            return "not installed: UMAP needs the optional extra (pip install 'vaelab[umap]')"
    if method == "tsne" and n_components > 3:
        return f"not run: t-SNE (Barnes-Hut) supports n_components <= 3, got {n_components}"
    return None


def _thread_limit(n_threads: int | None, method: str) -> contextlib.AbstractContextManager:
    """Cap native threads for scikit-learn/UMAP; torch (AE, VAE) keeps its own setting."""
    if n_threads is None or method in ("ae", "vae"):
        return contextlib.nullcontext()
    if n_threads < 1:
        raise ConfigError(f"n_threads={n_threads} must be >= 1 or None")
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n_threads)


def compare_methods(
    train: Dataset,
    test: Dataset,
    *,
    n_components: int = 2,
    methods: Sequence[str] = DEFAULT_METHODS,
    epochs: int = 30,
    hidden: Sequence[int] = (256,),
    likelihood: str | None = None,
    batch_size: int = 64,
    knn_k: int | Sequence[int] = (10,),
    trust_neighbors: int = 5,
    n_trust: int = 1000,
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    n_threads: int | None = None,
    trained: Mapping[str, Model] | None = None,
) -> CompareResult:
    """Reduce the same data with several methods and measure each one.

    PCA, the AE and the VAE use the same code size; the AE and VAE share one MLP
    architecture (vaelab's `ModelConfig` with ``network="mlp"``) and the same
    initial seed and training schedule, so they differ only in the VAE's noise and
    KL term. See the module docstring for what is measured and how t-SNE is handled.

    Cost: the AE and VAE train ``epochs`` passes over ``max_train`` samples; t-SNE
    is roughly linear-log in ``max_train + max_test``. On scikit-learn's digits
    (1438 train / 359 test) with the defaults, everything runs in well under a
    minute on two CPU cores; on MNIST use ``max_train`` of a few thousand.

    Parameters
    ----------
    train, test : Dataset
        Samples (any sample shape; flattened) and, for kNN accuracy, labels.
    n_components : int
        Code size of every method.
    methods : sequence of str
        A subset of ``METHODS``: "pca", "ae", "vae", "tsne", "umap" and "random"
        (a Gaussian random projection, the no-learning baseline).
    epochs : int
        Training epochs of the AE and VAE.
    hidden : sequence of int
        MLP hidden widths of the AE and VAE encoders (decoders mirror them).
    likelihood : str, optional
        Decoder likelihood of the AE and VAE; default "bernoulli" for data in [0, 1]
        ("binary" or "unit" kind) and "gaussian" otherwise.
    batch_size : int
        AE and VAE minibatch size.
    knn_k : int or sequence of int
        Neighbours of the kNN classifier; one accuracy per k.
    trust_neighbors : int
        ``n_neighbors`` of trustworthiness.
    n_trust : int
        Test samples (a seeded subsample) that trustworthiness is computed on; its
        cost grows as ``n_trust**2``.
    max_train, max_test : int, optional
        Seeded random subsample sizes of train and test (None: all).
    seed : int
        Seeds the subsamples, the models, t-SNE, UMAP and the random projection.
    device : str
        Device for the AE and VAE ("cpu", "cuda", "auto").
    n_threads : int, optional
        Cap on the OpenMP/BLAS threads of the scikit-learn and UMAP parts (via
        threadpoolctl); None keeps the libraries' defaults. On a machine shared with
        other jobs, 1 can be many times faster: t-SNE's OpenMP threads wait on each
        other when cores are busy.
    trained : mapping of str to Model, optional
        Already trained models for "ae" and/or "vae" (with ``n_components``
        latents and ``n_features`` inputs): their codes are measured instead of
        training new ones, so a caller that trained them compares the same models
        it shows. ``epochs``, ``hidden`` and ``likelihood`` then do not apply to them.

    Returns
    -------
    CompareResult
        One `MethodResult` per requested method, in the order given.

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> s = load_dataset("digits")
    >>> r = compare_methods(s.train, s.test, methods=("pca", "random"), knn_k=5)
    >>> r.methods["pca"].knn_accuracy[0] > r.methods["random"].knn_accuracy[0] > 0.1
    True
    >>> r.methods["random"].reconstruction_mse is None
    True
    """
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise ConfigError(f"methods={methods} must be distinct names from {list(METHODS)}")
    ks = [int(knn_k)] if isinstance(knn_k, int | np.integer) else [int(k) for k in knn_k]
    for name, value in [
        ("n_components", n_components),
        ("epochs", epochs),
        ("trust_neighbors", trust_neighbors),
        ("n_trust", n_trust),
        ("batch_size", batch_size),
        *[("knn_k", k) for k in ks],
    ]:
        if value < 1:
            raise ConfigError(f"{name}={value} must be >= 1")
    if train.n_features != test.n_features:
        raise DataError(f"train has {train.n_features} features per sample but test has {test.n_features}")
    rng = np.random.default_rng(seed)
    train, test = seeded_subset(train, max_train, rng), seeded_subset(test, max_test, rng)
    if n_components > min(train.n_features, len(train)):
        raise ConfigError(
            f"n_components={n_components} must be between 1 and "
            f"min(n_features={train.n_features}, n_train={len(train)})"
        )
    if len(test) < 2:
        raise DataError(f"test set has {len(test)} samples; need at least 2")
    xtr = train.x.reshape(len(train), -1).astype(np.float64)  # (N, D)
    xte = test.x.reshape(len(test), -1).astype(np.float64)  # (M, D)
    lik = likelihood or default_likelihood(train.kind)
    opts = _Options(
        n_components, epochs, seed, tuple(int(h) for h in hidden), lik, batch_size, device, train.kind
    )
    trust_idx = seeded_subset(np.arange(len(test)), n_trust, rng)

    results: dict[str, MethodResult] = {}
    for method in methods:
        reason = _why_unavailable(method, n_components)
        if reason is not None:
            results[method] = _unavailable(method, len(ks), reason)
            continue
        with _thread_limit(n_threads, method):
            if trained is not None and method in trained:
                f = _run_trained(trained[method], xtr, xte, n_components)
            else:
                f = _RUNNERS[method](xtr, xte, opts)
            results[method] = _measure(method, f, xte, train.y, test.y, ks, trust_idx, trust_neighbors)
    from vaelab.core.config import ModelConfig

    model = ModelConfig(
        kind="vae",
        input_shape=(train.n_features,),
        latent_dim=n_components,
        hidden=opts.hidden,
        likelihood=lik,
    ).to_dict()
    model.pop("kind")
    return CompareResult(
        data=train.name.split("/")[0],
        n_components=n_components,
        n_features=train.n_features,
        n_train=len(train),
        n_test=len(test),
        knn_k=ks,
        trust_neighbors=trust_neighbors,
        n_trust=len(trust_idx),
        seed=seed,
        epochs=epochs,
        model=model,
        labels=test.y.astype(int).tolist() if test.y is not None else None,
        methods=results,
        class_names=test.class_names if test.y is not None else None,
    )


def _measure(
    method: str,
    f: _Fitted,
    xte: np.ndarray,
    ytr: np.ndarray | None,
    yte: np.ndarray | None,
    ks: list[int],
    trust_idx: np.ndarray,
    trust_neighbors: int,
) -> MethodResult:
    if not np.isfinite(f.test_codes).all() or not np.isfinite(f.train_codes).all():
        raise DataError(f"method {method!r} produced NaN or infinite codes")
    mse = None
    if f.test_reconstruction is not None:
        mse = float(np.mean((f.test_reconstruction - xte) ** 2))
    scores = code_scores(
        xte,
        f.test_codes,
        train_codes=f.train_codes,
        train_labels=ytr,
        labels=yte,
        knn_k=ks,
        trust_idx=trust_idx,
        trust_k=trust_neighbors,
    )
    return MethodResult(
        method=method,
        label=LABELS[method],
        available=True,
        protocol=f.protocol,
        reconstruction_mse=mse,
        knn_accuracy=scores.knn_accuracy,
        trustworthiness=scores.trustworthiness,
        fit_seconds=f.fit_seconds,
        transform_seconds=f.transform_seconds,
        notes=[*f.notes, *scores.notes],
        codes=f.test_codes.tolist(),
    )


@dataclass
class CodeScores:
    """How well codes keep the data's structure; a ``None`` comes with its reason in ``notes``."""

    knn_accuracy: list[float | None]  # one per k of code_scores' knn_k
    trustworthiness: float | None
    notes: list[str] = field(default_factory=list)


def code_scores(
    x: np.ndarray,
    codes: np.ndarray,
    *,
    train_codes: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    knn_k: Sequence[int] = (),
    trust_idx: np.ndarray | None = None,
    trust_k: int = 5,
) -> CodeScores:
    """kNN accuracy and trustworthiness of ``codes``: the one rule for both.

    Parameters
    ----------
    x : ndarray (N, D)
        The samples the codes are of (flat).
    codes : ndarray (N, K)
        Their codes.
    train_codes, train_labels : ndarray, optional
        Codes and labels of other samples: the kNN classifier is fitted on these
        and scored on ``codes`` against ``labels``.
    labels : ndarray (N,), optional
        Labels of ``x``.
    knn_k : sequence of int
        Neighbours of the kNN classifier, one accuracy each; a k above the number
        of training codes gives None and a note. Without labels: all None, a note.
    trust_idx : ndarray of int, optional
        The rows `sklearn.manifold.trustworthiness` is computed on (it is quadratic
        in their number); None: not computed.
    trust_k : int
        Its neighbours; it needs ``trust_k < len(trust_idx) / 2`` (else None, a note).

    Returns
    -------
    CodeScores

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((40, 5))
    >>> s = code_scores(x, x[:, :2], train_codes=x[:, :2], train_labels=np.arange(40) % 2,
    ...                 labels=np.arange(40) % 2, knn_k=(3, 50), trust_idx=np.arange(40))
    >>> s.knn_accuracy[1], 0.5 < s.trustworthiness <= 1.0, s.notes
    (None, True, ['kNN: k=50 exceeds the 40 training codes'])
    """
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    notes: list[str] = []
    acc: list[float | None] = [None] * len(knn_k)
    if knn_k:
        if train_codes is None or train_labels is None or labels is None:
            notes.append("kNN accuracy: the data has no labels")
        else:
            for i, k in enumerate(knn_k):
                if k > len(train_codes):
                    notes.append(f"kNN: k={k} exceeds the {len(train_codes)} training codes")
                    continue
                knn = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
                acc[i] = float(knn.score(codes, labels))
    trust = None
    if trust_idx is not None and trust_k < len(trust_idx) / 2:
        trust = float(trustworthiness(x[trust_idx], codes[trust_idx], n_neighbors=trust_k))
    elif trust_idx is not None:
        notes.append(f"trustworthiness: needs more than {2 * trust_k} test samples")
    return CodeScores(acc, trust, notes)


def code_representations(
    train: Dataset,
    test: Dataset,
    *,
    n_components: int = 10,
    methods: Sequence[str] = ("pca", "ae", "vae"),
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Raw samples and their codes, ready for `vaelab.experiments.curse.representation_contrast`.

    Fits the methods on ``train`` with `compare_methods` and returns the test
    samples, flattened, under "pixels" (images) or "features", followed by each
    method's test codes under its display name ("PCA", "AE", "VAE").

    Parameters
    ----------
    train, test : Dataset
        Fit on train; the representations are of test.
    n_components : int
        Code size.
    methods : sequence of str
        Methods whose codes to return (inductive ones: "pca", "ae", "vae", "umap", "random").
    **kwargs
        Passed to `compare_methods` (``epochs``, ``max_train``, ``max_test``, ``seed``...).

    Returns
    -------
    dict of str to ndarray
        ``{"pixels": (M, D), "PCA": (M, 10), ...}``, all with the same rows.

    Examples
    --------
    >>> from vaelab.data import load_dataset
    >>> s = load_dataset("digits")
    >>> reps = code_representations(s.train, s.test, n_components=5, methods=("pca",))
    >>> {k: v.shape for k, v in reps.items()}
    {'pixels': (359, 64), 'PCA': (359, 5)}
    """
    kwargs.setdefault("knn_k", 1)
    rng = np.random.default_rng(kwargs.get("seed", 0))
    train = seeded_subset(train, kwargs.pop("max_train", None), rng)
    test = seeded_subset(test, kwargs.pop("max_test", None), rng)
    result = compare_methods(train, test, n_components=n_components, methods=methods, **kwargs)
    raw = "pixels" if len(test.sample_shape) >= 2 else "features"
    reps = {raw: test.x.reshape(len(test), -1).astype(np.float64)}
    for m, r in result.methods.items():
        if r.available:
            reps[r.label] = result.codes(m)
    return reps
