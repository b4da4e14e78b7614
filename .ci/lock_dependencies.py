"""Pins every dependency, the ones our dependencies bring included, so that a fresh clone, CI and
the Lambda package install exactly what was tested.

    make lock        (after editing requirements.in or requirements-dev.txt)

- requirements.in: what the Lambda functions import, by hand. Resolved into requirements.txt,
  every distribution pinned; chalice packages exactly that.
- requirements-dev.txt: the local stack's, the tests' and the tools' own, by hand, on top of
  requirements.txt. Resolved into constraints-dev.txt, which `make` installs with.

pip resolves (`install --dry-run --report`, nothing installed) on this machine, which is the
runtime's platform: Linux, x86_64, CPython 3.11. Versions already locked are kept; when one no
longer fits what is asked for, it says so and stops (`make lock UPGRADE=1` takes the newest of
everything).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_IN, LAMBDA_LOCK = ROOT / "requirements.in", ROOT / "requirements.txt"
DEV_IN, DEV_LOCK = ROOT / "requirements-dev.txt", ROOT / "constraints-dev.txt"

HEADERS = {
    LAMBDA_LOCK: "What the Lambda functions run: requirements.in and everything it brings, pinned.",
    DEV_LOCK: "Everything requirements-dev.txt brings, pinned; `make` installs with these constraints.",
}


def resolve(requirements: Path, keep: Path | None) -> dict[str, str]:
    """{distribution: version} pip would install for `requirements` into an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--disable-pip-version-check", "--report", str(report), "-r", str(requirements)]
        if keep is not None and keep.exists():
            command += ["-c", str(keep)]
        subprocess.run(command, check=True, cwd=ROOT)
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}


def render(lock: Path, pins: dict[str, str]) -> str:
    lines = [f"# {HEADERS[lock]}",
             "# Written by `make lock` (.ci/lock_dependencies.py); do not edit by hand."]
    lines += [f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda p: p[0].lower())]
    return "\n".join(lines) + "\n"


def lock(source: Path, target: Path, upgrade: bool) -> dict[str, str]:
    try:
        pins = resolve(source, None if upgrade else target)
    except subprocess.CalledProcessError:
        # A pin in the old lock no longer fits what was asked for (pip said which above). Moving
        # everything else to its newest release is a choice to make on purpose, not by accident.
        raise SystemExit(f"{target.name} cannot keep its pins with {source.name} as it is: "
                         "run `make lock UPGRADE=1` to resolve everything afresh") from None
    target.write_text(render(target, pins))
    return pins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest of everything")
    args = parser.parse_args()
    lambda_pins = lock(LAMBDA_IN, LAMBDA_LOCK, args.upgrade)
    dev_pins = lock(DEV_IN, DEV_LOCK, args.upgrade)
    print(f"{LAMBDA_LOCK.name}: {len(lambda_pins)} distributions; {DEV_LOCK.name}: {len(dev_pins)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
