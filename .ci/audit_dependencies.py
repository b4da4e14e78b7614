"""Audits the dependencies installed in .venv (what the Lambda functions import, and the tools)
with pip-audit, against PyPI's vulnerability data.

A finding fails CI unless `.ci/pip-audit-allowlist.txt` lists its id (or an alias) with a
reason. When no vulnerability database answers (pip-audit then reports every package as "not
found" and finds nothing, which is no audit at all), this says so loudly and skips rather than
fail for lack of network or pass as if audited.

Run with the virtualenv's Python: `.venv/bin/python .ci/audit_dependencies.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ALLOWLIST = Path(__file__).with_name("pip-audit-allowlist.txt")
_NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "Max retries exceeded", "timed out")


def read_allowlist(text: str) -> dict[str, str]:
    """{vulnerability id: reason}; an entry without a reason is an error, not an exception."""
    allowed: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{ALLOWLIST.name}:{number}: {vuln_id} needs a reason after its id")
        allowed[vuln_id] = reason.strip()
    return allowed


def verdict(report: dict[str, Any], allowed: dict[str, str]) -> tuple[int, list[str]]:
    """(exit status, lines to print) for a pip-audit JSON report: 1 for any finding not allowed,
    0 otherwise, also when nothing could be audited (said in the first line)."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    skipped = [d for d in dependencies if "skip_reason" in d]
    if dependencies and not audited:
        return 0, [
            "NOTICE: dependency audit SKIPPED: pip-audit reached no vulnerability database "
            f"(all {len(skipped)} packages 'not found'; PyPI's JSON API or OSV is unreachable "
            "from here). Nothing was audited; run it where the network allows.",
            f"  first reason: {skipped[0]['skip_reason']}",
        ]
    findings, accepted = [], []
    for dependency in audited:
        for vuln in dependency.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            reason = next((allowed[i] for i in ids if i in allowed), None)
            what = (f"{dependency['name']} {dependency['version']}: {vuln['id']} "
                    f"(fixed in {', '.join(vuln.get('fix_versions') or []) or 'no release yet'})")
            (accepted if reason else findings).append(f"{what}{f' -- allowed: {reason}' if reason else ''}")
    lines = [f"pip-audit: {len(audited)} packages audited, {len(findings)} finding(s) not allowed"]
    if skipped:
        lines.append(f"  not auditable: {', '.join(sorted(d['name'] for d in skipped))}")
    lines += [f"  allowed: {line}" for line in accepted]
    lines += [f"  FINDING: {line}" for line in findings]
    if findings:
        lines.append(f"  Upgrade the package, or list the id in .ci/{ALLOWLIST.name} with a reason.")
    return (1 if findings else 0), lines


def main() -> int:
    try:
        allowed = read_allowlist(ALLOWLIST.read_text() if ALLOWLIST.exists() else "")
    except ValueError as exc:
        print(f"pip-audit allowlist: {exc}")
        return 1
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    for vuln_id in allowed:
        command += ["--ignore-vuln", vuln_id]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        if any(marker in run.stderr for marker in _NETWORK_ERRORS):
            print("NOTICE: dependency audit SKIPPED: pip-audit could not reach its vulnerability "
                  "database (network). Nothing was audited.")
            print("  " + run.stderr.strip().splitlines()[-1][:300])
            return 0
        print(f"pip-audit failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
        return 1
    status, lines = verdict(report, allowed)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
