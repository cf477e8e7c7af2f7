"""Reliability suite: SIGKILL training at random moments, and throw bad inputs at the CLI and API.

A. Kills. Until ``--kills`` SIGKILLs (default 24) have landed, start a small ``vaelab train``
   on digits (fp32, CPU) and SIGKILL it: about 40 % within 150 ms of the first entry
   appearing beside the run (mkdir, config.json, model.safetensors, the first checkpoints),
   20 % at the first sight of a temporary file (inside an atomic write), the rest anywhere
   in training and the final writes; a third of the cases SIGKILL the resume too. After
   each kill the run must load (``vaelab.load``) or hold a checkpoint. ``vaelab train
   --resume`` must then exit 0 with a model.safetensors byte-identical to an uninterrupted
   run's, the same metrics.jsonl (times aside), no ``.*.tmp``/``.*.link`` file and nothing
   else beside the run. Three training configurations are cycled; each one's uninterrupted
   run is done twice first, to show that it is deterministic.
B. Bad inputs. About 260 generated cases across data, options, run directories (each damage
   × the commands that read what it damages), output locations and the Python API, each
   run as a fresh subprocess in its own directory, with a 120 s timeout and a 6 GiB
   address-space limit. A CLI case passes when the command exits with code 2, stderr is
   one line starting with ``error:``, nothing prints a traceback and the case's directory
   (user files, the damaged run) is byte for byte as before, so nothing is left behind.
   An API case passes when it raises the named exception with a message, and never
   returns NaN. Damaged safetensors files are re-encoded with vaelab's own writer, so the
   damage, not the checksum, is what gets tested (except for the byte-flip cases).
   Controls (intact runs that must work) check the harness itself.
C. A table of categories, cases, passed, failed and skipped, every failed case with its
   reason, and the table again as Markdown. Exit status 1 when any case failed.

Everything happens in a fresh temporary directory, deleted at the end (``--keep`` keeps
it). As root, the script gives itself a private mount namespace for a read-only bind
mount, small tmpfs disks (disk full) and a guard over /dev/null, all gone when it exits;
without root those cases are skipped with the reason.

Usage: python benchmarks/reliability.py [--seed 0] [--kills 24] [--quick]
       [--only kills|inputs] [--filter TEXT] [--jobs 1] [--verbose] [--keep]
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import hashlib
import json
import os
import pickle
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TIMEOUT = 120  # seconds a bad-input case may take
MEMORY_CAP = 6 << 30  # address-space limit of bad-input children: a huge allocation fails
BIG_FILE = 64 << 20  # snapshots compare files above this by size and mtime, not content
KEEP = False  # --keep: leave every case directory in place


# ---- running vaelab ------------------------------------------------------------------------


@dataclass
class Result:
    rc: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float


_LIMITED = (
    "import os, resource, sys\n"
    "for lim, v in ((resource.RLIMIT_AS, int(sys.argv[1])), "
    "(resource.RLIMIT_FSIZE, int(sys.argv[2]))):\n"
    "    if v > 0: resource.setrlimit(lim, (v, v))\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[3:]])"
)


class Env:
    """Where children run: their environment (a private HOME, no $VAELAB_DATA)."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.vars = {k: v for k, v in os.environ.items() if k != "VAELAB_DATA"}
        self.vars.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(home / "cache"),
            MPLCONFIGDIR=str(home / "mpl"),
            OMP_NUM_THREADS="1",
        )

    def popen(self, args: list[str], cwd: Path, **kw) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=self.vars,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kw,
        )

    def run(
        self, args: list[str], cwd: Path, timeout: float = TIMEOUT, memory: int = MEMORY_CAP, fsize: int = 0
    ) -> Result:
        """``python ARGS`` under an address-space (and file-size) limit; killed at ``timeout``."""
        start = time.perf_counter()
        proc = self.popen(
            ["-c", _LIMITED, str(memory), str(fsize), *args],
            cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            rc = None
        return Result(rc, out, err, time.perf_counter() - start)

    def vaelab(self, argv: list[str], cwd: Path, **kw) -> Result:
        return self.run(["-m", "vaelab", *map(str, argv)], cwd, **kw)


# ---- snapshots: what a refused command must leave alone ------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (symlinks not followed) → its type, mode and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = _signature(path)
    return out


def _signature(path: str) -> str:
    st = os.lstat(path)
    mode = oct(stat.S_IMODE(st.st_mode))
    if stat.S_ISLNK(st.st_mode):
        return "link -> " + os.readlink(path)
    if stat.S_ISDIR(st.st_mode):
        return f"dir {mode}"
    if not stat.S_ISREG(st.st_mode):
        return f"special {stat.S_IFMT(st.st_mode)} {mode}"
    if st.st_size > BIG_FILE:
        return f"big {st.st_size} {st.st_mtime_ns} {mode}"
    try:
        with open(path, "rb") as f:
            return f"file {mode} {hashlib.sha256(f.read()).hexdigest()}"
    except OSError:
        return f"unreadable {st.st_size} {mode}"


def _names(paths: list[str]) -> str:
    return ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")


def diff(before: dict[str, str], after: dict[str, str]) -> str | None:
    """What changed between two snapshots, in words; None when nothing did."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    parts = [
        f"{what}: {_names(paths)}"
        for what, paths in (("left behind", added), ("removed", removed), ("modified", changed))
        if paths
    ]
    return "; ".join(parts) or None


# ---- mounts (root only: a private mount namespace, so nothing outlives this process) -------


class Mounts:
    """tmpfs disks and read-only binds in a mount namespace private to this process."""

    def __init__(self) -> None:
        self.active: list[Path] = []
        self.why_not = self._private_namespace()

    @staticmethod
    def _private_namespace() -> str | None:
        if os.geteuid() != 0:
            return "needs root (a private mount namespace)"
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            return f"unshare(CLONE_NEWNS) failed: {os.strerror(ctypes.get_errno())}"
        made = subprocess.run(["mount", "--make-rprivate", "/"], capture_output=True, text=True)
        if made.returncode != 0:
            return f"mount --make-rprivate / failed: {made.stderr.strip()}"
        return None

    def mount(self, *args: str, target: Path) -> None:
        subprocess.run(["mount", *args, str(target)], check=True, capture_output=True)
        self.active.append(target)

    def tmpfs(self, target: Path, size: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        self.mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", target=target)

    def read_only(self, target: Path) -> None:
        self.mount("--bind", str(target), target=target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True)

    def release(self, under: Path) -> None:
        for target in [t for t in self.active if t == under or under in t.parents][::-1]:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
            self.active.remove(target)


def fill(disk: Path, leave: int) -> None:
    """Fill the tmpfs at ``disk`` with a user file until ``leave`` bytes are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    (disk / "user-data.bin").write_bytes(b"\x5a" * max(free - leave, 0))


# ---- A: SIGKILL at random moments ----------------------------------------------------------

KILL_CONFIGS = {
    # name: extra `vaelab train` options; each is resumed and compared with its own reference
    "every-epoch": [],
    "cosine+warmup+dynamic, ckpt/3": [
        "--checkpoint-every",
        "3",
        "--lr-schedule",
        "cosine",
        "--kl-warmup",
        "10",
        "--binarize",
        "dynamic",
    ],
    "early-stopping": ["--patience", "3", "--valid-fraction", "0.2", "--batch-size", "64"],
}


def train_argv(config: str, epochs: int, seed: int, out: Path) -> list[str]:
    return [
        "train",
        "--data",
        "digits",
        "--epochs",
        str(epochs),
        "--hidden",
        "32",
        "--latent-dim",
        "2",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--seed",
        str(seed),
        "--quiet",
        "--out",
        str(out),
        *KILL_CONFIGS[config],
    ]


@dataclass
class Reference:
    model: bytes
    metrics: list[dict]
    startup: float  # seconds from launch to the first entry in the run's parent directory
    training: float  # seconds from then to exit


def _appeared(parent: Path) -> bool:
    try:
        return any(True for _ in os.scandir(parent))
    except FileNotFoundError:
        return False


def _wait_for(
    proc: subprocess.Popen, ready: Callable[[], bool], deadline: float, pause: float = 0.001
) -> bool:
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(pause)
    return False


def _metrics(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields, for comparison."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if k != "seconds"} if isinstance(r, dict) else r for r in rows]


def reference(env: Env, work: Path, config: str, epochs: int, seed: int) -> Reference:
    """One uninterrupted run, timed: the bytes and metrics every resumed run must match."""
    parent = work / "parent"
    parent.mkdir(parents=True)
    start = time.monotonic()
    proc = env.popen(
        ["-m", "vaelab", *train_argv(config, epochs, seed, parent / "run")],
        work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for(proc, lambda: _appeared(parent), start + 600)
    appeared = time.monotonic()
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"reference run ({config}) failed:\n{err.decode(errors='replace')}")
    return Reference(
        (parent / "run" / "model.safetensors").read_bytes(),
        _metrics(parent / "run"),
        appeared - start,
        time.monotonic() - appeared,
    )


def describe(run: Path) -> tuple[str, bool, bool]:
    """The run directory right after a kill: (words, loads with vaelab.load, has a checkpoint)."""
    import importlib

    import vaelab

    for module in ("vaelab.training.checkpoint", "vaelab.checkpoint"):  # newer, older layout
        try:
            load_checkpoint = importlib.import_module(module).load_checkpoint
            break
        except ImportError:
            continue
    if not run.exists():
        return "no run directory", False, False
    names = sorted(os.listdir(run))
    temps = [n for n in names if _is_temp(n)]
    parts = [n.split(".")[0] for n in names if n in ("config.json", "model.safetensors")]
    try:
        vaelab.load(run)
        loads = True
    except Exception:  # noqa: BLE001 - any failure to load counts
        loads = False
    try:
        epoch = load_checkpoint(run)["meta"]["state"]["epoch"]
        parts.append(f"checkpoint@{epoch}")
        resumable = True
    except Exception:  # noqa: BLE001
        resumable = False
    if temps:
        parts.append(f"{len(temps)} temp file{'s' * (len(temps) > 1)}")
    return (", ".join(parts) or "empty directory"), loads, resumable


def _is_temp(name: str) -> bool:
    """A temporary file of an atomic write (``.NAME.XXXX.tmp``, ``.NAME.link``)."""
    return name.startswith(".") and name.endswith((".tmp", ".link"))


def leftovers(parent: Path, run: Path) -> list[str]:
    """Temporary files in the run directory, and anything beside it in ``parent``."""
    found = [str(p.relative_to(parent)) for p in run.rglob("*") if _is_temp(p.name)]
    return found + [p.name for p in parent.iterdir() if p != run]


@dataclass
class KillCase:
    index: int
    config: str
    landings: list[str] = field(default_factory=list)  # one line per SIGKILL delivered
    kills: int = 0
    before_first_checkpoint: int = 0  # kills that found no complete checkpoint yet
    mid_write: int = 0  # kills that left a temporary file (inside an atomic write)
    reasons: list[str] = field(default_factory=list)


def kill_case(
    env: Env, work: Path, index: int, config: str, epochs: int, seed: int, ref: Reference, rng: random.Random
) -> KillCase:
    case = KillCase(index, config)
    parent = work / f"kill{index:02d}"
    parent.mkdir()
    run = parent / "run"
    phase = rng.choices(["first writes", "temp file", "training"], weights=[4, 2, 4])[0]
    proc = env.popen(
        ["-m", "vaelab", *train_argv(config, epochs, seed, run)],
        parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(proc, lambda: _appeared(parent), time.monotonic() + 300)
    t0 = time.monotonic()
    if phase == "first writes":
        time.sleep(0.0 if rng.random() < 0.25 else rng.uniform(0.0, 0.15))
    elif phase == "temp file":  # kill at the first sight of a temporary file, or give up later
        give_up = t0 + rng.uniform(0.0, ref.training)
        _wait_for(proc, lambda: any(_is_temp(n) for n in _listdir(run)), give_up, 0.0)
    else:
        time.sleep(rng.uniform(0.0, 0.9 * ref.training))
    _kill(proc, case, run, f"{phase} +{(time.monotonic() - t0) * 1e3:.0f} ms")
    if rng.random() < 1 / 3 and run.exists():  # SIGKILL the resume as well
        proc = env.popen(
            ["-m", "vaelab", "train", "--resume", str(run), "--quiet"],
            parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        delay = rng.uniform(0.5 * ref.startup, ref.startup + ref.training)
        time.sleep(delay)
        _kill(proc, case, run, f"resume +{delay:.2f} s")
    # finish: resume what is there (or, with no run directory at all, start again)
    argv = (
        ["train", "--resume", str(run), "--quiet"] if run.exists() else train_argv(config, epochs, seed, run)
    )
    done = env.vaelab(argv, parent, timeout=600, memory=0)
    if done.rc != 0:
        tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        case.reasons.append(f"`{' '.join(argv[:2])}` exit {done.rc}: {tail[:160]}")
        return case
    model = (run / "model.safetensors").read_bytes()
    if model != ref.model:
        case.reasons.append(
            f"model.safetensors differs from the uninterrupted run ({_weight_difference(model, ref.model)})"
        )
    got = _metrics(run)
    if got != ref.metrics:
        case.reasons.append(
            f"metrics.jsonl differs from the uninterrupted run ({_first_difference(got, ref.metrics)})"
        )
    left = leftovers(parent, run)
    if left:
        case.reasons.append(f"left behind: {_names(left)}")
    return case


def _weight_difference(a: bytes, b: bytes) -> str:
    from safetensors.torch import load

    try:
        ta, tb = load(a), load(b)
    except Exception as err:  # noqa: BLE001
        return f"unreadable: {err}"
    if ta.keys() != tb.keys() or any(ta[k].shape != tb[k].shape for k in ta):
        return "different tensors"
    worst = max(float((ta[k].double() - tb[k].double()).abs().max()) for k in ta)
    return f"largest weight difference {worst:.3g}"


def _first_difference(got: list, ref: list) -> str:
    for i, (g, r) in enumerate(zip(got, ref, strict=False)):
        if g != r:
            if not (isinstance(g, dict) and isinstance(r, dict)):
                return f"line {i + 1}: {str(g)[:60]} vs {str(r)[:60]}"
            keys = sorted(k for k in g.keys() | r.keys() if g.get(k) != r.get(k))
            k = keys[0]
            return f"first at line {i + 1} (epoch {g.get('epoch')}): {k} {g.get(k)} vs {r.get(k)}" + (
                f" and {len(keys) - 1} more fields" if len(keys) > 1 else ""
            )
    epochs = [r.get("epoch") if isinstance(r, dict) else r for r in got]
    return f"epochs {_span(epochs)}, reference 1..{len(ref)}"


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _span(values: list) -> str:
    if values and values == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]}"
    return str(values[:8]) + ("..." if len(values) > 8 else "")


def _kill(proc: subprocess.Popen, case: KillCase, run: Path, when: str) -> None:
    if proc.poll() is not None:
        case.landings.append(f"{when}: process had already exited ({proc.returncode})")
        if proc.returncode != 0:
            case.reasons.append(f"training exited {proc.returncode} before the kill")
        return
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    case.kills += 1
    state, loads, resumable = describe(run)
    case.landings.append(f"{when} -> {state}")
    case.before_first_checkpoint += not resumable
    case.mid_write += "temp file" in state
    if run.exists() and not (loads or resumable):
        case.reasons.append(f"after SIGKILL ({when}) neither loadable nor resumable: {state}")


def kill_campaign(
    env: Env, work: Path, kills: int, epochs: int, seed: int
) -> tuple[list[KillCase], list[tuple[str, list[str]]]]:
    """SIGKILL training until ``kills`` kills have landed; the cases and the controls."""
    rng = random.Random(seed)
    refs, controls = {}, []
    for i, config in enumerate(KILL_CONFIGS):
        refs[config] = reference(env, work / f"ref{i}a", config, epochs, seed)
        again = reference(env, work / f"ref{i}b", config, epochs, seed)
        same = again.model == refs[config].model and again.metrics == refs[config].metrics
        controls.append(
            (
                f"uninterrupted {config} run is deterministic",
                [] if same else ["two uninterrupted runs differ"],
            )
        )
        print(
            f"reference {config}: {refs[config].startup:.1f} s to the first write, "
            f"{refs[config].training:.1f} s of training; rerun identical: {same}",
            flush=True,
        )
    cases: list[KillCase] = []
    configs = list(KILL_CONFIGS)
    while sum(c.kills for c in cases) < kills and len(cases) < 2 * kills + 5:
        config = configs[len(cases) % len(configs)]
        case = kill_case(env, work, len(cases), config, epochs, seed, refs[config], rng)
        cases.append(case)
        verdict = "PASS" if not case.reasons else "FAIL " + "; ".join(case.reasons)
        print(f"kill case {case.index:2d} [{config}] {' | '.join(case.landings)}: {verdict}", flush=True)
    return cases, controls


# ---- B: bad inputs -------------------------------------------------------------------------


@dataclass
class Call:
    """What one bad-input case runs, and what it accepts."""

    argv: list | None = None  # `vaelab ARGV` in the case directory
    api: str | None = None  # or Python code calling report(...) after API_PRELUDE
    allowed: tuple[str, ...] = ("ValueError",)  # API: exception classes that count as refusals
    finite_ok: bool = False  # API: a finite result counts as well
    fsize: int = 0  # RLIMIT_FSIZE of the child (writes beyond it fail with EFBIG)
    check: Callable[[], str | None] | None = None  # an extra check after the run
    custom: Callable[[], list[str]] | None = None  # a case that runs and judges itself
    skip: str | None = None  # why this case cannot run here
    succeed: bool = False  # a control: must exit 0 (or return without raising)


@dataclass
class Case:
    category: str
    name: str
    build: Callable[[Path], Call]  # writes the case's files into its (empty) directory


API_PRELUDE = textwrap.dedent("""
    import json, math
    import numpy as np
    import vaelab

    rng = np.random.default_rng(0)
    X = rng.random((60, 5))  # values in [0, 1]
    XR = rng.normal(size=(60, 5))  # real values

    def fitted(X=X, **params):
        params = {"n_components": 2, "hidden_layer_sizes": (8,), "max_epochs": 1,
                  "random_state": 0, **params}
        return vaelab.VAE(**params).fit(X)

    def report(fn):
        try:
            value = fn()
        except BaseException as err:  # MemoryError, RecursionError, ... count as wrong
            print(json.dumps({"raised": [c.__name__ for c in type(err).__mro__],
                              "message": str(err)}))
            return
        try:
            arr = np.asarray(value, dtype=float)
            nan, inf = bool(np.isnan(arr).any()), bool(np.isinf(arr).any())
        except (TypeError, ValueError):
            nan = inf = False
        print(json.dumps({"raised": None, "returned": type(value).__name__, "nan": nan,
                          "inf": inf}))
""")


def judge_cli(res: Result, succeed: bool) -> list[str]:
    out = []
    if res.rc is None:
        return [f"timed out after {TIMEOUT} s"]
    tb = "Traceback" in res.stderr or "Traceback" in res.stdout
    lines = res.stderr.strip().splitlines()
    last = lines[-1][:200] if lines else "(no stderr)"
    if succeed:
        return [] if res.rc == 0 else [f"exit {res.rc}: {last}"]
    if res.rc != 2:
        out.append(f"exit {res.rc}")
    if tb:
        out.append(f"traceback: {last}")
    elif len(lines) != 1:
        out.append(f"{len(lines)} stderr lines" + (f": {lines[0][:120]} ... {last}" if lines else ""))
    elif not (lines[0].startswith("error:") and lines[0][6:].strip()):
        out.append(f"stderr not 'error: ...': {lines[0][:160]}")
    return out


def judge_api(res: Result, call: Call) -> list[str]:
    if res.rc is None:
        return [f"timed out after {TIMEOUT} s"]
    rows = [line for line in res.stdout.splitlines() if line.startswith('{"raised"')]
    if not rows:
        last = (res.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return [f"no result (exit {res.rc}): {last[:200]}"]
    got = json.loads(rows[-1])
    if got["raised"] is None:
        if call.succeed or (call.finite_ok and not got["nan"] and not got["inf"]):
            return []
        flaw = " with NaN" if got["nan"] else " with inf" if got["inf"] else ""
        return [f"returned {got['returned']}{flaw} instead of raising {'/'.join(call.allowed)}"]
    name = got["raised"][0]
    if call.succeed:
        return [f"raised {name}: {got['message'][:160]}"]
    if not set(call.allowed) & set(got["raised"]):
        return [f"raised {name} (wanted {'/'.join(call.allowed)}): {got['message'][:160]}"]
    if not got["message"].strip():
        return [f"{name} without a message"]
    return []


def run_case(
    case: Case, env: Env, root: Path, mounts: Mounts, number: int
) -> tuple[str, list[str], float, str]:
    """Run one case in its own directory: ('pass'|'fail'|'skip', reasons, seconds, what it said)."""
    d = root / f"{number:03d}"
    d.mkdir()
    start = time.perf_counter()
    said = ""
    try:
        call = case.build(d)
        if call.skip:
            return "skip", [call.skip], 0.0, ""
        if call.custom is not None:
            reasons = call.custom()
        else:
            before = snapshot(d)
            if call.argv is not None:
                res = env.vaelab(call.argv, d, fsize=call.fsize)
                reasons = judge_cli(res, call.succeed)
                said = res.stderr.strip()
            else:
                res = env.run(["-c", API_PRELUDE + call.api], d)
                reasons = judge_api(res, call)
                said = (res.stdout.strip().splitlines() or [""])[-1]
            changed = diff(before, snapshot(d))
            if changed and not call.succeed:
                reasons.append(changed)
        if call.check is not None and (extra := call.check()):
            reasons.append(extra)
    except Exception as err:  # noqa: BLE001 - a harness error is reported, not hidden
        reasons = [f"harness error: {type(err).__name__}: {err}"]
    finally:
        mounts.release(d)
        if not KEEP:
            shutil.rmtree(d, ignore_errors=True)
    return ("fail" if reasons else "pass"), reasons, time.perf_counter() - start, said


# -- inputs that the cases write


def npy(d: Path, name: str, x, **kw) -> str:
    with open(d / name, "wb") as f:
        np.save(f, x, **kw)
    return name


def raw_file(name: str, content: bytes) -> Callable[[Path], list]:
    """A build step writing ``content`` to ``name``; returns ``["--data", name]``."""

    def make(d: Path) -> list:
        (d / name).write_bytes(content)
        return ["--data", name]

    return make


def mkdir(path: Path) -> list:
    path.mkdir()
    return []


def touch(path: Path) -> list:
    path.write_text("user file\n")
    return []


def rand(n: int = 40, f: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, f), dtype=np.float32)


class Canary:
    """Unpickling this creates the file ``path``: proof that something was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def canary_check(d: Path) -> Callable[[], str | None]:
    return lambda: "UNPICKLED the file (canary created)" if (d / "UNPICKLED").exists() else None


IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_dir(d: Path, breakage: str) -> str:
    """A small MNIST-like directory of gzipped IDX files, broken in one way."""
    src = d / "idx"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name in IDX_NAMES:
        n = 30 if name.startswith("train") else 10
        if breakage == "label count" and name == "train-labels-idx1-ubyte":
            n = 29
        if "images" in name:
            count = 2**31 - 1 if breakage == "huge count" and name.startswith("train") else n
            body = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (count, 4, 4))
            body += rng.integers(0, 256, n * 16, dtype=np.uint8).tobytes()
        else:
            body = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
            body += rng.integers(0, 10, n, dtype=np.uint8).tobytes()
        first = name == "train-images-idx3-ubyte"
        if first and breakage == "truncated":
            body = body[:-7]
        if first and breakage == "bad magic":
            body = b"\x00\x00\x09\x99" + body[4:]
        data = gzip.compress(body)
        if first and breakage == "corrupt gzip":
            data = data[:10] + b"\xff" * 8 + data[18:]
        if first and breakage == "not gzip":
            data = b"this is not a gzip file\n" * 4
        if first and breakage == "empty gz":
            data = b""
        if breakage == "no test files" and name.startswith("t10k"):
            continue
        (src / f"{name}.gz").write_bytes(data)
    return "idx"


TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--device", "cpu", "--quiet", "--out", "run"]


def data_cases() -> list[Case]:
    cases: list[Case] = []

    def train(
        name: str,
        make: Callable[[Path], list],
        extra: list | None = None,
        check: Callable[[Path], Callable] | None = None,
    ) -> None:
        def build(d: Path) -> Call:
            return Call(argv=["train", *make(d), *(extra or []), *TINY], check=check(d) if check else None)

        cases.append(Case("data", name, build))

    def with_value(value: float, where=(3, 2)):
        def make(d: Path) -> list:
            x = rand()
            x[where] = value
            return ["--data", npy(d, "x.npy", x)]

        return make

    train("NaN in .npy", with_value(np.nan))
    train("inf in .npy", with_value(np.inf))
    train("-inf in .npy", with_value(-np.inf))
    train("all NaN .npy", lambda d: ["--data", npy(d, "x.npy", np.full((40, 6), np.nan, np.float32))])
    train("1-D .npy", lambda d: ["--data", npy(d, "x.npy", rand()[:, 0])])
    train("0-D .npy", lambda d: ["--data", npy(d, "x.npy", np.float32(1.0))])
    train("empty .npy (0 rows)", lambda d: ["--data", npy(d, "x.npy", np.zeros((0, 6), np.float32))])
    train("no features .npy (40 x 0)", lambda d: ["--data", npy(d, "x.npy", np.zeros((40, 0), np.float32))])
    train("1 sample .npy", lambda d: ["--data", npy(d, "x.npy", rand(1))])
    train("2 samples .npy", lambda d: ["--data", npy(d, "x.npy", rand(2))])

    def truncated_npy(d: Path) -> list:
        npy(d, "x.npy", rand())
        raw = (d / "x.npy").read_bytes()
        (d / "x.npy").write_bytes(raw[: len(raw) // 2])
        return ["--data", "x.npy"]

    train("truncated .npy", truncated_npy)
    train("garbage .npy", raw_file("x.npy", bytes(range(256))[::-1] * 2))
    train("complex .npy", lambda d: ["--data", npy(d, "x.npy", rand().astype(np.complex64))])
    train("string .npy", lambda d: ["--data", npy(d, "x.npy", np.array([["a", "b"]] * 20))])
    train("float64 beyond float32 range", lambda d: ["--data", npy(d, "x.npy", np.full((40, 6), 1e300))])
    train(
        "one value beyond float32 range",
        lambda d: ["--data", npy(d, "x.npy", np.where(np.eye(40, 6) > 0, 1e39, rand().astype(float)))],
    )

    def pickled(kind: str) -> Callable[[Path], list]:
        def make(d: Path) -> list:
            evil = np.empty((20, 3), dtype=object)
            evil[:] = 0.5
            evil[0, 0] = Canary(str(d / "UNPICKLED"))
            if kind == "npy":
                return ["--data", npy(d, "x.npy", evil, allow_pickle=True)]
            if kind == "npz":
                np.savez(d / "x.npz", x=evil)
                return ["--data", "x.npz"]
            (d / "x.npy").write_bytes(pickle.dumps(evil))
            return ["--data", "x.npy"]

        return make

    for kind in ("npy", "npz", "raw pickle"):
        train(f"pickled objects ({kind})", pickled(kind), check=canary_check)

    def npz(**arrays) -> Callable[[Path], list]:
        def make(d: Path) -> list:
            np.savez(d / "x.npz", **arrays)
            return ["--data", "x.npz"]

        return make

    train(".npz without known keys", npz(weights=rand()))
    train(".npz labels of another length", npz(x=rand(10, 4), y=np.arange(9)))
    train(".npz train/test width mismatch", npz(x_train=rand(30, 5), x_test=rand(10, 6)))
    train(".npz x_train without x_test rows", npz(x_train=rand(30, 5), x_test=rand(0, 5)))

    def truncated_npz(d: Path) -> list:
        np.savez(d / "x.npz", x=rand())
        raw = (d / "x.npz").read_bytes()
        (d / "x.npz").write_bytes(raw[: len(raw) - 40])
        return ["--data", "x.npz"]

    train("truncated .npz", truncated_npz)

    def csv(text: str | bytes, label: list | None = None) -> Callable[[Path], list]:
        content = text if isinstance(text, bytes) else text.encode()
        return lambda d: [*raw_file("x.csv", content)(d), *(label or [])]

    rows = "".join(f"{i % 3},{i % 5},{i % 7}\n" for i in range(30))
    train("ragged CSV", csv("a,b,c\n" + rows + "4,5\n"))
    train("non-numeric CSV", csv("a,b,c\n" + rows + "1,hello,3\n"))
    train("empty CSV (0 bytes)", csv(""))
    train("CSV header only", csv("a,b,c\n"))
    train("CSV with 'nan'", csv("a,b,c\n" + rows + "1,nan,3\n"))
    train("CSV with 'inf'", csv("a,b,c\n" + rows + "1,inf,3\n"))
    train("binary garbage .csv", csv(bytes(range(256)) * 4))
    train("CSV unknown label column name", csv("a,b,c\n" + rows, ["--label-column", "label"]))
    train("CSV label column index 99", csv("a,b,c\n" + rows, ["--label-column", "99"]))
    train(
        "values in [3, 3] with --likelihood bernoulli",
        lambda d: ["--data", npy(d, "x.npy", np.full((20, 5), 3.0, np.float32))],
        ["--likelihood", "bernoulli"],
    )
    train(
        "negative values with --likelihood bernoulli",
        lambda d: ["--data", npy(d, "x.npy", -rand())],
        ["--likelihood", "bernoulli"],
    )
    for shape in ("3,3", "0,64", "-8,-8", "a,b", "1,4,4,4", "64,1,1,1"):
        train(
            f"--shape {shape} for 64 features",
            lambda d, s=shape: ["--data", npy(d, "x.npy", rand(40, 64)), "--shape", s],
        )
    train("missing file", lambda d: ["--data", "nope.npy"])
    train("unknown extension .txt", raw_file("x.txt", b"1 2\n3 4\n"))
    train("unknown dataset name", lambda d: ["--data", "mnistt"])
    train("--data is a directory named x.npy", lambda d: [*mkdir(d / "x.npy"), "--data", "x.npy"])

    def loop_file(d: Path) -> list:
        os.symlink("b.npy", d / "a.npy")
        os.symlink("a.npy", d / "b.npy")
        return ["--data", "a.npy"]

    def loop_dir(d: Path) -> list:
        os.symlink("loop", d / "loop")
        return ["--data", "mnist", "--data-dir", "loop"]

    train("symlink loop as --data", loop_file)
    train("symlink loop as --data-dir", loop_dir)
    for breakage in (
        "truncated",
        "bad magic",
        "corrupt gzip",
        "not gzip",
        "empty gz",
        "label count",
        "huge count",
        "no test files",
    ):
        train(f"IDX folder: {breakage}", lambda d, b=breakage: ["--data", idx_dir(d, b)])
    train(
        "IDX files failing their MD5 under --data mnist",
        lambda d: ["--data", "mnist", "--data-dir", idx_dir(d, "none")],
    )
    train("IDX: empty --data-dir", lambda d: [*mkdir(d / "mnist"), "--data", "mnist", "--data-dir", "mnist"])
    train("IDX: missing --data-dir", lambda d: ["--data", "mnist", "--data-dir", "nowhere"])
    return cases


def needs_run(
    fx: Fixtures, make: Callable[[Path], list], interrupted: bool = False
) -> Callable[[Path], Call]:
    """A build that copies the base run into the case directory as ./run first."""

    def build(d: Path) -> Call:
        shutil.copytree(fx.interrupted if interrupted else fx.done, d / "run", symlinks=True)
        return Call(argv=make(d))

    return build


def evaluate_data_cases(fx: Fixtures) -> list[Case]:
    def ev(name: str, make: Callable[[Path], str], check=None) -> Case:
        def build(d: Path) -> Call:
            call = needs_run(fx, lambda d: ["evaluate", "run", "--iw-samples", "10", "--data", make(d)])(d)
            call.check = check(d) if check else None
            return call

        return Case("data", f"evaluate --data: {name}", build)

    def evil(d: Path) -> str:
        x = np.empty((20, 64), dtype=object)
        x[:] = 0.5
        x[0, 0] = Canary(str(d / "UNPICKLED"))
        return npy(d, "x.npy", x, allow_pickle=True)

    def nan(d: Path) -> str:
        x = rand(30, 64)
        x[1, 1] = np.nan
        return npy(d, "x.npy", x)

    def const(d: Path) -> Call:
        return Call(
            argv=[
                "explain",
                "--data",
                npy(d, "x.npy", np.full((300, 16), 0.5, np.float32)),
                "--quick",
                "--out",
                "out",
            ]
        )

    return [
        ev("9 features for a 64-feature model", lambda d: npy(d, "x.npy", rand(30, 9))),
        ev("NaN", nan),
        ev("pickled objects", evil, canary_check),
        Case("data", "explain on constant data", const),
    ]


def option_cases(gpu: bool) -> list[Case]:
    cases: list[Case] = []

    def train(*opts, skip: str | None = None) -> None:
        argv = ["train", "--data", "digits", *TINY, *map(str, opts)]
        cases.append(
            Case("options", "train " + " ".join(map(str, opts)), lambda d: Call(argv=argv, skip=skip))
        )

    for v in (0, -1, 1000000000):
        train("--latent-dim", v)
    for v in ("100000,100000", "0", "-4", "a,b"):
        train("--hidden", v)
    for v in (10000000, 0, -1):
        train("--importance-samples", v)
    for v in (-1, 2**70):
        train("--seed", v)
    for v in ("inf", "nan", 0, -1):
        train("--lr", v)
    for v in ("inf", "nan", -1):
        train("--beta", v)
    for v in (0.999, 1, -0.1, 1.5):
        train("--valid-fraction", v)
    for v in (0, -1):
        train("--epochs", v)
    for v in (0, -5):
        train("--batch-size", v)
    train("--model", "ae", "--importance-samples", 5)
    train("--device", "cuda", skip="a GPU is present" if gpu else None)
    for v in (0, -1):
        train("--checkpoint-every", v)
    for v in (0, -1, "nan"):
        train("--checkpoint-minutes", v)
    train("--kl-warmup", -1)
    for v in (0, -1):
        train("--patience", v)
    for v in (0, -1, "nan"):
        train("--adam-eps", v)
    return cases


def command_option_cases(fx: Fixtures) -> list[Case]:
    cases: list[Case] = []

    def on_run(*argv) -> None:
        cases.append(Case("options", " ".join(map(str, argv)), needs_run(fx, lambda d: list(argv))))

    for n in (0, -3, 1000000000):
        on_run("sample", "run", "-n", n)
    on_run("sample", "run", "--out", "x.txt")
    on_run("sample", "run", "--out", "run")  # a directory
    for n in (0, -1):
        on_run("reconstruct", "run", "-n", n)
    on_run("reconstruct", "run", "--out", "x.txt")
    for k in (0, -1):
        on_run("evaluate", "run", "--iw-samples", "10", "--knn-k", k)
    on_run("evaluate", "run", "--iw-samples", -1)
    for n in (0, -5):
        on_run("evaluate", "run", "--iw-samples", "10", "--subsample", n)
    sweep = [
        "sweep-beta",
        "--epochs",
        "1",
        "--max-train",
        "50",
        "--hidden",
        "8",
        "--latent-dim",
        "2",
        "--n-samples",
        "10",
        "--out",
        "sweep",
    ]
    for betas in ("-1,1", "inf", "nan", ""):
        cases.append(
            Case(
                "options",
                f"sweep-beta --betas '{betas}'",
                lambda d, b=betas: Call(argv=[*sweep, "--betas", b]),
            )
        )
    cases.append(Case("options", "sweep-beta --lr 0", lambda d: Call(argv=[*sweep, "--lr", "0"])))
    holes = ["holes", "--epochs", "1", "--n-samples", "10", "--latent-dim", "2", "--out", "holes"]
    for hidden in ("0", "a"):
        cases.append(
            Case(
                "options", f"holes --hidden {hidden}", lambda d, h=hidden: Call(argv=[*holes, "--hidden", h])
            )
        )
    compare = [
        "compare",
        "--epochs",
        "1",
        "--max-train",
        "50",
        "--max-test",
        "20",
        "--n-trust",
        "20",
        "--no-figures",
        "--out",
        "cmp",
    ]
    for opts in (
        ["--methods", "nope"],
        ["--methods", "pca", "--knn-k", "0"],
        ["--methods", "pca,ae", "--hidden", "-3"],
    ):
        cases.append(
            Case("options", "compare " + " ".join(opts), lambda d, o=opts: Call(argv=[*compare, *o]))
        )
    return cases


# -- damaged run directories


def _edit_config(run: Path, edit: Callable[[dict], None]) -> None:
    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config, indent=2))


def _rewrite_safetensors(path: Path, edit: Callable[[dict, dict], None]) -> None:
    """Edit a safetensors file's tensors and metadata, and write it as vaelab writes files
    (with vaelab's checksum where it has one), so that the edit, not the checksum, is tested."""
    from safetensors.torch import load, save

    try:
        from vaelab._tensorfile import CHECKSUM, encode
    except ImportError:
        CHECKSUM, encode = "sha256", lambda t, metadata: save(t, metadata=metadata or None)
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    tensors, meta = load(raw), dict(header.get("__metadata__") or {})
    meta.pop(CHECKSUM, None)
    edit(tensors, meta)
    path.write_bytes(encode(tensors, metadata=meta))


def _checkpoints(run: Path) -> list[Path]:
    return [p for p in (run / "checkpoint.safetensors", run / "checkpoint.prev.safetensors") if p.exists()]


def _edit_meta(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        def change(tensors: dict, meta: dict) -> None:
            inner = json.loads(meta["vaelab"])
            edit(inner)
            meta["vaelab"] = json.dumps(inner)

        for path in _checkpoints(run):
            _rewrite_safetensors(path, change)

    return apply


def _flip_tensor_bytes(run: Path) -> None:
    for path in _checkpoints(run):
        raw = bytearray(path.read_bytes())
        n = int.from_bytes(raw[:8], "little")
        start = json.loads(raw[8 : 8 + n])["model.encoder.0.weight"]["data_offsets"][0] + 8 + n
        raw[start + 5] ^= 0xFF
        raw[start + 6] ^= 0xFF
        path.write_bytes(bytes(raw))


def _wrong_shapes(run: Path) -> None:
    import torch

    def change(tensors: dict, meta: dict) -> None:
        for k, t in tensors.items():
            tensors[k] = torch.zeros(t.shape[0] + 1, *t.shape[1:])

    _rewrite_safetensors(run / "model.safetensors", change)


def _nan_weights(run: Path) -> None:
    def change(tensors: dict, meta: dict) -> None:
        first = sorted(k for k in tensors if k.endswith("weight"))[0]
        tensors[first] = tensors[first].clone().fill_(float("nan"))

    _rewrite_safetensors(run / "model.safetensors", change)


def _wrong_rng(run: Path) -> None:
    import torch

    def change(tensors: dict, meta: dict) -> None:
        tensors["rng.generator"] = torch.zeros(100, dtype=torch.uint8)

    for path in _checkpoints(run):
        _rewrite_safetensors(path, change)


def _bytes(name: str, edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        paths = _checkpoints(run) if name == "checkpoints" else [run / name]
        for p in paths:
            p.write_bytes(edit(p.read_bytes()))

    return apply


def _sparse(run: Path) -> None:
    with open(run / "model.safetensors", "r+b") as f:
        f.truncate(30 << 30)  # the real file, then 30 GB of holes


def _nested(run: Path) -> None:
    text = (run / "config.json").read_text().rstrip()
    deep = "[" * 200_000 + "]" * 200_000
    (run / "config.json").write_text(text[:-1].rstrip() + ', "notes": ' + deep + "}\n")


def _nan_sigma(config: dict) -> None:
    config["model"].update(likelihood="gaussian", sigma=float("nan"))


def _unlink(*names: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        for n in names:
            (run / n).unlink(missing_ok=True)

    return apply


ALL = ("info", "evaluate", "sample", "resume", "load")
MODEL = ("evaluate", "sample", "resume", "load")
WEIGHTS = ("evaluate", "sample", "load")
DAMAGES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    # name: (damage, the commands that read what it damages and must refuse)
    "missing directory": (shutil.rmtree, ALL),
    "config.json missing": (_unlink("config.json"), ALL),
    "config.json garbage": (_bytes("config.json", lambda b: bytes(range(256))[::-1] * 3), ALL),
    "config.json not an object": (_bytes("config.json", lambda b: b"[1, 2, 3]\n"), ALL),
    "config.json format 999": (lambda r: _edit_config(r, lambda c: c.update(format=999)), ALL),
    "config.json nested 200000 deep": (_nested, ALL),
    "config.json unknown top-level key": (lambda r: _edit_config(r, lambda c: c.update(bogus=1)), MODEL),
    "config.json unknown model key": (
        lambda r: _edit_config(r, lambda c: c["model"].update(latnet_dim=3)),
        MODEL,
    ),
    "config.json latent_dim 'two'": (
        lambda r: _edit_config(r, lambda c: c["model"].update(latent_dim="two")),
        MODEL,
    ),
    "config.json NaN sigma": (lambda r: _edit_config(r, _nan_sigma), MODEL),
    "model.safetensors missing": (_unlink("model.safetensors"), WEIGHTS),
    "model.safetensors truncated": (_bytes("model.safetensors", lambda b: b[: len(b) // 2]), WEIGHTS),
    "model.safetensors bit flip in header": (
        _bytes("model.safetensors", lambda b: b[:8] + bytes([b[8] ^ 1]) + b[9:]),
        WEIGHTS,
    ),
    "model.safetensors header length 2**60": (
        _bytes("model.safetensors", lambda b: (2**60).to_bytes(8, "little") + b[8:]),
        WEIGHTS,
    ),
    "model.safetensors wrong shapes": (_wrong_shapes, WEIGHTS),
    "model.safetensors NaN weights": (_nan_weights, WEIGHTS),
    "model.safetensors sparse 30 GB": (_sparse, WEIGHTS),
    "checkpoint truncated": (_bytes("checkpoints", lambda b: b[: len(b) // 2]), ("resume",)),
    "checkpoint metadata without param_groups": (_edit_meta(lambda m: m.pop("param_groups")), ("resume",)),
    "checkpoint state without epoch": (_edit_meta(lambda m: m["state"].pop("epoch")), ("resume",)),
    "checkpoint negative epoch": (_edit_meta(lambda m: m["state"].update(epoch=-3)), ("resume",)),
    "checkpoint RNG state of 100 bytes": (_wrong_rng, ("resume",)),
    "checkpoint 2 bytes flipped in tensor data": (_flip_tensor_bytes, ("resume",)),
    "metrics.jsonl line is a list": (
        _bytes("metrics.jsonl", lambda b: b"[1, 2, 3]\n" + b.split(b"\n", 1)[1]),
        ("info", "resume", "load"),
    ),
    "summary.json missing keys": (_bytes("summary.json", lambda b: b'{"epochs": 2}\n'), ("info",)),
}
COMMANDS = {
    "info": ["info", "run"],
    "evaluate": ["evaluate", "run", "--iw-samples", "10"],
    "sample": ["sample", "run", "-n", "4"],
    "resume": ["train", "--resume", "run", "--quiet"],
}


def run_dir_cases(fx: Fixtures) -> list[Case]:
    cases = []
    for damage, (apply, commands) in DAMAGES.items():
        for command in commands:

            def build(d: Path, apply=apply, command=command) -> Call:
                base = fx.interrupted if command == "resume" else fx.done
                shutil.copytree(base, d / "run", symlinks=True)
                apply(d / "run")
                if command == "load":
                    return Call(api="report(lambda: vaelab.load('run'))", allowed=("VaelabError",))
                return Call(argv=COMMANDS[command])

            label = (
                "vaelab.load"
                if command == "load"
                else COMMANDS[command][0] + (" --resume" if command == "resume" else "")
            )
            cases.append(Case("run directories", f"{damage} x {label}", build))
    return cases


# -- output locations


def user_files(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "notes.txt").write_text("my notes\n")
    (d / "data").mkdir()
    (d / "data" / "results.csv").write_text("a,b\n1,2\n")
    (d / ".hidden").write_text("x")


def output_cases(fx: Fixtures, env: Env, mounts: Mounts) -> list[Case]:
    def train_for(epochs: int) -> list[str]:
        return [
            "train",
            "--data",
            "digits",
            "--epochs",
            str(epochs),
            "--hidden",
            "32",
            "--latent-dim",
            "2",
            "--device",
            "cpu",
            "--quiet",
        ]

    train = train_for(1)
    cases: list[Case] = []

    def add(name: str, build: Callable[[Path], Call]) -> None:
        cases.append(Case("output locations", name, build))

    def user_dir(d: Path) -> Call:
        user_files(d / "mine")
        return Call(argv=[*train, "--out", "mine", "--overwrite"])

    def foreign_config(d: Path) -> Call:
        user_files(d / "mine")
        (d / "mine" / "config.json").write_text('{"name": "my web app"}\n')
        return Call(argv=[*train, "--out", "mine", "--overwrite"])

    def dot(d: Path) -> Call:
        user_files(d)
        return Call(argv=[*train, "--out", ".", "--overwrite"])

    def below_file(d: Path) -> Call:
        (d / "file.txt").write_text("x\n")
        return Call(argv=[*train, "--out", "file.txt/run"])

    def is_file(d: Path) -> Call:
        (d / "file.txt").write_text("x\n")
        return Call(argv=[*train, "--out", "file.txt", "--overwrite"])

    def dev_null(d: Path) -> Call:
        if mounts.why_not:  # no guard over the real /dev/null: use a character device of our own
            try:
                os.mknod(d / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
            except OSError as err:
                return Call(skip=f"--out /dev/null unguarded ({mounts.why_not}) and mknod: {err}")
            return Call(argv=[*train, "--out", "null", "--overwrite"])
        return Call(
            argv=[*train, "--out", "/dev/null", "--overwrite"],
            check=lambda: (
                None
                if stat.S_ISCHR(os.stat("/dev/null").st_mode)
                else "/dev/null is no longer a character device"
            ),
        )

    def read_only(d: Path) -> Call:
        if mounts.why_not:
            return Call(skip=f"read-only directory: {mounts.why_not} (chmod does not stop root)")
        user_files(d / "ro")
        mounts.read_only(d / "ro")
        return Call(argv=[*train, "--out", "ro/run"])

    def symlink(d: Path) -> Call:
        user_files(d / "mine")
        os.symlink("mine", d / "link")
        return Call(argv=[*train, "--out", "link", "--overwrite"])

    def symlink_loop(d: Path) -> Call:
        os.symlink("loop", d / "loop")
        return Call(argv=[*train, "--out", "loop", "--overwrite"])

    def efbig(d: Path) -> Call:
        return Call(argv=[*train, "--out", "run"], fsize=4096)

    def enospc(leave: int) -> Callable[[Path], Call]:
        def build(d: Path) -> Call:
            if mounts.why_not:
                return Call(skip=f"tmpfs: {mounts.why_not}")
            mounts.tmpfs(d / "disk", "1m")
            fill(d / "disk", leave)
            return Call(argv=[*train, "--out", "disk/run"])

        return build

    def full_run(command: list[str]) -> Callable[[Path], Call]:
        def build(d: Path) -> Call:
            if mounts.why_not:
                return Call(skip=f"tmpfs: {mounts.why_not}")
            mounts.tmpfs(d / "disk", "2m")
            shutil.copytree(fx.done, d / "disk" / "run")
            fill(d / "disk", 0)
            return Call(argv=command)

        return build

    add("--out an existing user directory + --overwrite", user_dir)
    add("--out a directory with a foreign config.json + --overwrite", foreign_config)
    add("--out . + --overwrite (cwd holds user files)", dot)
    add("--out below a regular file", below_file)
    add("--out an existing regular file + --overwrite", is_file)
    add("--out /dev/null + --overwrite", dev_null)
    add("--out in a read-only directory", read_only)
    add("--out a symlink to a user directory + --overwrite", symlink)
    add("--out a symlink loop + --overwrite", symlink_loop)
    add("disk full at the first writes (EFBIG, 4 KB file-size limit)", efbig)
    add("disk full at the first writes (ENOSPC, tmpfs, 0 B free)", enospc(0))
    add("disk full during training (ENOSPC, tmpfs, 24 KB free)", enospc(24 << 10))
    add("evaluate a run on a full disk", full_run(["evaluate", "disk/run", "--iw-samples", "10"]))
    add(
        "sample to a new file on a full disk",
        full_run(["sample", "disk/run", "-n", "4", "--out", "disk/new.png"]),
    )
    # written atomically (temp file, rename), the new figure needs room of its own and fails;
    # written in place, it truncates the old one and fits: the disk tells the two apart
    add(
        "sample replacing run/figures/samples.png on a full disk", full_run(["sample", "disk/run", "-n", "4"])
    )
    add(
        "sample --out below a regular file",
        needs_run(fx, lambda d: [*touch(d / "file.txt"), "sample", "run", "--out", "file.txt/s.png"]),
    )

    def concurrent(second: Callable[[list[str]], list[str]]) -> Callable[[Path], Call]:
        def build(d: Path) -> Call:
            first = [*train_for(300), "--out", "run"]
            return Call(custom=lambda: _two_writers(env, d, first, second(first)))

        return build

    add("a second concurrent writer to the same --out", concurrent(lambda a: a))
    add("a second concurrent writer with --overwrite", concurrent(lambda a: [*a, "--overwrite"]))
    add(
        "a concurrent train --resume of a running run",
        concurrent(lambda a: ["train", "--resume", "run", "--quiet"]),
    )
    return cases


def _two_writers(env: Env, d: Path, first: list[str], second: list[str]) -> list[str]:
    """Start writer A; once it has checkpointed, run B on the same directory. B must refuse
    and A must finish a complete, loadable run."""
    import vaelab

    a = env.popen(["-m", "vaelab", *first], d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(a, lambda: (d / "run" / "checkpoint.safetensors").exists(), time.monotonic() + 120)
    if a.poll() is not None:
        return [f"writer A exited ({a.returncode}) before B could start"]
    res = env.vaelab(second, d)
    a_running = a.poll() is None
    _, a_err = a.communicate(timeout=600)
    reasons = [f"B: {r}" for r in judge_cli(res, succeed=False)]
    if not a_running:
        reasons.append("inconclusive: writer A finished before B did (make A longer)")
    if a.returncode != 0:
        tail = (a_err.decode(errors="replace").strip().splitlines() or [""])[-1]
        reasons.append(f"writer A exit {a.returncode}: {tail[:160]}")
    else:
        try:
            vaelab.load(d / "run")
            summary = json.loads((d / "run" / "summary.json").read_text())
            if summary.get("epochs") != 300:
                reasons.append(f"A's summary says {summary.get('epochs')} epochs, not 300")
            epochs = [r.get("epoch") for r in _metrics(d / "run")]
            if epochs != list(range(1, 301)):
                reasons.append(f"A's metrics.jsonl epochs {_span(epochs)}")
        except Exception as err:  # noqa: BLE001
            reasons.append(f"A's run does not load: {err}")
    left = leftovers(d, d / "run")
    if left:
        reasons.append(f"left behind: {_names(left)}")
    return reasons


# -- the Python API


def api_cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, code: str, allowed=("ValueError",), finite_ok=False) -> None:
        cases.append(Case("API", name, lambda d: Call(api=code, allowed=allowed, finite_ok=finite_ok)))

    add("VAE(device='tpu').fit(X)", "report(lambda: vaelab.VAE(device='tpu').fit(X))")
    add("Autoencoder(device='tpu').fit(X)", "report(lambda: vaelab.Autoencoder(device='tpu').fit(X))")
    for params, allowed in (
        ("n_components=0", ("ValueError",)),
        ("n_components=-1", ("ValueError",)),
        ("n_components=2.5", ("ValueError", "TypeError")),
        ("n_components='2'", ("ValueError", "TypeError")),
        ("n_components=10**9", ("ValueError",)),
        ("hidden_layer_sizes=(100000, 100000)", ("ValueError",)),
        ("hidden_layer_sizes=(0,)", ("ValueError",)),
        ("learning_rate=float('inf')", ("ValueError",)),
        ("learning_rate=float('nan')", ("ValueError",)),
        ("learning_rate=0", ("ValueError",)),
        ("beta=float('inf')", ("ValueError",)),
        ("beta=float('nan')", ("ValueError",)),
        ("beta=-1", ("ValueError",)),
        ("batch_size=0", ("ValueError",)),
        ("max_epochs=0", ("ValueError",)),
        ("random_state=-1", ("ValueError",)),
        ("random_state=2**70", ("ValueError",)),
        ("early_stopping=True, validation_fraction=1.0", ("ValueError",)),
        ("likelihood='poisson'", ("ValueError",)),
    ):
        add(
            f"VAE({params}).fit(X)",
            f"report(lambda: vaelab.VAE(**{{'max_epochs': 1, **dict({params})}}).fit(X))",
            allowed,
        )
    for name, expr in (
        ("NaN", "np.where(np.eye(60, 5) > 0, np.nan, X)"),
        ("inf", "np.where(np.eye(60, 5) > 0, np.inf, X)"),
        ("0 rows", "X[:0]"),
        ("1 sample", "X[:1]"),
        ("1-D", "X[:, 0]"),
        ("3-D", "X.reshape(60, 5, 1)"),
        ("words", "np.full((60, 5), 'abc', dtype=object)"),
        ("complex", "X.astype(complex)"),
        ("float64 beyond float32", "np.full((60, 5), 1e300)"),
        ("one value 1e39", "np.where(np.eye(60, 5) > 0, 1e39, X)"),
    ):
        add(
            f"fit on {name} X",
            f"report(lambda: vaelab.VAE(max_epochs=1).fit({expr}))",
            ("ValueError", "TypeError") if name in ("words", "complex") else ("ValueError",),
        )
    fit_b, fit_g = "m = fitted()\n", "m = fitted(XR, likelihood='gaussian')\n"
    add("score_samples(-X) on a Bernoulli VAE", fit_b + "report(lambda: m.score_samples(-X))")
    add("score_samples(X * 1e6) on a Bernoulli VAE", fit_b + "report(lambda: m.score_samples(X * 1e6))")
    add(
        "score_samples(XR * 1e6) on a Gaussian VAE: no silent NaN",
        fit_g + "report(lambda: m.score_samples(XR * 1e6))",
        finite_ok=True,
    )
    add(
        "score_samples(XR * 1e30) on a Gaussian VAE: no silent NaN",
        fit_g + "report(lambda: m.score_samples(XR * 1e30))",
        finite_ok=True,
    )
    add("score_samples of NaN X", fit_b + "report(lambda: m.score_samples(np.full((3, 5), np.nan)))")
    add("transform with 6 features for 5", fit_b + "report(lambda: m.transform(np.zeros((3, 6))))")
    add("transform of inf X", fit_b + "report(lambda: m.transform(np.full((3, 5), np.inf)))")
    add(
        "inverse_transform with 3 codes for 2",
        fit_b + "report(lambda: m.inverse_transform(np.zeros((3, 3))))",
    )
    add("sample(0)", fit_b + "report(lambda: m.sample(0))")
    add("sample(-1)", fit_b + "report(lambda: m.sample(-1))")
    add("sample(2.5)", fit_b + "report(lambda: m.sample(2.5))", ("ValueError", "TypeError"))

    def regular_file(d: Path) -> Call:
        (d / "f").write_text("x\n")
        return Call(api="report(lambda: vaelab.load('f'))", allowed=("VaelabError",))

    cases.append(Case("API", "vaelab.load of a regular file", regular_file))
    return cases


# -- fixtures and controls


@dataclass
class Fixtures:
    done: Path  # a complete run (digits, 2 epochs)
    interrupted: Path  # a run SIGKILLed after its 3rd epoch, with two checkpoints


def fixtures(env: Env, work: Path) -> Fixtures:
    work.mkdir()
    base = [
        "train",
        "--data",
        "digits",
        "--hidden",
        "16",
        "--latent-dim",
        "2",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--quiet",
    ]
    res = env.vaelab([*base, "--epochs", "2", "--out", "done"], work, timeout=600, memory=0)
    if res.rc != 0:
        raise SystemExit(f"cannot train the base run:\n{res.stderr}")
    metrics = work / "interrupted" / "metrics.jsonl"
    for _ in range(5):
        shutil.rmtree(work / "interrupted", ignore_errors=True)
        proc = env.popen(
            ["-m", "vaelab", *base, "--epochs", "60", "--out", "interrupted"],
            work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(
            proc,
            lambda: metrics.exists() and metrics.read_text().count("\n") >= 3,
            time.monotonic() + 300,
            0.005,
        )
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            run = work / "interrupted"
            for tmp in run.glob(".*"):  # a kill inside a write: start from a clean state
                tmp.unlink()
            if len(_checkpoints(run)) == 2 and not (run / "summary.json").exists():
                return Fixtures(work / "done", run)
    raise SystemExit("could not produce an interrupted run with two checkpoints")


def control_cases(fx: Fixtures) -> list[Case]:
    def ok(name: str, build: Callable[[Path], Call]) -> Case:
        def wrapped(d: Path) -> Call:
            call = build(d)
            call.succeed = True
            return call

        return Case("controls (must succeed)", name, wrapped)

    def damaged_newest(d: Path) -> list:
        (d / "run" / "checkpoint.safetensors").write_bytes(b"garbage")
        return ["train", "--resume", "run", "--quiet"]

    def load(d: Path) -> Call:
        shutil.copytree(fx.done, d / "run")
        return Call(api="report(lambda: vaelab.load('run').transform(np.zeros((2, 64))))")

    return [
        ok("info of an intact run", needs_run(fx, lambda d: ["info", "run"])),
        ok("evaluate of an intact run", needs_run(fx, lambda d: COMMANDS["evaluate"])),
        ok("sample of an intact run", needs_run(fx, lambda d: COMMANDS["sample"])),
        ok("vaelab.load of an intact run", load),
        ok("train --resume of an interrupted run", needs_run(fx, lambda d: COMMANDS["resume"], True)),
        ok("train --resume falls back to checkpoint.prev", needs_run(fx, damaged_newest, True)),
        ok("train into a fresh --out", lambda d: Call(argv=["train", "--data", "digits", *TINY])),
    ]


# ---- C: the report -------------------------------------------------------------------------


def markdown_table(rows: list[list]) -> str:
    lines = ["| Category | Cases | Passed | Failed | Skipped |", "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(rows: list[list]) -> str:
    header = ["category", "cases", "passed", "failed", "skipped"]
    width = max(len(str(r[0])) for r in [header, *rows])
    fmt = f"{{:<{width}}}  {{:>5}}  {{:>6}}  {{:>6}}  {{:>7}}"
    return "\n".join(fmt.format(*map(str, r)) for r in [header, *rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="seeds the kill schedule and the runs")
    p.add_argument("--kills", type=int, default=24, help="SIGKILLs to deliver (default 24)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="6 kills of 40-epoch runs and every 4th bad-input case per category",
    )
    p.add_argument("--only", choices=["kills", "inputs"], default=None)
    p.add_argument(
        "--filter", default=None, help="only the bad-input cases whose 'category / name' contains this text"
    )
    p.add_argument("--jobs", type=int, default=1, help="bad-input cases run in parallel")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--verbose", action="store_true", help="show what each case printed")
    args = p.parse_args()
    mounts = Mounts()  # first, before any thread exists: unshare needs a single thread
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch
    from _machine import machine_line
    from _report import command_line

    machine = machine_line()
    print(machine)
    print(f"command: {command_line()}")
    if mounts.why_not:
        print(f"mounts unavailable ({mounts.why_not}): read-only and tmpfs cases are skipped")
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="vaelab-reliability-"))
    global KEEP
    KEEP = args.keep
    env = Env(work / "home")
    rows, failures = [], []
    try:
        if not mounts.why_not:  # a guard: in this namespace /dev/null cannot be unlinked or renamed over
            subprocess.run(["mount", "--bind", "/dev/null", "/dev/null"], check=True)
        if args.only in (None, "kills"):
            kills = 6 if args.quick and args.kills == 24 else args.kills
            (work / "kills").mkdir()
            cases, controls = kill_campaign(env, work / "kills", kills, 40 if args.quick else 100, args.seed)
            delivered = sum(c.kills for c in cases)
            early = sum(c.before_first_checkpoint for c in cases)
            mid = sum(c.mid_write for c in cases)
            failed = [c for c in cases if c.reasons]
            rows.append(
                [
                    f"SIGKILL + resume ({delivered} kills: {early} before the first "
                    f"checkpoint, {mid} inside a write)",
                    len(cases),
                    len(cases) - len(failed),
                    len(failed),
                    0,
                ]
            )
            failures += [
                (f"kills / case {c.index} [{c.config}]: {' | '.join(c.landings)}", c.reasons) for c in failed
            ]
            bad_controls = [(n, r) for n, r in controls if r]
            rows.append(
                [
                    "controls: determinism of the references",
                    len(controls),
                    len(controls) - len(bad_controls),
                    len(bad_controls),
                    0,
                ]
            )
            failures += [(f"controls / {n}", r) for n, r in bad_controls]
        if args.only in (None, "inputs"):
            fx = fixtures(env, work / "fixtures")
            cases = (
                control_cases(fx)
                + data_cases()
                + evaluate_data_cases(fx)
                + option_cases(torch.cuda.is_available())
                + command_option_cases(fx)
                + run_dir_cases(fx)
                + output_cases(fx, env, mounts)
                + api_cases()
            )
            if args.quick:
                by_cat: dict[str, list[Case]] = {}
                for c in cases:
                    by_cat.setdefault(c.category, []).append(c)
                cases = [c for group in by_cat.values() for c in group[::4]]
            if args.filter:
                cases = [c for c in cases if args.filter.lower() in f"{c.category} / {c.name}".lower()]
            (work / "cases").mkdir()
            print(f"{len(cases)} bad-input cases, {args.jobs} at a time", flush=True)

            def one(item: tuple[int, Case]) -> tuple[Case, str, list[str], float]:
                i, case = item
                status, reasons, secs, said = run_case(case, env, work / "cases", mounts, i)
                print(
                    f"{status.upper():4s} {case.category} / {case.name} ({secs:.1f} s)"
                    + (f": {'; '.join(reasons)}" if status != "pass" else ""),
                    flush=True,
                )
                if args.verbose and said:
                    print(textwrap.indent(said[-600:], "     | "), flush=True)
                return case, status, reasons, secs

            with ThreadPoolExecutor(max(1, args.jobs)) as pool:
                outcomes = list(pool.map(one, enumerate(cases)))
            tally: dict[str, Counter] = {}
            for case, status, reasons, _ in outcomes:
                tally.setdefault(case.category, Counter())[status] += 1
                if status == "fail":
                    failures.append((f"{case.category} / {case.name}", reasons))
            for category, t in tally.items():
                rows.append([category, sum(t.values()), t["pass"], t["fail"], t["skip"]])
            skipped = [(c.name, r) for c, s, r, _ in outcomes if s == "skip"]
            for name, reasons in skipped:
                print(f"skipped: {name}: {'; '.join(reasons)}")
    finally:
        for target in list(mounts.active):
            mounts.release(target)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    rows.append(["total", *(sum(r[i] for r in rows) for i in range(1, 5))])
    minutes = (time.perf_counter() - start) / 60
    print(f"\nFailed cases ({len(failures)}):")
    for name, reasons in failures:
        print(f"- {name}\n    " + "\n    ".join(reasons))
    print(f"\n{text_table(rows)}\n\nwall time {minutes:.1f} min\n")
    print(f"Reliability suite, `{command_line()}`, {minutes:.0f} min; {machine}\n")
    print(markdown_table(rows))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
