"""Fuzz the file loaders: any bytes either load or raise a VaelabError; never crash or hang.

Inputs are valid files with random byte edits, truncations and insertions (which reach
deeper into a parser than random bytes), plus fully random bytes. About 3,000 examples.
"""

from __future__ import annotations

import gzip
import io
import json
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

from vaelab._config import from_dict
from vaelab.core.config import ModelConfig
from vaelab.core.models import build_model
from vaelab.data import parse_amat, parse_idx
from vaelab.data._arrays import load_array
from vaelab.data._idx import IMAGES_MAGIC, LABELS_MAGIC
from vaelab.errors import VaelabError
from vaelab.runs.files import load_model, save_model
from vaelab.runs.run import DataSpec
from vaelab.training.checkpoint import capture, load_checkpoint, save_checkpoint
from vaelab.training.config import TrainConfig

# derandomize: CI runs the same ~3,000 examples every run, so a failure is reproducible
SETTINGS = settings(
    max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _idx(n=3):
    header = IMAGES_MAGIC.to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 2, 2))
    return header + bytes(range(4 * n))


def _npy():
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(4, 3) / 12)
    return buf.getvalue()


def _npz():
    buf = io.BytesIO()
    np.savez(buf, x=np.arange(12, dtype=np.float32).reshape(4, 3) / 12, y=np.arange(4))
    return buf.getvalue()


def _safetensors():
    model = build_model(ModelConfig(input_shape=(4,), latent_dim=2, hidden=(3,)))
    return st_save({k: v.contiguous() for k, v in model.state_dict().items()})


BASES = {
    "idx": _idx(),
    "idx.gz": gzip.compress(_idx()),
    "amat": b"0 1 1 0\n1 0 0 1\n0 0 1 1\n",
    "npy": _npy(),
    "npz": _npz(),
    "csv": b"a,b,c\n0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n",
    "safetensors": _safetensors(),
}


@st.composite
def mutated(draw, base: bytes):
    """``base`` with random edits, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang("the loader did not return within 10 s")


def _check(call):
    """Loads or raises a VaelabError; anything else (or a hang) fails the test."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        call()
    except VaelabError:
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@SETTINGS
@given(mutated(BASES["idx"]))
def test_idx(content):
    _check(lambda: parse_idx(content, IMAGES_MAGIC))
    _check(lambda: parse_idx(content, LABELS_MAGIC))


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@SETTINGS
@given(mutated(BASES["idx.gz"]))
def test_idx_gz_file(workdir, content):
    from vaelab.data._idx import read_idx

    path = workdir / "fuzz-images-idx3-ubyte.gz"
    path.write_bytes(content)
    _check(lambda: read_idx(path, IMAGES_MAGIC))


@SETTINGS
@given(mutated(BASES["amat"]))
def test_amat(content):
    _check(lambda: parse_amat(content))


@pytest.mark.parametrize("suffix", ["npy", "npz", "csv"])
def test_array_files(workdir, suffix):
    @SETTINGS
    @given(mutated(BASES[suffix]))
    def run(content):
        path = workdir / f"fuzz.{suffix}"
        path.write_bytes(content)
        _check(lambda: load_array(path))
        if suffix == "npy":
            from vaelab.training.batches import NpySource

            def stream():
                src = NpySource(path)
                for _ in src.batches(torch.arange(len(src)), 2):
                    pass

            _check(stream)

    run()


@SETTINGS
@given(mutated(BASES["safetensors"]))
def test_model_safetensors(workdir, content):
    run = workdir / "run"
    if not (run / "config.json").exists():
        save_model(run, build_model(ModelConfig(input_shape=(4,), latent_dim=2, hidden=(3,))))
    (run / "model.safetensors").write_bytes(content)
    _check(lambda: load_model(run))


@pytest.fixture(scope="module")
def checkpoint_bytes(workdir):
    net = build_model(ModelConfig(input_shape=(4,), latent_dim=2, hidden=(3,)))
    snap = capture(net, torch.optim.Adam(net.parameters()), torch.Generator(), {"epoch": 1})
    save_checkpoint(workdir / "ck", snap)
    return (workdir / "ck" / "checkpoint.safetensors").read_bytes()


def test_checkpoint(workdir, checkpoint_bytes):
    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(checkpoint_bytes))
    def run(content):
        d = workdir / "ck2"
        d.mkdir(exist_ok=True)
        (d / "checkpoint.safetensors").write_bytes(content)
        _check(lambda: load_checkpoint(d))

    run()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
VALID = {"model": ModelConfig().to_dict(), "train": TrainConfig().to_dict(), "data": DataSpec().to_dict()}
CLASSES = {"model": ModelConfig, "train": TrainConfig, "data": DataSpec}


@SETTINGS
@given(st.sampled_from(sorted(CLASSES)), st.data())
def test_config_sections(section, data):
    base = dict(VALID[section])
    key = data.draw(st.sampled_from(sorted(base) + ["unknown"]))
    base[key] = data.draw(JSON)
    _check(lambda: from_dict(CLASSES[section], base, section))


@SETTINGS
@given(mutated(json.dumps({"format": 1, **VALID}).encode()))
def test_config_json_file(workdir, content):
    run = workdir / "cfgrun"
    if not (run / "model.safetensors").exists():
        save_model(run, build_model(ModelConfig()))
    (run / "config.json").write_bytes(content)
    _check(lambda: load_model(run))
