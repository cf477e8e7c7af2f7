"""Datasets: one type (`Dataset`) and loaders for real data."""

from vaelab.data._dataset import VALUE_KINDS, DataSplits, Dataset

__all__ = ["Dataset", "DataSplits", "VALUE_KINDS"]
