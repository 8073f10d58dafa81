"""The CI/CD workflow users run on their own forge (.github/workflows/ci.yml) parses, is a valid
GitHub Actions workflow (SchemaStore's schema, infra/schemas/github-workflow.json), and runs the
same make targets as .ci/run (plus `make images`, which builds every image), with images
published on version tags only."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


MAKE = re.compile(r"(?:^|&&|\|\||;)\s*make((?:[ \t]+[\w./=-]+)*)")


def make_targets(script: str) -> list[str]:
    """The targets of every `make <target>...` command in a shell script, in order."""
    targets: list[str] = []
    for line in script.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0]
        for match in MAKE.finditer(line):
            words = match.group(1).split()
            targets += [w for w in words if not w.startswith("-") and "=" not in w]
    return targets


def run_steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (job_name, step)
        for job_name, job in workflow["jobs"].items()
        for step in job["steps"]
        if "run" in step
    ]


@pytest.fixture(scope="module")
def workflow(infra: Any) -> dict[Any, Any]:
    loaded = infra.load_yaml(WORKFLOW)
    assert isinstance(loaded, dict)
    return loaded


def as_written(workflow: dict[Any, Any]) -> dict[Any, Any]:
    """The workflow with the key `on` back (PyYAML reads it as the boolean True, YAML 1.1)."""
    out = dict(workflow)
    if True in out:
        out["on"] = out.pop(True)
    return out


def test_workflow_is_a_valid_github_actions_workflow(workflow: dict[Any, Any]) -> None:
    schema = json.loads((ROOT / "infra" / "schemas" / "github-workflow.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(as_written(workflow))
    ]
    assert not errors, "\n".join(errors)
    # The schema refuses what the forge would refuse (guards the check above).
    broken = copy.deepcopy(as_written(workflow))
    broken["jobs"]["checks"]["timeout-minute"] = 90
    assert not validator.is_valid(broken)


def test_make_targets_parser() -> None:
    """Guards the comparison below against a parser that finds nothing."""
    script = (
        "set -e\nmake lint\nmake typecheck && make test # make never\n"
        "cd x; make -j2 images V=1\necho make-believe | grep make\nmake \\\n  audit\n"
    )
    assert make_targets(script) == ["lint", "typecheck", "test", "images", "audit"]


def test_workflow_runs_the_make_targets_of_ci_run(workflow: dict[Any, Any]) -> None:
    ci_run = make_targets((ROOT / ".ci" / "run").read_text())
    assert {"lint", "typecheck", "test"} <= set(ci_run), ci_run
    steps = run_steps(workflow)
    called = [t for _, step in steps for t in make_targets(step["run"])]
    missing = [t for t in ci_run if t not in called]
    assert not missing, f".github/workflows/ci.yml does not run: make {' '.join(missing)}"
    # Nothing but what .ci/run runs, and `make images` (the target that builds every image).
    assert set(called) <= set(ci_run) | {"images"}, called
    assert "images" in called
    # Within the checks job, in .ci/run's order.
    checks = [t for job, step in steps if job == "checks" for t in make_targets(step["run"])]
    order = [t for t in ci_run if t in checks]
    assert checks == order, (checks, order)
    print(f"\nCI-WORKFLOW .ci/run targets={ci_run} workflow targets={called}")


def test_workflow_triggers_permissions_and_publishing(workflow: dict[Any, Any]) -> None:
    triggers = as_written(workflow)["on"]
    assert isinstance(triggers, dict)
    assert "pull_request" in triggers and "main" in triggers["push"]["branches"]
    assert triggers["push"]["tags"] == ["v*"]
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert jobs["images"]["needs"] == "checks", "images are built after lint and tests pass"
    for name, job in jobs.items():
        assert job.get("timeout-minutes"), f"{name} has no timeout"
    publish = [s for _, s in run_steps(workflow) if "push" in s["run"]]
    assert publish and all(
        s.get("if") == "startsWith(github.ref, 'refs/tags/v')" for s in publish
    ), "images are pushed on version tags only"
    (sizes,) = [s for _, s in run_steps(workflow) if s.get("name") == "Image sizes"]
    assert "{{.Size}}" in sizes["run"]
    # Secrets reach the steps through env, never pasted into a command line.
    for _, step in run_steps(workflow):
        assert "secrets." not in step["run"], step.get("name")
