"""Every dependency pinned, what our dependencies bring included, and this environment built from
the pins: a fresh clone, CI and the Lambda package install exactly what was tested."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert [s.operator for s in specifiers] == ["=="], f"{path.name}: {line!r} is not pinned with =="
        found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


LAMBDA = pins(ROOT / "requirements.txt")
DEV = pins(ROOT / "constraints-dev.txt")


def missing_from(lock: dict[str, str]) -> list[str]:
    """What the locked distributions require (as installed here) that the lock does not pin."""
    missing = []
    for name in lock:
        for raw in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(raw)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra nobody asked for, or another platform's
            if canonicalize_name(requirement.name) not in lock:
                missing.append(f"{name} needs {requirement}")
    return missing


@pytest.mark.parametrize("lock", [LAMBDA, DEV], ids=["requirements.txt", "constraints-dev.txt"])
def test_the_lock_holds_everything_its_distributions_need(lock):
    assert missing_from(lock) == [], "run `make lock`"


def test_what_is_asked_for_by_hand_is_in_the_locks_at_the_asked_version():
    asked = {**pins(ROOT / "requirements.in"), **pins(ROOT / "requirements-images.txt"),
             **pins(ROOT / "requirements-dev.txt")}
    lambda_asked = pins(ROOT / "requirements.in")
    assert {name: LAMBDA.get(name) for name in lambda_asked} == lambda_asked
    assert {name: DEV.get(name) for name in asked} == asked, "run `make lock`"
    # The dev constraints never pull a Lambda dependency to another version than the package's.
    assert {name: DEV[name] for name in LAMBDA if name in DEV} == LAMBDA


def test_this_environment_was_installed_from_the_pins():
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    assert {name: installed.get(name) for name in DEV} == DEV
