"""The one dataset type that every loader returns and every model consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ValueKind = Literal["binary", "unit", "real"]
VALUE_KINDS: tuple[str, ...] = ("binary", "unit", "real")


@dataclass
class Dataset:
    """Samples in memory (or memory-mapped), with optional labels.

    Parameters
    ----------
    x : ndarray of shape (n_samples, *sample_shape), float32
        The samples.
    y : ndarray of shape (n_samples,), int64, or None
        Integer class labels, when the data has them.
    sample_shape : tuple of int
        Shape of one sample: ``(1, 28, 28)`` for images, ``(n_features,)`` for tables.
    kind : {"binary", "unit", "real"}
        What values the samples take: {0, 1}, the interval [0, 1], or any real number.
    name : str
        A short human-readable name (``"mnist/train"``).
    meta : dict
        JSON-serialisable facts about how the data was made (source, transforms, seed);
        ``meta["class_names"]``, where present, names what each label means.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset(np.zeros((3, 4), np.float32), None, (4,), "unit", "zeros")
    >>> len(ds), ds.n_features
    (3, 4)
    """

    x: np.ndarray
    y: np.ndarray | None
    sample_shape: tuple[int, ...]
    kind: ValueKind
    name: str = "data"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample_shape = tuple(int(s) for s in self.sample_shape)
        if self.kind not in VALUE_KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {VALUE_KINDS}")
        if self.x.dtype != np.float32:
            raise TypeError(f"samples must be float32, got {self.x.dtype}")
        if tuple(self.x.shape[1:]) != self.sample_shape:
            raise ValueError(f"samples have shape {self.x.shape[1:]} but sample_shape={self.sample_shape}")
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.y)} labels for {len(self.x)} samples: the counts must match")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of values in one sample (the product of ``sample_shape``)."""
        return int(np.prod(self.sample_shape))

    @property
    def class_names(self) -> list[str] | None:
        """What label i means (``class_names[i]``), where the data names its labels; else None."""
        names = self.meta.get("class_names")
        return None if names is None else [str(n) for n in names]

    @property
    def is_image(self) -> bool:
        """True when a sample is a (C, H, W) image."""
        return len(self.sample_shape) == 3

    def subset(self, index: np.ndarray, name: str | None = None) -> Dataset:
        """A new dataset holding the samples at ``index`` (copied)."""
        y = None if self.y is None else self.y[index]
        return Dataset(
            np.ascontiguousarray(self.x[index]),
            y,
            self.sample_shape,
            self.kind,
            name or self.name,
            dict(self.meta),
        )


@dataclass
class DataSplits:
    """A dataset's standard splits. ``valid`` is None where the source has none."""

    train: Dataset
    test: Dataset
    valid: Dataset | None = None
