"""Datasets: one type (`Dataset`) and loaders for real data."""

from vaelab.data._amat import parse_amat, read_amat
from vaelab.data._arrays import array_dataset, load_array, read_arrays
from vaelab.data._dataset import VALUE_KINDS, Dataset, DataSplits
from vaelab.data._download import REMOTE_DATASETS, RemoteDataset, cache_dir, download, locate
from vaelab.data._idx import parse_idx, read_idx, read_idx_split
from vaelab.data._load import LOADERS, describe_source, load_dataset
from vaelab.data._spec import DataSpec, load_data
from vaelab.data._transforms import (
    binarize_static,
    dynamic_binarize_batch,
    scale_to_unit,
    standardize,
    train_valid_split,
)

KNOWN_DATASETS: tuple[str, ...] = tuple(LOADERS)

__all__ = [
    "KNOWN_DATASETS",
    "REMOTE_DATASETS",
    "VALUE_KINDS",
    "DataSpec",
    "DataSplits",
    "Dataset",
    "RemoteDataset",
    "array_dataset",
    "binarize_static",
    "cache_dir",
    "describe_source",
    "download",
    "dynamic_binarize_batch",
    "load_array",
    "load_data",
    "load_dataset",
    "locate",
    "parse_amat",
    "parse_idx",
    "read_amat",
    "read_arrays",
    "read_idx",
    "read_idx_split",
    "scale_to_unit",
    "standardize",
    "train_valid_split",
]
