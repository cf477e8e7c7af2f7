"""What the experiments can be asked for: method names and default grids. No torch here.

The command line builds its options from these, so ``vaelab <command> --help``
starts without importing torch or scikit-learn.
"""

DEFAULT_DIMS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)  # curse
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "gaussian")  # curse: synthetic data
METHODS: tuple[str, ...] = ("pca", "ae", "vae", "tsne", "umap", "random")  # compare
DEFAULT_METHODS: tuple[str, ...] = ("pca", "ae", "vae", "tsne", "umap")
SAMPLERS: tuple[str, ...] = ("prior", "gaussian", "gmm")  # holes: where codes are drawn from
DEFAULT_BETAS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)  # sweep
