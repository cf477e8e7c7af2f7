"""What `vaelab explain` measures and how hard it trains: the config and the presets."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.errors import ConfigError

PRESETS = ("quick", "default", "full")


@dataclass
class ExplainConfig:
    """What `run_explain` measures and how hard it trains."""

    source: str = "digits"  # dataset name or path (see vaelab.data.load_dataset)
    data_dir: str | None = None  # local directory of a named dataset
    shape: tuple[int, ...] | None = None  # read flat rows as images of this shape
    label_column: str | int | None = None  # a CSV's label column (name or index)
    preset: str = "default"  # "quick" (tests), "default" (under 30 s on digits on 2 cores), "full"
    seed: int = 0
    max_train: int | None = None  # subsample the training set (None: the preset's cap)
    max_test: int = 1000  # test examples used for log p(x) and the metrics
    # where the models train ("auto": a CUDA GPU where there is one); every measure runs on the CPU
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset={self.preset!r} must be one of {PRESETS}")
        if self.max_test < 10:
            raise ConfigError(f"max_test={self.max_test} must be >= 10")

    @property
    def budget(self) -> Budget:
        """The preset's training budget and sample sizes."""
        return BUDGETS[self.preset]


@dataclass(frozen=True)
class Budget:
    """A preset: gradient steps per model (epochs follow from the data size) and sizes."""

    steps_2d: int  # the 2-D AE and VAE
    steps_big: int  # the β sweep's VAEs (β = 1 is step 6's), the AE beside them, the Gaussian VAE
    steps_linear: int  # the linear VAE
    iw_samples: int  # K of the importance-sampled log p(x)
    max_train: int | None  # training samples kept (None: all)
    curse_points: int  # synthetic points per dimension
    holes_samples: int  # codes drawn per sampler in the holes measurement
    holes_reference: int  # training samples the holes' nearest neighbours search
    compare_methods: tuple[str, ...]  # vaelab.experiments.compare methods (2-D codes)
    compare_train: int  # training samples t-SNE and UMAP embed (with the test samples)
    compare_test: int


METHODS = ("pca", "ae", "vae", "tsne", "umap")
BUDGETS = {
    "quick": Budget(150, 150, 150, 64, 2000, 300, 300, 5000, ("pca", "ae", "vae"), 2000, 300),
    "default": Budget(2000, 2000, 800, 500, 20000, 500, 1000, 5000, METHODS, 2000, 1000),
    "full": Budget(8000, 8000, 4000, 1000, None, 500, 2000, 10000, METHODS, 5000, 1000),
}
