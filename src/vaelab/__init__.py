"""vaelab: variational autoencoders as probabilistic dimensionality reduction."""

__version__ = "0.1.0"
