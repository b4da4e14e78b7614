"""`make bench`: every bench in a fresh interpreter of its own, one after another (they time
things, so never side by side), then one table of all their figures, each beside its reference.

    make bench        (or: .venv/bin/python bench/run.py [coldstart calls ...])

Exits 1 when a row failed (an error, a crash, a route left unmeasured, a failed request under
load). A missed goal shows as MISS and does not fail the run: it is a figure to act on.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import FAIL, Row

BENCH = Path(__file__).resolve().parent
BENCHES = ("coldstart", "calls", "throughput", "accounts", "retention", "streaming", "images", "render",
           "load")


def run(name: str) -> tuple[str, list[Row]]:
    """One bench's section; a bench that crashed is one failed row with its last words."""
    answer = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--json"],
                            capture_output=True, text=True, cwd=BENCH.parent)
    lines = answer.stdout.strip().splitlines()
    try:
        return table.from_json(lines[-1])
    except (IndexError, ValueError, KeyError, TypeError):
        last = (answer.stderr.strip().splitlines() or ["no output"])[-1]
        return name, [Row(f"bench/{name}.py", "-", verdict=FAIL, detail=f"exit {answer.returncode}: {last}")]


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        print(f"unknown bench(es) {', '.join(unknown)}; there are {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    sections = []
    started = time.monotonic()
    for name in names or BENCHES:
        began = time.monotonic()
        print(f"bench/{name}.py ...", end=" ", flush=True, file=sys.stderr)
        sections.append(run(name))
        print(f"{time.monotonic() - began:.0f} s", file=sys.stderr)
    print(table.render(sections))
    print(f"\n{time.monotonic() - started:.0f} s in all. MISS: a goal missed; FAIL: not a valid measurement.")
    return 1 if any(table.failed(rows) for _, rows in sections) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
