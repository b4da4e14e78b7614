"""Cold start: `import app` in a fresh interpreter, beside a bare Chalice app that imports boto3
(written to a temporary directory here), both timed inside the interpreter around the import,
median of RUNS runs each, run in turn. Goal: at most 1.5 times the bare app.

    make bench        (or: .venv/bin/python bench/coldstart.py)

Both import from this checkout's .venv with their bytecode already written (an untimed import
first). The detail column names the packages the app imports beyond the bare app's, by their
own import time (`python -X importtime`). `make coldstart` measures the deployment package
instead, as Lambda loads it.
"""

from __future__ import annotations

import collections
import compileall
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import table
from bench.table import Row

ROOT = Path(__file__).resolve().parents[1]
TITLE = "cold start (fresh interpreter, median of runs)"
RUNS = 11
GOAL = 1.5

BARE_APP = '''import boto3
from chalice import Chalice

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
'''

PROBE = "import time\nstarted = time.perf_counter()\nimport app\nprint(time.perf_counter() - started)\n"
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def environment() -> dict[str, str]:
    """The dev stage's variables (app.py names its queues from RESOURCE_PREFIX at import)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "AWS_DEFAULT_REGION": "us-east-1",
            **config["stages"]["dev"]["environment_variables"]}


def import_seconds(directory: Path, env: dict[str, str]) -> float:
    """`python -c` puts the working directory first on sys.path, so `import app` is its app.py."""
    answer = subprocess.run([sys.executable, "-c", PROBE], cwd=directory, env=env,
                            capture_output=True, text=True, check=True)
    return float(answer.stdout.split()[-1])


def self_time_by_package(directory: Path, env: dict[str, str]) -> collections.Counter[str]:
    answer = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=directory,
                            env=env, capture_output=True, text=True, check=True)
    seconds: collections.Counter[str] = collections.Counter()
    for match in _IMPORTTIME.finditer(answer.stderr):
        seconds[match.group(2).split(".")[0]] += int(match.group(1)) / 1e6
    return seconds


def measure() -> list[Row]:
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        (bare / "app.py").write_text(BARE_APP)
        samples: dict[Path, list[float]] = {ROOT: [], bare: []}
        for directory in samples:
            import_seconds(directory, env)  # writes the bytecode, warms the file cache
        for _ in range(RUNS):
            for directory, times in samples.items():
                times.append(import_seconds(directory, env))
        ours, theirs = self_time_by_package(ROOT, env), self_time_by_package(bare, env)
    app_s, bare_s = statistics.median(samples[ROOT]), statistics.median(samples[bare])
    ratio = app_s / bare_s
    beyond = collections.Counter({name: s for name, s in ours.items() if name not in theirs})
    heaviest = ", ".join(f"{name} {table.duration(s)}" for name, s in beyond.most_common(5))
    detail = f"beyond the bare app: {heaviest}"
    return [Row("import app", table.duration(app_s), f"bare Chalice + boto3: {table.duration(bare_s)}",
                f"{table.times(ratio)} (goal <= {GOAL}x)", table.verdict(ratio <= GOAL), detail),
            packaged()]


PACKAGED_PROBE = ("import sys, time\nsys.path[:0] = sys.argv[1:3]\nstarted = time.perf_counter()\n"
                  "import app\nprint(time.perf_counter() - started)\n")


def packaged() -> Row:
    """The same two imports as Lambda makes them: from the deployment package (`make package`,
    with its bytecode; no cryptography, which only the dev tools bring and PyJWT then loads),
    read-only, the runtime's SDK beside it and no site-packages. The bare app gets the
    package's own chalice."""
    from infra import coldstart, package

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "build"
        package.chalice_package("prod", out)
        template = json.loads((out / "sam.json").read_text())
        package.rebuild_zip(out / "deployment.zip", package._runtime_version(template))
        env = {**coldstart.lambda_env(), "PYTHONDONTWRITEBYTECODE": "1"}
        with coldstart.unpacked(out / "deployment.zip") as (with_bytecode, _without, runtime):
            bare = Path(tmp) / "bare"
            shutil.copytree(with_bytecode / "chalice", bare / "chalice")
            (bare / "app.py").write_text(BARE_APP)
            compileall.compile_dir(bare, quiet=1, workers=0)
            samples: dict[Path, list[float]] = {with_bytecode: [], bare: []}
            for _ in range(RUNS + 1):  # the first of each warms the file cache
                for directory, times in samples.items():
                    answer = subprocess.run([sys.executable, "-S", "-c", PACKAGED_PROBE, str(directory),
                                             str(runtime)], cwd=directory, env=env, capture_output=True,
                                            text=True, check=True)
                    times.append(float(answer.stdout.split()[-1]))
    app_s, bare_s = (statistics.median(times[1:]) for times in samples.values())
    ratio = app_s / bare_s
    return Row("import app, from the Lambda package", table.duration(app_s),
               f"bare Chalice + boto3: {table.duration(bare_s)}", f"{table.times(ratio)} (goal <= {GOAL}x)",
               table.verdict(ratio <= GOAL), "read-only, the runtime SDK only, bytecode shipped")


if __name__ == "__main__":
    table.main(TITLE, measure)
