"""Dependency audit (`make audit`): known vulnerabilities in what the repository locks.

- Python: the locked set (`uv export --frozen`, every package and group, with hashes) checked by
  pip-audit (pinned below, run with `uv tool run`, so a fresh clone needs nothing else),
  against PyPI's advisory data, else OSV.
- npm: every tracked package-lock.json, production dependencies (`npm audit --omit=dev
  --package-lock-only`, so no node_modules are needed).

Exit 1 when a locked version has a known vulnerability (fix: `uv lock --upgrade-package X`,
`npm update X`). When an advisory source cannot be reached or does not answer, the run says
so and that part does not fail: an audit that could not look is not a finding.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PIP_AUDIT = "pip-audit==2.10.1"
#: pip-audit's advisory services, tried in order until one answers.
PIP_AUDIT_SERVICES = ("pypi", "osv")
TIMEOUT = 600
#: What pip-audit's stderr shows when the advisory service cannot be reached or fails.
NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "Timeout", "Max retries",
                  "ServiceError", "SSLError", "HTTPError", "ProxyError")  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """One audited set: ``ok``; ``vulnerable`` or ``error`` (the audit itself broke: fails the
    run); ``unreachable`` (no advisory source answered: reported, does not fail)."""

    name: str
    status: str
    detail: str


def pip_audit_verdict(name: str, report: dict[str, Any] | None, stderr: str) -> Verdict:
    """Classify one pip-audit run from its JSON report (None: it wrote none) and stderr."""
    if report is None:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        reason = (lines[-1] if lines else "pip-audit wrote no report")[:300]
        if any(marker in stderr for marker in NETWORK_ERRORS):
            return Verdict(name, "unreachable", reason)
        return Verdict(name, "error", reason)
    deps = report.get("dependencies", [])
    found = []
    for dep in deps:
        if dep.get("vulns"):
            ids = ", ".join(v.get("id", "?") for v in dep["vulns"])
            fixes = sorted({f for v in dep["vulns"] for f in v.get("fix_versions", [])})
            found.append(f"{dep['name']} {dep.get('version', '?')}: {ids} (fixed in {fixes})")
    if found:
        return Verdict(name, "vulnerable", "; ".join(found))
    skipped = [d for d in deps if d.get("skip_reason")]
    if deps and len(skipped) == len(deps):
        # PyPI's JSON API (or a mirror standing for it) knew none of the packages: nothing
        # was looked up, so this is no pass.
        return Verdict(name, "unreachable", f"no advisory data for any of {len(deps)} packages")
    note = f"{len(deps) - len(skipped)} packages checked"
    if skipped:
        note += f", {len(skipped)} not known to the source: " + ", ".join(
            d["name"] for d in skipped[:10]
        )
    return Verdict(name, "ok", note)


def npm_audit_verdict(name: str, report: dict[str, Any] | None, stderr: str) -> Verdict:
    """Classify one `npm audit --json` run (None: its output was not JSON)."""
    if report is None:
        return Verdict(name, "error", (stderr.strip() or "npm audit printed no JSON")[:300])
    if "error" in report:
        error = report.get("error") or {}
        lines = [line for line in stderr.strip().splitlines() if "audit" in line.lower()]
        reason = error.get("summary") or (lines[0] if lines else "npm audit gave no report")
        return Verdict(name, "unreachable", str(reason)[:300])
    counts = report.get("metadata", {}).get("vulnerabilities", {})
    found = sorted(
        f"{pkg} ({info.get('severity', '?')})"
        for pkg, info in report.get("vulnerabilities", {}).items()
        if info.get("severity") != "info"
    )
    if found:
        return Verdict(name, "vulnerable", ", ".join(found))
    deps = report.get("metadata", {}).get("dependencies", {})
    prod = int(deps.get("prod", 1)) - 1 if isinstance(deps, dict) else 0  # less the root
    if prod <= 0:
        return Verdict(name, "ok", "no production dependencies")
    return Verdict(
        name, "ok", f"{prod} production packages checked: {counts.get('total', 0)} found"
    )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def audit_python(uv: str, scratch: Path) -> Verdict:
    requirements = scratch / "requirements.txt"
    export = subprocess.run(
        [uv, "export", "--frozen", "--all-packages", "--all-groups", "--no-emit-workspace",
         "--format", "requirements-txt", "--quiet", "-o", str(requirements)],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    if export.returncode != 0:
        # The lock itself is broken: that is a failure of its own, not of the audit source.
        return Verdict("python (uv.lock)", "vulnerable", f"uv export failed: {export.stderr}")
    verdict = Verdict("python (uv.lock)", "unreachable", "no service tried")
    for service in PIP_AUDIT_SERVICES:
        out = scratch / f"pip-audit-{service}.json"
        run = subprocess.run(
            [uv, "tool", "run", "--quiet", "--from", PIP_AUDIT, "pip-audit",
             "-r", str(requirements), "--disable-pip", "--vulnerability-service", service,
             "--timeout", "30", "--progress-spinner", "off", "--format", "json",
             "--output", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        verdict = pip_audit_verdict(f"python (uv.lock, {service})", _json(out), run.stderr)
        if verdict.status != "unreachable":
            return verdict
        say(f"audit: {verdict.name}: advisory source unusable: {verdict.detail}")
    return verdict


def audit_npm(npm: str) -> list[Verdict]:
    listed = subprocess.run(
        ["git", "ls-files", "*package-lock.json"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    verdicts = []
    for lock in sorted(listed.stdout.split()):
        if "node_modules/" in lock:
            continue
        where = (ROOT / lock).parent
        run = subprocess.run(
            [npm, "audit", "--omit=dev", "--package-lock-only", "--json"],
            cwd=where, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        try:
            report = json.loads(run.stdout) if run.stdout.strip() else None
        except ValueError:
            report = None
        verdicts.append(npm_audit_verdict(f"npm ({lock})", report, run.stderr))
    return verdicts


def main() -> int:
    uv = os.environ.get("UV") or str(ROOT / ".tools" / "bin" / "uv")
    npm = os.environ.get("NPM", "npm")
    with tempfile.TemporaryDirectory(prefix="livews-audit-") as tmp:
        verdicts = [audit_python(uv, Path(tmp)), *audit_npm(npm)]
    for v in verdicts:
        label = {"ok": "ok", "vulnerable": "VULNERABLE", "error": "ERROR",
                 "unreachable": "NOT AUDITED"}[v.status]  # fmt: skip
        say(f"audit: {label:11} {v.name}: {v.detail}")
    unreachable = [v for v in verdicts if v.status == "unreachable"]
    if unreachable:
        say(
            f"audit: {len(unreachable)} set(s) could not be audited (advisory source unreachable "
            "or without data); not a failure: run `make audit` where the source answers."
        )
    return 1 if any(v.status in ("vulnerable", "error") for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
