"""The explainer's report: one typed result per stage, shared by the text, the page and JSON.

Each stage of `vaelab.report.explain.run_explain` returns one of these dataclasses;
`ExplainReport` holds them all. The words (`_text`), the HTML and its JavaScript data
(`_html`, `_figures`), the markdown (`_markdown`) and ``explain.json`` all read this one
schema. Experiments' own result types (`HolesComparison`, `BetaSweep`, `CompareResult`,
the curse results) are kept as they are, not copied into dicts.

Arrays that only the page draws (codes, decoder weights, image grids) are fields too:
`numbers` leaves out every ndarray and every field marked with `page_field`, so
``explain.json`` keeps only the numbers the text states.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vaelab.core.inference import ActiveUnits
from vaelab.experiments.compare import CompareResult
from vaelab.experiments.curse import (
    DistanceConcentration,
    GaussianAnnulus,
    NeighbourhoodEmptiness,
    PairwiseDistanceHistograms,
    RepresentationContrast,
)
from vaelab.experiments.holes import HolesComparison
from vaelab.experiments.sweep import BetaSweep


def page_field() -> Any:
    """A field only the page uses (arrays, decoder weights): not written to explain.json."""
    return field(repr=False, metadata={"page": True})


def numbers(obj: Any) -> Any:
    """The JSON-ready numbers of a report or any part of it.

    Dataclasses become dicts without their ndarray and `page_field` fields;
    NumPy scalars become Python numbers; NaN and infinities become None.

    Examples
    --------
    >>> @dataclass
    ... class R:
    ...     a: float
    ...     b: np.ndarray
    >>> numbers(R(np.float32(0.5), np.zeros(3)))
    {'a': 0.5}
    >>> numbers([math.nan, (1, 2)])
    [None, [1, 2]]
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: numbers(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not f.metadata.get("page") and not isinstance(getattr(obj, f.name), np.ndarray)
        }
    if isinstance(obj, dict):
        return {str(k): numbers(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [numbers(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@dataclass
class DecoderExport:
    """A decoder as plain dense layers, for the page's JavaScript."""

    layers: list[tuple[np.ndarray, np.ndarray]]  # (W (out, in), b (out,)) float32, in order
    activation: str  # between layers: "relu", "tanh", ...
    output: str  # "sigmoid" (Bernoulli mean) or "identity"


SETTLED = 0.02  # a validation loss that fell by less than 2% over the last quarter has settled


@dataclass
class TrainingRecord:
    """How long one model trained, and the evidence that its numbers had settled."""

    epochs: int  # passes over the training samples
    steps: int  # gradient steps
    valid_loss: list[float]  # negative ELBO (β = 1) on held-out samples, after each epoch
    last_quarter_change: float | None  # relative fall of valid_loss over the last quarter of epochs

    @property
    def settled(self) -> bool:
        """True when the validation loss moved by less than `SETTLED` over the last quarter of training."""
        return self.last_quarter_change is not None and abs(self.last_quarter_change) < SETTLED


@dataclass
class DataSummary:
    """The data the page was measured on (after subsampling)."""

    name: str
    n_train: int
    n_test: int
    sample_shape: list[int]
    image_shape: list[int]  # (C, H, W) the page draws with; a table is (1, 1, D)
    n_features: int
    kind: str  # "binary", "unit" or "real"
    range: list[float]  # [min, max] of the training values: the page's grey scale
    has_labels: bool
    likelihood: str  # the decoders' likelihood
    likelihood_reason: str  # "binary", "mnist-convention" or "real-valued": why that likelihood
    n_valid: int  # training samples held out to check that training had settled
    standardized: bool  # a real-valued table: each feature shifted and scaled to mean 0, std 1
    class_names: list[str] | None  # what label i means, where the data names its labels
    test_images: np.ndarray = page_field()  # (16, D) the first test samples
    feature_mean: np.ndarray = page_field()  # (D,) of the training samples: where a table's bars start
    feature_std: np.ndarray = page_field()  # (D,) their spread: a table's bar unit


@dataclass
class CurseStage:
    """Step 1 on synthetic points: `vaelab.experiments.curse` across dimensions."""

    concentration: DistanceConcentration
    annulus: GaussianAnnulus
    histograms: PairwiseDistanceHistograms
    emptiness: NeighbourhoodEmptiness


@dataclass
class PCAStage:
    """Step 2: how much PCA keeps with k components."""

    n_features: int
    rank: int  # principal variances above RANK_TOL of the largest (at most 100)
    cumulative_variance: list[float]  # share of variance kept by the first k components
    k_for_90: int | None  # components that keep 90%; None when 100 do not
    squared_error: dict[str, float]  # k → mean ‖x − x̂‖² on test data
    total_squared_distance: float  # mean ‖x − mean‖² on test data: the k = 0 error
    reconstruction_2d: np.ndarray = page_field()  # (8, D) test reconstructions from 2 PCs


@dataclass
class CodeModel:
    """One 2-D model (AE or VAE) of steps 3–5: its test numbers and what the page draws."""

    reconstruction: float  # −E log p(x|z), nats per test sample
    kl: float  # nats per test sample (0 for the AE)
    squared_error: float  # mean ‖x − g(f(x))‖² on test data
    code_mean: list[float]  # over the shown training codes, per latent dimension
    code_std: list[float]
    code_min: list[float]
    code_max: list[float]
    training: TrainingRecord
    active_units: ActiveUnits | None  # of the VAE (None for the AE: its codes have no scale)
    codes: np.ndarray = page_field()  # (n_show, 2) training codes
    decoder: DecoderExport = page_field()
    check: np.ndarray = page_field()  # (4, D) PyTorch's decodings of TwoDStage.check_z
    interp_codes: np.ndarray = page_field()  # (2, 2) codes of TwoDStage.interp_images
    reconstructions: np.ndarray = page_field()  # (8, D) decodings of the first 8 test samples' codes


@dataclass
class TwoDStage:
    """Steps 3–5: an AE and a VAE with 2-D codes, same architecture and budget."""

    ae: CodeModel
    vae: CodeModel
    code_labels: np.ndarray | None = page_field()  # (n_show,) labels of the shown codes
    check_z: np.ndarray = page_field()  # (4, 2) codes the browser test decodes in JS
    interp_images: np.ndarray = page_field()  # (2, D) two test samples of different labels


@dataclass
class ObjectiveStage:
    """Step 6: a VAE with a larger latent, its ELBO terms and importance-sampled log p(x)."""

    latent_dim: int
    hidden: list[int]
    epochs: int  # passes over the training data
    reconstruction: float  # nats per test sample
    kl: float
    elbo: float
    kl_per_dim: list[float]  # mean KL of each latent unit over the test data
    active_units: ActiveUnits  # the one rule: Var_x(μ_u(x)) > 0.01 (Burda et al. 2015)
    iw_samples: int  # K of the importance-sampled estimate
    log_likelihood: float  # mean L_K over test samples
    log_likelihood_se: float
    elbo_k: float  # the K-sample Monte-Carlo ELBO of the same estimate
    gap: float  # log_likelihood − elbo_k
    training: TrainingRecord


@dataclass
class LinearStage:
    """Step 6, exact: a linear VAE against probabilistic PCA (`vaelab.core.ppca`)."""

    latent_dim: int
    ppca_log_likelihood: float  # exact mean test log p(x) of maximum-likelihood pPCA
    ppca_sigma2: float
    linear_vae_elbo: float  # its mean test ELBO, in closed form (`PPCA.elbo`)
    linear_vae_sigma2: float
    gap_to_exact: float  # ppca_log_likelihood − linear_vae_elbo
    linear_vae_log_likelihood: float  # exact log p(x) of the linear VAE's own generative model
    linear_vae_posterior_kl: float  # exact mean KL(q(z|x) ‖ p(z|x)) = its log p(x) − ELBO
    linear_vae_iw_log_likelihood: float  # importance-sampled, for comparison with the exact
    nonlinear: GaussianVAE  # the non-linear decoder in the same Gaussian family, same latent size


@dataclass
class GaussianVAE:
    """A non-linear VAE with pPCA's noise model (one learned variance): what the MLP decoder gains."""

    latent_dim: int
    hidden: list[int]
    is_objective_model: bool  # True: the VAE of step 6 itself (its likelihood is this Gaussian)
    log_likelihood: float  # importance-sampled mean test log p(x)
    log_likelihood_se: float
    elbo: float  # mean test ELBO
    sigma2: float  # its learned noise variance
    gain_over_ppca: float  # log_likelihood − pPCA's exact log p(x), nats per sample
    active_units: ActiveUnits
    training: TrainingRecord


@dataclass
class GenerationStage:
    """Step 8: the 2-D decoders on a grid of prior quantiles."""

    grid_size: int
    quantile_min: float
    quantile_max: float
    vae_grid: np.ndarray = page_field()  # (n*n, D), row-major, top row is high z_2
    ae_grid: np.ndarray = page_field()  # the AE's decoder on the same codes


@dataclass
class Typicality:
    """Step 9: log p(x) as an anomaly score, real test samples against shuffled ones."""

    real_mean: float
    shuffled_mean: float
    threshold_1pct: float  # the 1st percentile of the real samples' log p(x)
    shuffled_below_threshold: float  # share of shuffled samples below it


@dataclass
class LabData:
    """The lab's training samples and network size: numbers for explain.json, arrays for the page."""

    n_samples: int  # training samples embedded in the page
    n_train: int  # of the explainer's training split
    hidden: int  # units of the one hidden layer of each encoder and decoder (relu)
    likelihood: str  # "bernoulli", or "gaussian-learned" (one learned variance)
    batch: int  # samples per gradient step
    preset_steps: int  # steps each preset trains: a few seconds in the page
    quantization: str  # how the samples are stored: "unit" (step 1/255) or "per-feature" (min to max)
    max_quantization_error: float  # largest |x − stored x| over the embedded samples
    payload_bytes: int  # the samples as gzip + base64 text: what the lab adds to the page
    x: np.ndarray = page_field()  # (n_samples, D) uint8
    lo: np.ndarray = page_field()  # (D,) float32: x ≈ lo + q · scale
    scale: np.ndarray = page_field()  # (D,) float32
    labels: np.ndarray | None = page_field()  # (n_samples,) uint8, or None


@dataclass
class ExplainReport:
    """Everything `run_explain` measured, stage by stage, in storyline order."""

    config: dict[str, Any]
    data: DataSummary
    curse: CurseStage
    pca: PCAStage
    two_d: TwoDStage
    holes: HolesComparison  # the 2-D AE and VAE: the pictures of step 4
    holes_large: HolesComparison  # an AE and step 6's VAE at its latent size: step 4's numbers
    objective: ObjectiveStage
    linear: LinearStage
    sweep: BetaSweep
    generation: GenerationStage
    compare: CompareResult
    representation_contrast: RepresentationContrast
    typicality: Typicality
    timings: dict[str, float]  # seconds per stage, and "total"
    training: dict[str, TrainingRecord]  # every trained model's budget and validation curve
    unavailable: dict[str, str] = field(default_factory=dict)  # what was not measured, why
    lab: LabData | None = None  # the in-page training lab's samples (`_lab.lab_stage`)

    def to_dict(self) -> dict[str, Any]:
        """The numbers: what explain.json holds."""
        return numbers(self)
