"""A run's data pipeline as a record: where the data comes from and how it is transformed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vaelab._config import from_dict as config_from_dict
from vaelab.data._dataset import DataSplits
from vaelab.data._load import load_dataset
from vaelab.data._transforms import binarize_static, standardize, train_valid_split
from vaelab.errors import ConfigError

DATA_BINARIZE = ("none", "static")


@dataclass
class DataSpec:
    """Where a run's data comes from and how it is transformed; enough to reload it."""

    source: str = "digits"  # a dataset name or a path to a .npy/.npz/.csv file or directory
    data_dir: str | None = None  # local directory of a named dataset
    shape: tuple[int, ...] | None = None  # (H, W) or (C, H, W) to read flat rows as images
    label_column: str | int | None = None  # CSV: the column holding labels
    test_fraction: float = 0.2  # for sources without a test split
    valid_fraction: float = 0.1  # held out of train for validation and early stopping; 0: none
    binarize: str = "none"  # "static": one seeded Bernoulli draw of the data
    standardize: bool = False  # zero mean, unit variance per feature (from train)
    seed: int = 0  # seeds the splits and static binarization

    def __post_init__(self) -> None:
        if self.shape is not None:
            self.shape = tuple(int(s) for s in self.shape)
        if self.binarize not in DATA_BINARIZE:
            raise ConfigError(f"binarize={self.binarize!r} must be one of {DATA_BINARIZE}")
        if not 0 <= self.seed <= 2**32 - 1:
            raise ConfigError(f"seed={self.seed} must be between 0 and {2**32 - 1}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"valid_fraction={self.valid_fraction} must be in [0, 1)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = None if self.shape is None else list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        """Rebuild from `to_dict`; unknown or mistyped keys are a `ConfigError`."""
        return config_from_dict(cls, d, "data")


def load_data(spec: DataSpec) -> DataSplits:
    """Load and transform the data a spec describes: train, test and (maybe) valid."""
    splits = load_dataset(
        spec.source,
        data_dir=spec.data_dir,
        shape=spec.shape,
        label_column=spec.label_column,
        test_fraction=spec.test_fraction,
        seed=spec.seed,
    )
    train, test, valid = splits.train, splits.test, splits.valid
    if valid is None and spec.valid_fraction > 0:
        train, valid = train_valid_split(train, spec.valid_fraction, spec.seed)
    if spec.binarize == "static":
        train, test = binarize_static(train, spec.seed), binarize_static(test, spec.seed + 1)
        valid = None if valid is None else binarize_static(valid, spec.seed + 2)
    if spec.standardize:
        parts = standardize(train, test, *([] if valid is None else [valid]))
        train, test = parts[0], parts[1]
        valid = parts[2] if valid is not None else None
    return DataSplits(train, test, valid)
