"""``n_init``: several initializations trained in one batched pass, the best one kept.

The independent truth is `fit` alone: each initialization must end where `fit` trains
it by itself from the same seeds. Both train with the hand-written step; the batched
one multiplies the K models' matrices in one bmm, so they agree up to float rounding
(`tests/test_batched.py` checks the batched step bit for bit with autograd's step).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import vaelab
from vaelab import VAE, Autoencoder
from vaelab.core.models import build_model
from vaelab.data import Dataset, train_valid_split
from vaelab.errors import ConfigError
from vaelab.training.loop import fit

SMALL = dict(n_components=2, hidden_layer_sizes=(32,), max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def X():
    return (load_digits().data[:400] / 16.0).astype(np.float32)


def _seeds(random_state: int, n: int) -> list[int]:
    rs = np.random.RandomState(random_state)
    return [int(rs.randint(np.iinfo(np.int32).max)) for _ in range(n)]


def _alone(est, X: np.ndarray, seeds: list[int]):
    """Each initialization trained by `fit` alone, as the estimator would set it up."""
    cfg = est._model_config(X.shape[1], est.likelihood_)
    train_cfg = est._train_config(seeds[0])
    data = Dataset(X.copy(), None, (X.shape[1],), "unit", "X")
    valid = None
    if est.early_stopping:
        data, valid = train_valid_split(data, est.validation_fraction, seeds[0])
    out = []
    for s in seeds:
        model = build_model(cfg, seed=s)
        history = fit(model, data, train_cfg, valid=valid, progress=False)
        out.append((model.eval(), history))
    return out


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_n_init_keeps_the_best_of_the_fits_trained_alone(X, cls, early_stopping):
    est = cls(n_init=3, early_stopping=early_stopping, n_iter_no_change=2, **SMALL).fit(X)
    alone = _alone(est, X, _seeds(0, 3))
    if early_stopping:
        expected = [min(h.valid_loss) for _, h in alone]
    else:
        expected = [h.train_loss[-1] for _, h in alone]
    np.testing.assert_allclose(est.init_losses_, expected, rtol=1e-5)  # batched = alone
    assert min(abs(a - b) for a in expected for b in expected if a != b) > 1e-3  # they really differ
    best = int(np.argmin(expected))
    kept, history = alone[best]
    for (name, a), b in zip(est.model_.state_dict().items(), kept.state_dict().values(), strict=True):
        assert float((a - b).abs().max()) <= 1e-3 * float(b.abs().max()), name
    assert est.n_iter_ == len(history.epoch)


def test_the_first_initialization_is_the_single_fit(X):
    one = VAE(**SMALL).fit(X)
    three = VAE(n_init=3, **SMALL).fit(X)
    np.testing.assert_allclose(three.init_losses_[:1], one.init_losses_, rtol=1e-4)
    assert three.init_losses_.min() <= three.init_losses_[0]


def test_n_init_survives_save_and_load(X, tmp_path):
    est = VAE(n_init=2, **SMALL).fit(X)
    same = vaelab.load(est.save(tmp_path / "run"))
    assert same.n_init == 2
    np.testing.assert_array_equal(same.transform(X), est.transform(X))
    np.testing.assert_array_equal(same.score_samples(X[:20]), est.score_samples(X[:20]))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_n_init_is_refused_by_name(X, bad):
    with pytest.raises(ConfigError, match=r"n_init=.* must be an integer >= 1"):
        VAE(n_init=bad, **SMALL).fit(X)
