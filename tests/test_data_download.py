"""Downloads from a loopback mirror into the cache, and where named datasets are looked for."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import shared_data

from vaelab.data import REMOTE_DATASETS, cache_dir, download, load_dataset, locate
from vaelab.errors import DataError, DataNotFoundError

MNIST_FILES = list(REMOTE_DATASETS["mnist"].checksums)


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]
    lie_about_length: bool = False

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output quiet
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if not self.lie_about_length:
            return super().do_GET()
        body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) + 1000))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        return None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """serve(folder, lie_about_length=False) -> (base URL, list of request paths)."""
    servers = []

    def start(folder: Path, lie_about_length: bool = False) -> tuple[str, list[str]]:
        requests: list[str] = []
        handler = type("H", (_Handler,), {"requests": requests, "lie_about_length": lie_about_length})
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/", requests

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment with the cache in tmp; returns the cache root."""
    for var in ("VAELAB_DATA", "VAELAB_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_download_from_mirror_then_cached(tmp_path: Path, serve, env: Path) -> None:
    mirror_dir = tmp_path / "mirror"
    shutil.copytree(shared_data("mnist"), mirror_dir)
    url, requests = serve(mirror_dir)
    splits = load_dataset("mnist", mirror=url)
    assert len(splits.train) == 60000 and len(splits.test) == 10000
    assert sorted(requests) == sorted(f"/{f}" for f in MNIST_FILES)
    cached = env / "mnist"
    assert cached == cache_dir("mnist")
    assert sorted(p.name for p in cached.iterdir()) == sorted(MNIST_FILES)  # no .part left
    for name, checksum in REMOTE_DATASETS["mnist"].checksums.items():
        assert f"md5:{hashlib.md5((cached / name).read_bytes()).hexdigest()}" == checksum
    load_dataset("mnist", mirror=url)
    assert len(requests) == 4  # the second load read the cache


def test_mirror_from_environment(tmp_path: Path, serve, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    shutil.copy(shared_data("mnist") / name, mirror_dir)
    url, requests = serve(mirror_dir)
    monkeypatch.setenv("VAELAB_MIRROR", url)
    for other in MNIST_FILES:  # only the labels file is missing from the cache
        if other != name:
            (env / "mnist").mkdir(parents=True, exist_ok=True)
            (env / "mnist" / other).symlink_to(shared_data("mnist") / other)
    assert locate("mnist") == env / "mnist"
    assert requests == [f"/{name}"]


@pytest.mark.parametrize("damage", ["corrupted", "truncated-file", "short-read"])
def test_bad_download_leaves_nothing(tmp_path: Path, serve, env: Path, damage: str) -> None:
    mirror_dir = tmp_path / "mirror"
    mirror_dir.mkdir()
    body = bytearray((shared_data("mnist") / "train-labels-idx1-ubyte.gz").read_bytes())
    if damage == "corrupted":
        body[-20] ^= 0xFF
    elif damage == "truncated-file":
        body = body[: len(body) // 2]
    for name in MNIST_FILES:
        (mirror_dir / name).write_bytes(bytes(body))
    url, _ = serve(mirror_dir, lie_about_length=damage == "short-read")
    message = "truncated|broken off" if damage == "short-read" else "MD5 .* does not match"
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", mirror=url)
    assert list((env / "mnist").iterdir()) == []


def test_unreachable_mirror(env: Path) -> None:
    with pytest.raises(DataNotFoundError, match="could not download .*data_dir"):
        load_dataset("kmnist", mirror="http://127.0.0.1:9/")
    assert list((env / "kmnist").iterdir()) == []


def test_download_function_checks_sha256(tmp_path: Path) -> None:
    src = tmp_path / "a.amat"
    src.write_bytes(b"0 1\n")
    good = "sha256:" + hashlib.sha256(b"0 1\n").hexdigest()
    assert download(src.as_uri(), tmp_path / "c" / "a.amat", good).read_bytes() == b"0 1\n"
    with pytest.raises(DataError, match="SHA256"):
        download(src.as_uri(), tmp_path / "d" / "a.amat", "sha256:" + "0" * 64)
    assert list((tmp_path / "d").iterdir()) == []


def test_vaelab_data_subfolder(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shared_data("mnist").parent
    monkeypatch.setenv("VAELAB_DATA", str(root))
    assert locate("mnist") == root / "mnist"
    assert locate("fashion-mnist") == root / "fashion_mnist"
    assert locate("binarized-mnist") == root / "binarized_mnist"


def test_vaelab_data_files_directly(tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "direct").mkdir()
    (tmp_path / "direct" / "train-images-idx3-ubyte").write_bytes(b"")
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "direct"))
    assert locate("kmnist") == tmp_path / "direct"
    assert locate("kmnist", data_dir=tmp_path) == tmp_path  # explicit data_dir wins


def test_data_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="is not a directory"):
        load_dataset("mnist", data_dir=tmp_path / "nope")
