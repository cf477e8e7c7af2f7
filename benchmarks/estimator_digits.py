"""vaelab.VAE as a drop-in for PCA: held-out accuracy of a logistic regression on digits.

Pipeline: MinMaxScaler → reducer (10 components) → LogisticRegression(max_iter=1000),
scikit-learn's bundled 8×8 digits, a stratified 75/25 split per seed. Prints one JSON
line per (reducer, seed) and a summary (median, min) per reducer.

Examples
--------
python benchmarks/estimator_digits.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from vaelab import VAE, Autoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-components", type=int, default=10)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    reducers = {
        "PCA": lambda s: PCA(n_components=args.n_components, random_state=s),
        "VAE": lambda s: VAE(n_components=args.n_components, random_state=s),
        "Autoencoder": lambda s: Autoencoder(n_components=args.n_components, random_state=s),
    }
    results: dict[str, list[float]] = {name: [] for name in reducers}
    for seed in args.seeds:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
        for name, make in reducers.items():
            start = time.perf_counter()
            pipe = make_pipeline(MinMaxScaler(), make(seed), LogisticRegression(max_iter=1000))
            accuracy = pipe.fit(Xtr, ytr).score(Xte, yte)
            results[name].append(accuracy)
            print(
                json.dumps(
                    {
                        "reducer": name,
                        "seed": seed,
                        "accuracy": round(accuracy, 4),
                        "seconds": round(time.perf_counter() - start, 1),
                    }
                ),
                flush=True,
            )
    for name, accs in results.items():
        print(
            json.dumps(
                {
                    "reducer": name,
                    "median_accuracy": round(statistics.median(accs), 4),
                    "min_accuracy": round(min(accs), 4),
                    "seeds": args.seeds,
                }
            )
        )


if __name__ == "__main__":
    main()
