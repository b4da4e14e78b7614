"""Cold imports of the packaged app, as Lambda runs it: from a read-only directory, with only the
runtime's SDK beside it, in a fresh interpreter each time; with the shipped bytecode and without.

    .venv/bin/python -m infra.coldstart build/prod/deployment.zip

`import app` is what every cold start pays before its first event; the adapters the handlers
import on first use (openai, stripe) are measured after it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.package import RUNTIME_PROVIDED

# The SDK and what it needs, as the Lambda runtime has them (there under /var/runtime).
_RUNTIME_PACKAGES = (*RUNTIME_PROVIDED, "dateutil", "six.py", "urllib3")

PROBE = """
import json, os, sys, time
package = sys.argv[1]
sys.path[:0] = sys.argv[1:3]
start = time.perf_counter()
import app
loaded = time.perf_counter()
import chalicelib.adapters.openai_video, chalicelib.adapters.stripe_payments
adapters = time.perf_counter()
files = {name: getattr(m, '__file__', None) or '' for name, m in list(sys.modules.items())}
outside = sorted({f.split('/site-packages/')[0] for f in files.values() if '/site-packages/' in f})
uncompiled = sorted(name for name, f in files.items()
                    if f.startswith(package) and f.endswith('.py')
                    and not os.path.exists(getattr(sys.modules[name], '__cached__', None) or ''))
print(json.dumps({"app": loaded - start, "adapters": adapters - loaded, "outside": outside,
                  "uncompiled": uncompiled}))
"""


def _read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


@contextmanager
def unpacked(zip_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """(the package with its bytecode, the same without, the runtime's SDK), all read-only."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with_bytecode, without, runtime = root / "with", root / "without", root / "runtime"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(with_bytecode)
            archive.extractall(without)
        for cache in list(without.rglob("__pycache__")):
            shutil.rmtree(cache)
        site = next(Path(p) for p in sys.path if p.endswith("site-packages"))  # this venv's SDK
        runtime.mkdir()
        for name in _RUNTIME_PACKAGES:
            source = site / name
            if source.is_dir():
                shutil.copytree(source, runtime / name)
            else:
                shutil.copy2(source, runtime / name)
        compileall.compile_dir(runtime, quiet=1, workers=0)
        for tree in (with_bytecode, without, runtime):
            _read_only(tree)
        try:
            yield with_bytecode, without, runtime
        finally:
            for path in [root, *root.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


def probe(package: Path, runtime: Path, env: dict[str, str]) -> dict:
    """One fresh interpreter: no site-packages, nothing written (the directory is read-only)."""
    answer = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(package), str(runtime)],
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, cwd=package,
        capture_output=True, text=True, check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def lambda_env(stage: str = "prod") -> dict[str, str]:
    config = json.loads((Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text())
    env = dict(config["stages"][stage]["environment_variables"])
    env.update(PATH=os.environ.get("PATH", ""), AWS_DEFAULT_REGION="us-east-1", LANG="C.UTF-8")
    return env


def measure(zip_path: Path, runs: int) -> dict[str, dict[str, float]]:
    env = lambda_env()
    results: dict[str, dict[str, float]] = {}
    with unpacked(zip_path) as (with_bytecode, without, runtime):
        for label, package in (("with bytecode", with_bytecode), ("without bytecode", without)):
            probe(package, runtime, env)  # the first run also warms the OS file cache
            samples = [probe(package, runtime, env) for _ in range(runs)]
            results[label] = {key: statistics.median(s[key] for s in samples) for key in ("app", "adapters")}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zip", type=Path)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    results = measure(args.zip, args.runs)
    for label, times in results.items():
        print(f"{label:17} import app {times['app'] * 1000:6.0f} ms   "
              f"then openai + stripe adapters {times['adapters'] * 1000:6.0f} ms")
    ratio = results["without bytecode"]["app"] / results["with bytecode"]["app"]
    both = sum(results["without bytecode"].values()) / sum(results["with bytecode"].values())
    print(f"bytecode makes `import app` {ratio:.1f}x faster ({both:.1f}x with the adapters)")


if __name__ == "__main__":
    main()
