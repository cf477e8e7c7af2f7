"""The machine a benchmark ran on, and its measured matmul peak.

Every benchmark prints `machine_line()` into BENCHMARKS.md and measures the
peak in the same run, so its achieved GFLOP/s can be read against the hardware.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time

import torch

_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or lscpu), else `platform.processor()`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def physical_cores() -> int:
    """Physical cores (lscpu sockets × cores per socket), else `os.cpu_count()`."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return int(info["Socket(s)"]) * int(info["Core(s) per socket"])
    except (OSError, KeyError, ValueError):
        return os.cpu_count() or 1


def machine() -> dict:
    """CPU model, cores, threads, torch version, bf16 support and the date, as a dict."""
    from vaelab.training.runtime import cpu_has_fast_bf16

    return {
        "cpu": cpu_model(),
        "physical_cores": physical_cores(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_bf16": cpu_has_fast_bf16(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "load_avg_1min": os.getloadavg()[0],
    }


def machine_line(m: dict | None = None) -> str:
    """One Markdown line describing the machine."""
    m = m or machine()
    gpu = m["cuda"] or "no GPU"
    return (
        f"{m['cpu']}, {m['physical_cores']} physical cores ({m['torch_threads']} torch "
        f"threads), AVX-512 BF16: {'yes' if m['cpu_bf16'] else 'no'}, {gpu}; torch "
        f"{m['torch']}, Python {m['python']}; {m['date']}; 1-min load average at start "
        f"{m['load_avg_1min']:.2f} (machine shared with other engineers)"
    )


def matmul_peak(
    dtype: torch.dtype = torch.float32, n: int = 2048, seconds: float = 1.5, repeats: int = 3
) -> dict:
    """Best-of-``repeats`` GFLOP/s of an ``n × n`` matmul in ``dtype``, per wall and per CPU second.

    On a shared machine the wall figure drops with other users' load; GFLOP per
    process-CPU-second (divided by the thread count) stays near the per-core peak.
    """
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    c = torch.empty(n, n, dtype=dtype)
    torch.matmul(a, b, out=c)  # warm-up
    best = {"wall": 0.0, "cpu": 0.0}
    for _ in range(repeats):
        reps, start, cpu = 0, time.perf_counter(), time.process_time()
        while True:
            torch.matmul(a, b, out=c)
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / repeats:
                break
        flop = 2 * n**3 * reps / 1e9
        best["wall"] = max(best["wall"], flop / elapsed)
        best["cpu"] = max(best["cpu"], flop / max(time.process_time() - cpu, 1e-9))
    return best


def peak_line(threads: int) -> tuple[str, dict]:
    """Measure fp32 and bf16 matmul peaks now; a Markdown sentence and the numbers."""
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    line = (
        f"Matmul peak measured in this run (2048², {threads} thread(s)): fp32 "
        f"{peaks['fp32']['wall']:.0f} GFLOP/s wall ({peaks['fp32']['cpu']:.0f} per CPU s), "
        f"bf16 {peaks['bf16']['wall']:.0f} GFLOP/s wall ({peaks['bf16']['cpu']:.0f} per CPU s)."
    )
    return line, peaks


if __name__ == "__main__":
    print(machine_line())
    for threads in (1, physical_cores()):
        torch.set_num_threads(threads)
        print(peak_line(threads)[0])


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (None: vaelab's default rule); returns the count."""
    if threads is None:
        from vaelab.training.threads import default_num_threads

        threads = default_num_threads()
    torch.set_num_threads(threads)
    return threads


def load_mnist():
    """Grey-level MNIST splits from the shared data folder (or vaelab's cache)."""
    from vaelab.data import load_dataset

    shared = os.environ.get("VAELAB_DATA", str(_ROOT.parent / "shared" / "data"))
    return load_dataset("mnist", data_dir=shared if os.path.isdir(shared) else None)


class Timer:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
