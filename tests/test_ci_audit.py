"""CI's dependency audit: a finding fails unless allowed with a reason; no database, no pretence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "audit_dependencies", Path(__file__).parents[1] / ".ci" / "audit_dependencies.py")
assert _SPEC and _SPEC.loader
audit = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(audit)

VULNERABLE = {"dependencies": [
    {"name": "urllib3", "version": "2.0.0", "vulns": [
        {"id": "PYSEC-2099-1", "aliases": ["GHSA-aaaa-bbbb-cccc"], "fix_versions": ["2.0.1"]}]},
    {"name": "pyjwt", "version": "2.15.1", "vulns": []},
]}


def test_a_finding_fails_the_audit_and_says_how_to_fix_it():
    status, lines = audit.verdict(VULNERABLE, {})
    assert status == 1
    assert any("FINDING: urllib3 2.0.0: PYSEC-2099-1 (fixed in 2.0.1)" in line for line in lines)


def test_a_finding_allowed_by_an_alias_with_a_reason_passes_and_is_still_printed():
    status, lines = audit.verdict(VULNERABLE, {"GHSA-aaaa-bbbb-cccc": "no proxy in Lambda"})
    assert status == 0
    assert any("allowed: urllib3 2.0.0: PYSEC-2099-1" in line and "no proxy" in line for line in lines)


def test_an_allowlist_entry_without_a_reason_is_refused():
    with pytest.raises(ValueError, match="needs a reason"):
        audit.read_allowlist("# comment\nPYSEC-2099-1\n")
    assert audit.read_allowlist("PYSEC-2099-1  not reachable from our code # until 2027\n") == {
        "PYSEC-2099-1": "not reachable from our code"}


def test_nothing_audited_is_a_loud_skip_not_a_pass():
    report = {"dependencies": [{"name": "pyjwt", "skip_reason": "Dependency not found on PyPI"}]}
    status, lines = audit.verdict(report, {})
    assert status == 0 and lines[0].startswith("NOTICE: dependency audit SKIPPED")


def test_the_checked_in_allowlist_gives_a_reason_for_every_entry():
    audit.read_allowlist(audit.ALLOWLIST.read_text())
