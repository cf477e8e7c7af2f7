"""scikit-learn's own estimator checks on `vaelab.VAE` and `vaelab.Autoencoder`."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from vaelab import VAE, Autoencoder

# The check data are tiny (tens of samples), so few epochs of a small network suffice;
# everything else is the defaults.
ESTIMATORS = [
    VAE(n_components=2, hidden_layer_sizes=(16,), max_epochs=10),
    Autoencoder(n_components=2, hidden_layer_sizes=(16,), max_epochs=10),
]

EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {})
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
