"""How fast `vaelab --help` and `vaelab <command> --help` start, and what they import.

Each command runs in a fresh process ``--repeats`` times; the table gives the
median wall time and whether torch or scikit-learn were imported. The floor is
a bare ``python -c pass`` measured in the same run, so the numbers compare
across machines as "seconds above the interpreter's own start".

    python benchmarks/cli_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = [
    "",
    "explain",
    "train",
    "evaluate",
    "sample",
    "reconstruct",
    "info",
    "curse",
    "compare",
    "holes",
    "sweep-beta",
]
PROBE = (
    "import sys; from vaelab.cli import main\n"
    "try:\n    main([*sys.argv[1:], '--help'])\nexcept SystemExit:\n    pass\n"
    "print('HEAVY', [m for m in ('torch', 'sklearn') if m in sys.modules], file=sys.stderr)"
)


def _time(argv: list[str], repeats: int) -> tuple[float, str]:
    times, heavy = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        heavy = next((ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY")), "")
    return statistics.median(times), heavy.removeprefix("HEAVY ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    floor, _ = _time([sys.executable, "-c", "pass"], args.repeats)
    print(f"python -c pass (floor): {floor:.3f} s median of {args.repeats}")
    print(f"{'command':<28} {'median s':>9} {'above floor':>12}  imports torch/sklearn")
    worst = 0.0
    for cmd in COMMANDS:
        seconds, heavy = _time([sys.executable, "-c", PROBE, *([cmd] if cmd else [])], args.repeats)
        worst = max(worst, seconds)
        print(
            f"{'vaelab ' + (cmd + ' ' if cmd else '') + '--help':<28} {seconds:>9.3f} "
            f"{seconds - floor:>12.3f}  {heavy}"
        )
    print(f"slowest: {worst:.3f} s (goal: under 0.5 s)")


if __name__ == "__main__":
    main()
