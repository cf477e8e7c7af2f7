"""scikit-learn estimators: `VAE` and `Autoencoder`, drop-in replacements for PCA.

They wrap the same models (`vaelab.core.models`), fit loop (`vaelab.training.loop.fit`) and
run-directory format (`vaelab.runs.files`) as the CLI; nothing here trains on its own.
A fitted estimator holds the torch module in ``model_``; pickling stores its
config and weights as plain numpy arrays, and `save` / `load` use config.json +
model.safetensors.
"""

from __future__ import annotations

import copy
import math
import numbers
from pathlib import Path
from typing import TypeGuard

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from vaelab.core.config import ModelConfig, default_likelihood
from vaelab.core.inference import EVAL_BATCH, map_batches, model_device
from vaelab.core.models import VAE as VAEModel
from vaelab.core.models import Model, build_model
from vaelab.core.objectives import gaussian_kl
from vaelab.data import Dataset, train_valid_split
from vaelab.errors import ConfigError, DataError, RunDirError
from vaelab.runs.files import read_metrics, save_model
from vaelab.runs.run import check_likelihood, load_run
from vaelab.training.batched import fit_many
from vaelab.training.config import TrainConfig
from vaelab.training.history import History
from vaelab.training.loop import fit
from vaelab.training.runtime import resolve_device
from vaelab.training.threads import threads_for_step, torch_threads

LIKELIHOOD_PARAMS = ("auto", "bernoulli", "gaussian", "gaussian-learned")
DEVICES = ("cpu", "cuda", "cuda:N", "auto")
_ELBO_SAMPLES = 32  # codes per row for the Monte-Carlo reconstruction term of the ELBO


def _check_int(name: str, value, low: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}={value!r} must be an integer >= {low}")


def _is_real(value: object) -> TypeGuard[float]:
    """``isinstance(value, numbers.Real)``, typed as float: typeshed's `numbers.Real` has no ``>``."""
    return isinstance(value, numbers.Real)


def _is_integral(value: object) -> TypeGuard[int]:
    """``isinstance(value, numbers.Integral)``, typed as int: typeshed's `numbers.Integral` has no ``>=``."""
    return isinstance(value, numbers.Integral)


def _check_device(device) -> None:
    ok = isinstance(device, str) and (
        device in ("cpu", "cuda", "auto") or (device.startswith("cuda:") and device[5:].isdigit())
    )
    if not ok:
        raise ConfigError(f"device={device!r} must be one of {', '.join(map(repr, DEVICES))}")


def _as_float32(X: np.ndarray) -> np.ndarray:
    """``X`` as float32 (what the models train in); values beyond its range are refused."""
    big = float(np.max(np.abs(X))) if X.size else 0.0
    limit = float(np.finfo(np.float32).max)
    if big > limit:
        raise DataError(
            f"X holds a value of magnitude {big:.3g}, beyond float32's range (±{limit:.4g}) that "
            "the models train in; rescale the data (e.g. StandardScaler)"
        )
    return np.ascontiguousarray(X, dtype=np.float32)


def _value_kind(x: np.ndarray) -> str:
    """'binary' for {0, 1} data, 'unit' for data in [0, 1], else 'real'."""
    if x.min() >= 0 and x.max() <= 1:
        return "binary" if np.all((x == 0) | (x == 1)) else "unit"
    return "real"


def _as_tensor(x: np.ndarray, device: torch.device, dtype=np.float32) -> torch.Tensor:
    """A C-contiguous tensor; copies read-only arrays (memmaps), which torch cannot wrap."""
    x = np.ascontiguousarray(x, dtype=dtype)
    if not x.flags.writeable:
        x = x.copy()
    return torch.from_numpy(x).to(device)


def _final_loss(history: History) -> float:
    """What picks among initializations: the best validation loss (the weights early
    stopping keeps), else the training loss of the last epoch, nats per example."""
    if history.valid_loss:
        return float(min(history.valid_loss))
    return float(history.train_loss[-1])


class _AutoencoderEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """What `VAE` and `Autoencoder` share: fitting, validation, transforms, I/O."""

    _kind = "ae"

    # ---- fitting -------------------------------------------------------------------------

    def _check_params(self) -> None:
        _check_int("n_components", self.n_components, 1)
        _check_int("max_epochs", self.max_epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("n_iter_no_change", self.n_iter_no_change, 1)
        _check_int("n_init", self.n_init, 1)
        _check_device(self.device)
        if self.likelihood not in LIKELIHOOD_PARAMS:
            raise ConfigError(f"likelihood={self.likelihood!r} must be one of {LIKELIHOOD_PARAMS}")
        if not (_is_real(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate={self.learning_rate!r} must be a number > 0")
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction={self.validation_fraction!r} must be in (0, 1)")
        sizes = self.hidden_layer_sizes
        if not (hasattr(sizes, "__iter__") and all(_is_integral(h) and h >= 1 for h in sizes)):
            raise ConfigError(f"hidden_layer_sizes={sizes!r} must be a sequence of integers >= 1")

    def _model_config(self, n_features: int, likelihood: str) -> ModelConfig:
        return ModelConfig(
            kind=self._kind,
            input_shape=(n_features,),
            latent_dim=int(self.n_components),
            network="mlp",
            hidden=tuple(int(h) for h in self.hidden_layer_sizes),
            activation=self.activation,
            likelihood=likelihood,
            beta=float(getattr(self, "beta", 1.0)),
        )

    def _train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            lr=float(self.learning_rate),
            patience=int(self.n_iter_no_change) if self.early_stopping else None,
            seed=seed,
            device=self.device,
            precision="fp32",
        )

    def fit(self, X, y=None):
        """Train the network on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Dense, finite, numeric.
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        x = _as_float32(X)
        rs = check_random_state(self.random_state)
        # the first seed is what a single initialization has always used
        seeds = [int(rs.randint(np.iinfo(np.int32).max)) for _ in range(int(self.n_init))]
        seed = seeds[0]
        kind = _value_kind(x)
        likelihood = self.likelihood
        if likelihood == "auto":
            likelihood = default_likelihood(kind, real="gaussian-learned")
        cfg = self._model_config(x.shape[1], likelihood)
        train_cfg = self._train_config(seed)
        data = Dataset(x if x.flags.writeable else x.copy(), None, (x.shape[1],), kind, "X")
        check_likelihood(cfg, data, train_cfg)
        valid = None
        if self.early_stopping:
            data, valid = train_valid_split(data, self.validation_fraction, seed)
        device = resolve_device(self.device)
        # fit seeds torch's global generator for its noise: keep the caller's state as it was
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if len(seeds) == 1:
                model = build_model(cfg, seed=seed)  # the initial weights, from the seed alone
                histories = [fit(model, data, train_cfg, valid=valid, progress=bool(self.verbose))]
                models = [model]
            else:  # every initialization in one batched pass, each as fit trains it alone
                models, histories = fit_many([cfg] * len(seeds), data, train_cfg, seeds=seeds, valid=valid)
        losses = np.array([_final_loss(h) for h in histories])
        best = int(np.argmin(losses))
        self.model_ = models[best].eval()
        self.history_ = histories[best].to_dict()
        self.likelihood_ = likelihood
        self.n_iter_ = len(histories[best].epoch)
        self.init_losses_ = losses
        self._seed = seed
        self._init_seed = seeds[best]
        return self

    # ---- using a fitted model ------------------------------------------------------------

    @property
    def _n_features_out(self) -> int:
        return self.model_.config.latent_dim

    def _validate(self, X) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _device(self) -> torch.device:
        return model_device(self.model_)

    def _check_score_input(self, X: np.ndarray) -> None:
        """A Bernoulli likelihood scores values in [0, 1] only: refuse others by name."""
        if self.model_.config.likelihood != "bernoulli" or X.size == 0:
            return
        lo, hi = float(X.min()), float(X.max())
        if lo < 0 or hi > 1:
            raise DataError(
                f"X has values in [{lo:g}, {hi:g}], but this model's likelihood is "
                f"'bernoulli', which gives a probability only to values in [0, 1]"
            )

    def _overflow_cause(self, x: np.ndarray) -> str:
        """Why the score of row ``x`` is not finite, in words."""
        dtype = "float64" if self._device().type == "cpu" else "float32"  # see _inference_model
        return f"its log-likelihood overflows {dtype}"

    def _check_scores(self, scores: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Refuse NaN or inf scores, naming the first such row and the cause."""
        bad = ~np.isfinite(scores)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"score_samples is {scores[i]} for {int(bad.sum())} of {len(scores)} rows; "
                f"row {i} has values up to |x| = {float(np.abs(X[i]).max()):.3g}, so far from "
                f"the training data that {self._overflow_cause(X[i])}; scale X as the "
                f"training data was scaled"
            )
        return scores

    def _inference_model(self) -> tuple[Model, type]:
        """The model for transform-like methods, and the numpy dtype it computes in.

        On CPU a float64 copy: fp32 BLAS kernels round differently for different
        batch sizes, and a row's result should not depend on which rows share its
        batch (scikit-learn's subset- and order-invariance checks).
        """
        if self._device().type == "cpu":
            return copy.deepcopy(self.model_).double(), np.float64
        return self.model_, np.float32

    @torch.inference_mode()
    def _batched(self, fn, X: np.ndarray, chunk: int = EVAL_BATCH) -> np.ndarray:
        """``fn(model, x)`` over row chunks of X, concatenated into a numpy array."""
        model, dtype = self._inference_model()
        x = _as_tensor(X, self._device(), dtype)
        # forward only: about a third of a training step's work
        with torch_threads(threads_for_step(model, min(len(x), chunk) // 3)):
            return map_batches(lambda b: fn(model, b).cpu(), x, chunk).numpy()

    def transform(self, X):
        """Encode X: the posterior means E[z|x] (the autoencoder's codes f(x)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Same float dtype as X (float64 for integer input).
        """
        X = self._validate(X)
        return self._batched(lambda m, x: m.code(x), X).astype(X.dtype, copy=False)

    def inverse_transform(self, X):
        """Decode codes back to data space: the decoder means E[x|z].

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, e.g. the output of `transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32])
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self._n_features_out} features (n_components) as input to inverse_transform."
            )
        return self._batched(lambda m, z: m.decode_mean(z), Z).astype(Z.dtype, copy=False)

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Decode codes drawn from N(0, I): new data for a VAE, holes for an autoencoder.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.
        random_state : int, RandomState instance or None, default=None
            Seeds the codes; None draws fresh ones.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_), float64
            Decoder means at the drawn codes.
        """
        check_is_fitted(self)
        _check_int("n_samples", n_samples, 1)
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        gen = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            x = self.model_.sample(int(n_samples), generator=gen)
        return x.cpu().double().numpy()

    def score_samples(self, X):
        """Per-sample log-likelihood of the reconstruction, log p(x | f(x)), in nats.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Higher means better explained by the model.

        Raises
        ------
        DataError
            For values outside [0, 1] under a Bernoulli likelihood, or inputs so far
            from the data that the log-likelihood overflows (NaN or inf is never
            returned).
        """
        X = self._validate(X)
        self._check_score_input(X)

        def log_px(m, x):
            return m.likelihood.log_prob(m.decode(m.code(x)), x)  # (B,)

        return self._check_scores(self._batched(log_px, X).astype(np.float64), X)

    def score(self, X, y=None) -> float:
        """Mean of `score_samples` over X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    # ---- scikit-learn tags, pickling and run directories ---------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # Seeded training is bit-reproducible on CPU; CUDA kernels may not be.
        try:
            _check_device(self.device)
            tags.non_deterministic = resolve_device(self.device).type != "cpu"
        except (ConfigError, AttributeError):
            tags.non_deterministic = False
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the base may return __dict__ itself
        model = state.pop("model_", None)
        if model is not None:  # plain data: the config and numpy weights
            state["_model_state"] = {
                "config": model.config.to_dict(),
                "weights": {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()},
                "device": str(model_device(model)),
            }
        return state

    def __setstate__(self, state):
        saved = state.pop("_model_state", None)
        super().__setstate__(state)
        if saved is not None:
            model = build_model(ModelConfig.from_dict(saved["config"]))
            model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in saved["weights"].items()})
            device = saved["device"]
            if device.startswith("cuda") and not torch.cuda.is_available():
                device = "cpu"
            self.model_ = model.to(device).eval()

    def save(self, path) -> Path:
        """Save the fitted estimator as a run directory (config.json + model.safetensors).

        Parameters
        ----------
        path : str or Path
            Directory to write; created if missing, files in it are replaced.

        Returns
        -------
        Path
            The run directory, readable by `vaelab.load` and the ``vaelab`` CLI.
        """
        check_is_fitted(self)
        params = self.get_params()
        rs = params["random_state"]
        params["random_state"] = rs if rs is None or isinstance(rs, numbers.Integral) else None
        params["hidden_layer_sizes"] = [int(h) for h in params["hidden_layer_sizes"]]
        fitted = {
            "n_features_in_": int(self.n_features_in_),
            "likelihood_": self.likelihood_,
            "n_iter_": int(self.n_iter_),
            "history_": self.history_,
            "seed": int(self._seed),
            "init_seed": int(getattr(self, "_init_seed", self._seed)),
        }
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(f) for f in self.feature_names_in_]
        section = {"class": type(self).__name__, "params": params, "fitted": fitted}
        return save_model(
            Path(path), self.model_, train=self._train_config(self._seed).to_dict(), estimator=section
        )


def load(path, device: str = "cpu") -> VAE | Autoencoder:
    """A fitted `VAE` or `Autoencoder` from any run directory.

    Works for directories written by `VAE.save` and by ``vaelab train`` (whose
    model and train settings map onto the estimator's parameters). The model
    expects data as it saw it in training (e.g. standardized or binarized by
    the run's data pipeline). Refitting a loaded estimator trains an MLP with
    the mapped parameters.

    Parameters
    ----------
    path : str or Path
        The run directory.
    device : str, default="cpu"
        Where to put the model.

    Returns
    -------
    VAE or Autoencoder
        Fitted: ``transform``, ``score_samples``, ``sample`` etc. work at once.

    Examples
    --------
    >>> import tempfile, numpy as np, vaelab
    >>> X = np.random.default_rng(0).random((40, 5))
    >>> est = vaelab.VAE(n_components=2, max_epochs=2, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = est.save(d)
    ...     same = vaelab.load(d)
    >>> bool(np.array_equal(same.transform(X), est.transform(X)))
    True
    """
    path = Path(path)
    model, config = load_run(path, device)
    section = config.get("estimator")
    if isinstance(section, dict):
        name = section.get("class")
        cls = ESTIMATORS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise RunDirError(f"{path}: unknown estimator class {section.get('class')!r}")
        params = dict(section.get("params", {}))
        params["hidden_layer_sizes"] = tuple(params.get("hidden_layer_sizes", ()))
        try:
            est = cls(**params)
        except TypeError as err:
            raise RunDirError(f"{path}: invalid estimator parameters ({err})") from None
        fitted = section.get("fitted", {})
        est.n_features_in_ = int(fitted["n_features_in_"])
        if "feature_names_in_" in fitted:
            est.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        est.likelihood_ = fitted.get("likelihood_", model.config.likelihood)
        est.n_iter_ = int(fitted.get("n_iter_", 0))
        est.history_ = fitted.get("history_", {})
        est._seed = int(fitted.get("seed", 0))
        est._init_seed = int(fitted.get("init_seed", est._seed))
    else:
        est = _from_cli_run(path, model, config)
    est.model_ = model
    return est


def _from_cli_run(path: Path, model: Model, config: dict):
    """Map a ``vaelab train`` run's model and train sections onto estimator parameters."""
    m = model.config
    train = TrainConfig.from_dict(config.get("train", {}))
    params = dict(
        n_components=m.latent_dim,
        hidden_layer_sizes=tuple(m.hidden),
        activation=m.activation,
        likelihood=m.likelihood if m.likelihood in LIKELIHOOD_PARAMS else "auto",
        max_epochs=train.epochs,
        batch_size=train.batch_size,
        learning_rate=train.lr,
        early_stopping=train.patience is not None,
        n_iter_no_change=train.patience or 10,
        random_state=train.seed,
        device=train.device,
    )
    if m.kind == "vae":
        est = VAE(beta=m.beta, **params)
    else:
        est = Autoencoder(**params)
    records = [r for r in read_metrics(path) if "epoch" in r]  # not the resume events
    curves: dict[str, list] = {}
    for record in records:
        for key, value in record.items():
            curves.setdefault(key, []).append(value)
    est.history_ = curves
    est.n_iter_ = len(records)
    est.n_features_in_ = m.n_features
    est.likelihood_ = m.likelihood
    est._seed = train.seed
    return est


class Autoencoder(_AutoencoderEstimator):
    """Autoencoder as a scikit-learn transformer: deterministic codes z = f(x).

    An encoder f: X→Z and decoder g: Z→X trained so that g(f(x)) ≈ x, by
    maximising log p(x | f(x)) (with a Gaussian likelihood: squared error).

    Parameters
    ----------
    n_components : int, default=2
        Size of the code.
    hidden_layer_sizes : tuple of int, default=(128,)
        Encoder MLP widths; the decoder mirrors them. ``()`` gives linear maps.
    activation : str, default="relu"
        Hidden nonlinearity: relu, tanh, gelu, elu, silu, softplus, leaky_relu.
    likelihood : {"auto", "bernoulli", "gaussian", "gaussian-learned"}, default="auto"
        p(x|z). "auto" picks "bernoulli" for data within [0, 1], else
        "gaussian-learned" (one learned noise variance); see ``likelihood_``.
    max_epochs : int, default=100
        Passes over the training data.
    batch_size : int, default=128
        Examples per gradient step.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of X and stop after ``n_iter_no_change``
        epochs without improvement, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of X held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    n_init : int, default=1
        Initializations trained, all in one batched pass
        (`vaelab.training.batched.fit_many`); they share the batch order and
        noise and differ in their initial weights. The kept model has the
        lowest validation loss (with ``early_stopping``), else the lowest
        training loss in the last epoch; see ``init_losses_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, shuffling and noise. An int gives the same
        model on every fit (on CPU).
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Where to train and run the network; anything else is a `ConfigError` in fit.
    verbose : bool, default=False
        Show a progress bar and per-epoch losses.

    Attributes
    ----------
    model_ : vaelab.core.models.Autoencoder
        The trained torch module.
    history_ : dict of lists
        Per-epoch training curves (nats per example), as `vaelab.training.loop.History`.
    likelihood_ : str
        The likelihood used (the choice of "auto").
    n_iter_ : int
        Epochs run.
    init_losses_ : ndarray of shape (n_init,)
        The loss that chose among the initializations (nats per example); the
        kept one is its argmin.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X was a DataFrame with string columns.

    Examples
    --------
    >>> import numpy as np
    >>> from vaelab import Autoencoder
    >>> X = np.random.default_rng(0).random((50, 8))
    >>> ae = Autoencoder(n_components=2, max_epochs=3, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.likelihood_
    ((50, 2), 'bernoulli')
    >>> ae.inverse_transform(ae.transform(X[:3])).shape
    (3, 8)
    """

    _kind = "ae"

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(128,),
        activation="relu",
        likelihood="auto",
        max_epochs=100,
        batch_size=128,
        learning_rate=1e-3,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        n_init=1,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.random_state = random_state
        self.device = device
        self.verbose = verbose


class VAE(_AutoencoderEstimator):
    """Variational autoencoder as a scikit-learn transformer: probabilistic PCA, made nonlinear.

    The encoder outputs a distribution q(z|x) = N(μ(x), diag σ²(x)) over codes,
    the prior is p(z) = N(0, I), and the decoder gives p(x|z). Training
    maximises the ELBO = E_q[log p(x|z)] − β·KL(q(z|x) ‖ p(z)).

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent code z.
    hidden_layer_sizes : tuple of int, default=(128,)
        Encoder MLP widths; the decoder mirrors them. ``()`` gives linear maps.
    activation : str, default="relu"
        Hidden nonlinearity: relu, tanh, gelu, elu, silu, softplus, leaky_relu.
    likelihood : {"auto", "bernoulli", "gaussian", "gaussian-learned"}, default="auto"
        p(x|z). "auto" picks "bernoulli" for data within [0, 1], else
        "gaussian-learned" (one learned noise variance, as in probabilistic
        PCA); see ``likelihood_``. "gaussian" has unit variance.
    beta : float, default=1.0
        Weight of the KL term; 1 is the true ELBO, other values a β-VAE.
    max_epochs : int, default=100
        Passes over the training data.
    batch_size : int, default=128
        Examples per gradient step.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of X and stop after ``n_iter_no_change``
        epochs without improvement of the validation ELBO, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of X held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    n_init : int, default=1
        Initializations trained, all in one batched pass
        (`vaelab.training.batched.fit_many`); they share the batch order and
        noise and differ in their initial weights. The kept model has the
        lowest validation loss (with ``early_stopping``), else the lowest
        training loss in the last epoch; see ``init_losses_``.
    n_importance_samples : int, default=1
        K for `score_samples`: 1 gives the ELBO, K > 1 the importance-weighted
        bound L_K on log p(x) (Burda et al. 2015), tighter as K grows.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, shuffling, the reparameterization noise and
        the Monte-Carlo noise of `score_samples`. An int gives the same model on
        every fit (on CPU).
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Where to train and run the network; anything else is a `ConfigError` in fit.
    verbose : bool, default=False
        Show a progress bar and per-epoch losses.

    Attributes
    ----------
    model_ : vaelab.core.models.VAE
        The trained torch module.
    history_ : dict of lists
        Per-epoch training curves (nats per example), as `vaelab.training.loop.History`.
    likelihood_ : str
        The likelihood used (the choice of "auto").
    n_iter_ : int
        Epochs run.
    init_losses_ : ndarray of shape (n_init,)
        The loss that chose among the initializations (nats per example); the
        kept one is its argmin.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names seen in fit, when X was a DataFrame with string columns.

    Examples
    --------
    >>> import numpy as np
    >>> from vaelab import VAE
    >>> X = np.random.default_rng(0).random((60, 8))
    >>> vae = VAE(n_components=2, max_epochs=3, random_state=0).fit(X)
    >>> Z = vae.transform(X)           # posterior means
    >>> Z.shape, vae.get_feature_names_out().tolist()
    ((60, 2), ['vae0', 'vae1'])
    >>> vae.sample(4, random_state=0).shape
    (4, 8)
    >>> bool(vae.score_samples(X[:5]).max() < 0)  # ELBO, nats per sample
    True
    """

    _kind = "vae"

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(128,),
        activation="relu",
        likelihood="auto",
        beta=1.0,
        max_epochs=100,
        batch_size=128,
        learning_rate=1e-3,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        n_init=1,
        n_importance_samples=1,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.n_importance_samples = n_importance_samples
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        _check_int("n_importance_samples", self.n_importance_samples, 1)
        if not (_is_real(self.beta) and self.beta >= 0):
            raise ConfigError(f"beta={self.beta!r} must be a number >= 0")

    def _overflow_cause(self, x: np.ndarray) -> str:
        model, dtype = self._inference_model()
        assert isinstance(model, VAEModel)  # a VAE estimator fits a VAE
        with torch.inference_mode():
            _, log_var = model.posterior(_as_tensor(x[None], self._device(), dtype))  # (1, Z)
        top = float(log_var.max())
        if top > math.log(np.finfo(dtype).max):
            return (
                f"the encoder gives it a posterior log-variance of {top:.3g}, and the "
                f"variance exp({top:.3g}) overflows"
            )
        return super()._overflow_cause(x)

    def score_samples(self, X):
        """Per-sample ELBO, or the importance-weighted log p(x) bound, in nats.

        With ``n_importance_samples=1`` this is the ELBO (β = 1): the KL in
        closed form, the reconstruction term averaged over 32 reparameterized
        codes. All rows share the same seeded noise draws ε, so a row's score
        does not depend on the other rows or their order.
        With K > 1 it is the IWAE bound L_K ≤ log p(x), estimated by
        `vaelab.core.importance.iw_log_likelihood` with a generator seeded from the
        fit (deterministic for the same X).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,), float64
            Higher means more typical under the model.

        Raises
        ------
        DataError
            For values outside [0, 1] under a Bernoulli likelihood, or inputs so far
            from the data that the bound overflows (NaN or inf is never returned).
        """
        X = self._validate(X)
        _check_int("n_importance_samples", self.n_importance_samples, 1)
        self._check_score_input(X)
        model, device = self.model_, self._device()
        gen = torch.Generator().manual_seed(self._seed + 1)
        if self.n_importance_samples > 1:
            from vaelab.core.importance import iw_log_likelihood

            iw_model, dtype = self._inference_model()  # float64 on CPU, as the ELBO below
            iw_gen = torch.Generator(device=device).manual_seed(self._seed + 1)
            with torch.inference_mode():
                est = iw_log_likelihood(
                    iw_model, _as_tensor(X, device, dtype), int(self.n_importance_samples), generator=iw_gen
                )
            return self._check_scores(np.asarray(est.log_likelihood, dtype=np.float64), X)
        eps = torch.randn(_ELBO_SAMPLES, 1, model.config.latent_dim, generator=gen).to(device)

        def elbo(m, x):
            mu, log_var = m.posterior(x)  # (B, Z) each
            z = mu + torch.exp(0.5 * log_var) * eps.to(mu.dtype)  # (S, B, Z)
            log_px = m.likelihood.log_prob(m.decode(z), x).mean(0)  # (B,)
            return log_px.double() - gaussian_kl(mu, log_var).double()

        return self._check_scores(self._batched(elbo, X, chunk=EVAL_BATCH // _ELBO_SAMPLES), X)


ESTIMATORS: dict[str, type[_AutoencoderEstimator]] = {"VAE": VAE, "Autoencoder": Autoencoder}
__all__ = ["VAE", "Autoencoder", "load"]
