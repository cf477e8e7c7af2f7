"""OpenMP wait policy: training-step time with passive against spinning (active) waiting.

Each cell runs in a fresh process (the policy is read when torch loads OpenMP): 40
training steps of a 784-512-512-50 VAE at batch 128 in bf16, with 1 or 2 torch threads,
on the machine as it is ("as is") and with one extra busy process holding a core
("busy"), the situation of a laptop with a browser open or a shared server. Medians of
``--repeats`` alternating runs.

Usage: python benchmarks/omp_wait.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap

from _machine import machine_line
from _report import command_line, table, write_section

STEP = textwrap.dedent("""
    import sys, time, torch
    from vaelab.core.models import VAE
    from vaelab.core.config import ModelConfig
    torch.set_num_threads(int(sys.argv[1]))
    torch.manual_seed(0)
    m = VAE(ModelConfig(input_shape=(784,), latent_dim=50, hidden=(512, 512), activation="tanh"))
    opt = torch.optim.Adam(m.parameters())
    x = torch.rand(128, 784).bernoulli()
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m(x)
        opt.zero_grad(); out.loss.backward(); opt.step()
    for _ in range(5):
        step()
    t = time.perf_counter()
    for _ in range(40):
        step()
    print((time.perf_counter() - t) / 40 * 1e3)
""")
BUSY = "while True: pass"


def step_ms(policy: str, threads: int) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    out = subprocess.run(
        [sys.executable, "-c", STEP, str(threads)], env=env, check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cells = [(load, pol, th) for load in ("as is", "busy") for th in (1, 2) for pol in ("ACTIVE", "PASSIVE")]
    times: dict[tuple, list[float]] = {c: [] for c in cells}
    header_line = machine_line()
    for _ in range(args.repeats):
        for load in ("as is", "busy"):
            hog = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "busy" else None
            try:
                for cell in cells:
                    if cell[0] == load:
                        times[cell].append(step_ms(cell[1], cell[2]))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    rows = []
    for load in ("as is", "busy"):
        for th in (1, 2):
            a = statistics.median(times[(load, "ACTIVE", th)])
            q = statistics.median(times[(load, "PASSIVE", th)])
            rows.append([load, th, f"{a:.1f}", f"{q:.1f}", f"{a / q:.2f}×"])
            print(load, th, f"active {a:.1f} ms  passive {q:.1f} ms", flush=True)
    body = f"""Command: `{command_line()}`

Machine: {header_line}

Training step of a 784-512-512-50 tanh VAE, batch 128, bf16 autocast; each cell a fresh
process; "busy" adds one process spinning on a core. Medians of {args.repeats} alternating
repeats, milliseconds per step. vaelab leaves the policy at torch's default and picks its
training thread count from the load (`vaelab.training.threads.default_num_threads`).

{table(["machine", "threads", "active (spin) ms", "passive ms", "active / passive"], rows)}
"""
    write_section("omp-wait", "OpenMP wait policy", body)


if __name__ == "__main__":
    main()
