"""`make package STAGE=prod`: the deployable template and the functions' code, in build/<stage>/.

    .venv/bin/python -m infra.package --stage prod --out build/prod

1. `chalice package --merge-template infra/resources.json`: sam.json and deployment.zip, the
   code every function of the app runs (chalice makes one package for all of them).
2. The package is trimmed of what never runs on Lambda: the local stack and renderer
   (chalicelib/local, the local video adapter), bytecode left over from this machine, and the
   AWS SDK, which the Lambda runtime provides (chalicelib.aws already imports the runtime's
   boto3; shipping pynamodb's botocore beside it would mix two SDK versions, at 60% of the zip).
3. Every module is precompiled for the runtime's Python with unchecked-hash bytecode. Lambda's
   code directory is read-only, so without it every cold start compiles the sources again.
4. The zip is written deterministically (sorted, fixed times), so an unchanged app makes a
   byte-identical package and `aws cloudformation package` uploads nothing new.
5. image-layer.zip: Pillow (requirements-images.txt) for the runtime, without its AVIF, font and
   Tk modules and the libraries only they link, as a layer of the three functions that decode
   reference images (infra/iam.py `images=True`); every other function runs without it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "resources.json"
LAMBDA_ROOT = "/var/task"  # where Lambda unpacks the code; tracebacks name files there
LAYER_ROOT = "/opt"  # where it unpacks a layer; python/ within it is on sys.path
IMAGE_REQUIREMENTS = ROOT / "requirements-images.txt"
IMAGE_LAYER = "image-layer.zip"

# Paths (or their first component) never shipped.
EXCLUDED_PATHS = ("chalicelib/local/", "chalicelib/adapters/local_video.py")
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
# Native parts of Pillow that nothing here loads: AVIF, fonts (with the PNG and Brotli libraries
# only the font engine links) and Tk. Reference images are JPEG, PNG or WebP; 8 MB of 12.
UNUSED_NATIVE = ("PIL/_avif.", "PIL/_imagingft.", "PIL/_imagingtk.", "pillow.libs/libavif-",
                 "pillow.libs/libfreetype-", "pillow.libs/libharfbuzz-", "pillow.libs/libpng16-",
                 "pillow.libs/libbrotli")

# What chalice needs from the environment to package; nothing of the app's own settings.
_PASSED_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def _excluded(name: str) -> bool:
    if name.startswith((*EXCLUDED_PATHS, *UNUSED_NATIVE)) or "/__pycache__/" in f"/{name}" \
            or name.endswith(".pyc"):
        return True
    top = name.split("/", 1)[0]
    distribution = top.split("-", 1)[0].lower() if top.endswith((".dist-info", ".data")) else None
    return top in RUNTIME_PROVIDED or distribution in RUNTIME_PROVIDED


def chalice_package(stage: str, out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in _PASSED_ENV or k.startswith(("LC_", "PIP_"))}
    env["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    chalice = Path(sys.executable).parent / "chalice"
    subprocess.run(
        [str(chalice), "package", "--stage", stage, "--merge-template", str(TEMPLATE), str(out)],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )


def _runtime_version(template: dict) -> str:
    runtimes = {r["Properties"]["Runtime"] for r in template["Resources"].values()
                if r["Type"] == "AWS::Serverless::Function"}
    (runtime,) = runtimes
    return runtime.removeprefix("python")


def _check_python(python_version: str) -> None:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != python_version:
        raise SystemExit(f"bytecode for python{python_version} must be compiled by it; this is {here}")


def rebuild_zip(zip_path: Path, python_version: str) -> None:
    _check_python(python_version)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        modes: dict[str, int] = {}
        with zipfile.ZipFile(zip_path) as original:
            for info in original.infolist():
                if info.is_dir() or _excluded(info.filename):
                    continue
                original.extract(info, tree)
                modes[info.filename] = (info.external_attr >> 16) & 0o777
        _write_compiled_zip(tree, zip_path, LAMBDA_ROOT, modes)


def build_image_layer(out: Path, python_version: str) -> Path:
    """out/image-layer.zip: Pillow (requirements-images.txt), built for the runtime and trimmed,
    as the layer of the functions that decode reference images; no other function carries it."""
    _check_python(python_version)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--implementation", "cp",
             "--python-version", python_version, "--target", str(tree / "python"),
             "-r", str(IMAGE_REQUIREMENTS)],
            check=True,
        )
        for path in sorted((tree / "python").rglob("*"), reverse=True):
            name = path.relative_to(tree / "python").as_posix()
            if path.is_file() and (_excluded(name) or name.startswith("bin/")):
                path.unlink()
        modes = {path.relative_to(tree).as_posix(): path.stat().st_mode & 0o777
                 for path in tree.rglob("*") if path.is_file()}
        layer = out / IMAGE_LAYER
        _write_compiled_zip(tree, layer, LAYER_ROOT, modes)
    return layer


def _write_compiled_zip(tree: Path, zip_path: Path, lambda_root: str, modes: dict[str, int]) -> None:
    """Every module of `tree` precompiled (unchecked-hash bytecode naming its path under
    `lambda_root`), then zipped deterministically: sorted, fixed times."""
    compiled = compileall.compile_dir(
        tree, quiet=1, workers=0, optimize=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        stripdir=str(tree), prependdir=lambda_root,
    )
    if not compiled:
        raise SystemExit("some modules of the package do not compile")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    partial = zip_path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as rebuilt:
        for path in files:
            name = path.relative_to(tree).as_posix()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = modes.get(name, 0o644) & 0o111
            info.external_attr = (0o755 if executable else 0o644) << 16
            rebuilt.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(zip_path)


def package(stage: str, out: Path) -> dict:
    """Writes out/sam.json and out/deployment.zip; returns the template."""
    if out.exists():
        shutil.rmtree(out)
    chalice_package(stage, out)
    template = json.loads((out / "sam.json").read_text())
    rebuild_zip(out / "deployment.zip", _runtime_version(template))
    build_image_layer(out, _runtime_version(template))
    return template


def describe(template: dict, out: Path, stack: str) -> str:
    sizes: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            sizes.setdefault(resource["Properties"]["CodeUri"], []).append(logical_id)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            users = sorted(k for k, r in template["Resources"].items()
                           if {"Ref": logical_id} in r.get("Properties", {}).get("Layers", []))
            sizes.setdefault(resource["Properties"]["ContentUri"], []).extend(users)
    lines = []
    for uri, functions in sizes.items():
        size = (out / uri).stat().st_size
        lines.append(f"{out}/{uri.removeprefix('./')}: {size / 1e6:.1f} MB, the code of "
                     f"{len(functions)} functions ({', '.join(sorted(functions))})")
    lines += [
        "",
        "Deploy (see README, 'Deploying to AWS'):",
        f"  aws cloudformation package --template-file {out}/sam.json --s3-bucket <artifact bucket> "
        f"--output-template-file {out}/packaged.json",
        f"  aws cloudformation deploy --template-file {out}/packaged.json --stack-name {stack} "
        "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = (args.out or ROOT / "build" / args.stage).resolve()
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stack = config["stages"][args.stage]["environment_variables"]["RESOURCE_PREFIX"]
    template = package(args.stage, out)
    print(describe(template, out.relative_to(ROOT) if out.is_relative_to(ROOT) else out, stack))


if __name__ == "__main__":
    main()
