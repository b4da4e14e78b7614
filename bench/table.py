"""The one table every bench prints: each figure beside its reference, the ratio or goal and a
verdict. A bench module's `measure()` returns rows; run alone it prints them (`--json` prints
them for bench/run.py instead) and exits 1 when a row failed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

OK = "ok"
MISS = "MISS"  # measured, and the goal is missed
FAIL = "FAIL"  # not a valid measurement: an error, a crash, a route left unmeasured
INFO = ""  # a figure without a goal

COLUMNS = ("measure", "this app", "reference", "ratio / goal", "verdict", "detail")


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    reference: str = ""
    ratio: str = ""
    verdict: str = INFO
    detail: str = ""


def verdict(met: bool) -> str:
    return OK if met else MISS


def duration(seconds: float) -> str:
    if abs(seconds) >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms" if abs(seconds) >= 0.01 else f"{seconds * 1000:.1f} ms"


def times(ratio: float) -> str:
    return f"{ratio:.2f}x"


def render(sections: Sequence[tuple[str, Sequence[Row]]]) -> str:
    cells = [[r.measure, r.value, r.reference, r.ratio, r.verdict, r.detail]
             for _, rows in sections for r in rows]
    widths = [max([len(title), *(len(c[i]) for c in cells)]) for i, title in enumerate(COLUMNS)]

    def line(values: Iterable[str]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(COLUMNS), "-+-".join("-" * w for w in widths)]
    for title, rows in sections:
        out.append(f"[{title}]")
        out.extend(line([r.measure, r.value, r.reference, r.ratio, r.verdict, r.detail]) for r in rows)
    return "\n".join(out)


def failed(rows: Iterable[Row]) -> bool:
    return any(r.verdict == FAIL for r in rows)


def to_json(title: str, rows: Sequence[Row]) -> str:
    return json.dumps({"title": title, "rows": [dataclasses.asdict(r) for r in rows]})


def from_json(text: str) -> tuple[str, list[Row]]:
    section = json.loads(text)
    return section["title"], [Row(**fields) for fields in section["rows"]]


def main(title: str, measure: Callable[[], list[Row]]) -> None:
    """A bench module's command line: its table, or with --json its title and rows as JSON on
    stdout's last line. Exits 1 when a row failed."""
    rows = measure()
    if "--json" in sys.argv[1:]:
        print(to_json(title, rows))
    else:
        print(render([(title, rows)]))
    raise SystemExit(1 if failed(rows) else 0)
