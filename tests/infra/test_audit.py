"""`make audit` (scripts/audit.py): a known-vulnerable locked version fails the run; an
advisory source that cannot be reached or has no data is reported and does not fail; a broken
audit (bad arguments, garbage output) fails. The verdicts are checked on the reports pip-audit
and npm audit really write (their JSON shapes), and the wiring into CI."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("livews_audit", ROOT / "scripts" / "audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def pip_report(*deps: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(deps), "fixes": []}


def test_pip_audit_finding_fails(audit: Any) -> None:
    report = pip_report(
        {"name": "aiohttp", "version": "3.9.0", "vulns": [
            {"id": "GHSA-5h86-8mv2-jq9f", "fix_versions": ["3.9.4"], "aliases": []}]},
        {"name": "idna", "version": "3.10", "vulns": []},
    )  # fmt: skip
    verdict = audit.pip_audit_verdict("python", report, "")
    assert verdict.status == "vulnerable"
    assert "aiohttp 3.9.0: GHSA-5h86-8mv2-jq9f" in verdict.detail and "3.9.4" in verdict.detail


def test_pip_audit_without_data_or_network_is_not_a_pass_nor_a_failure(audit: Any) -> None:
    # What PyPI's JSON API answering 404 for everything looks like (seen on this machine).
    skipped = pip_report(
        *({"name": n, "skip_reason": f"Dependency not found on PyPI: {n}"} for n in ("a", "b"))
    )
    assert audit.pip_audit_verdict("python", skipped, "").status == "unreachable"
    stderr = "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.osv.dev')"
    assert audit.pip_audit_verdict("python", None, stderr).status == "unreachable"
    clean = pip_report({"name": "idna", "version": "3.10", "vulns": []})
    assert audit.pip_audit_verdict("python", clean, "").status == "ok"


def test_a_broken_pip_audit_run_fails(audit: Any) -> None:
    stderr = "pip-audit: error: unrecognized arguments: --bogus"
    assert audit.pip_audit_verdict("python", None, stderr).status == "error"


def test_npm_audit_verdicts(audit: Any) -> None:
    found = {
        "auditReportVersion": 2,
        "vulnerabilities": {"cookie": {"name": "cookie", "severity": "low", "via": []}},
        "metadata": {"vulnerabilities": {"low": 1, "total": 1}, "dependencies": {"prod": 9}},
    }
    verdict = audit.npm_audit_verdict("npm", found, "")
    assert verdict.status == "vulnerable" and "cookie (low)" in verdict.detail
    clean = {
        "auditReportVersion": 2,
        "vulnerabilities": {},
        "metadata": {"vulnerabilities": {"total": 0}, "dependencies": {"prod": 9}},
    }
    assert audit.npm_audit_verdict("npm", clean, "").status == "ok"
    # The registry's bulk advisory endpoint refusing (405 here) is "could not audit".
    refused = {"error": {"summary": "", "detail": ""}}
    stderr = "npm warn audit 405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/s"
    verdict = audit.npm_audit_verdict("npm", refused, stderr)
    assert verdict.status == "unreachable" and "405" in verdict.detail
    assert audit.npm_audit_verdict("npm", None, "npm ERR! something").status == "error"


def test_ci_runs_the_audit() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\naudit:" in makefile and "scripts/audit.py" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make audit" in ci
    script = (ROOT / "scripts" / "audit.py").read_text()
    assert 'PIP_AUDIT = "pip-audit==' in script  # pinned: a fresh clone audits the same way
