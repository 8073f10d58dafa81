"""`make test` kills nothing it did not start: scripts/system-deps.sh, run with its programs
stubbed (apt-get, service, sudo, pkill, killall), keeps the packages' services from starting
during the install and stops only a service the install itself started."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system-deps.sh"
POLICY = Path("/usr/sbin/policy-rc.d")

#: Commands that reach processes by name or signal ones the caller did not start.
KILLERS = re.compile(r"\b(pkill|killall|fuser\s+-k|kill\s+-?\w*\s*\$\(pgrep)|-s\s+(stop|quit)\b")

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$STUBLOG"
"""
APT_GET = (
    STUB
    + """
if [ "$1" = install ]; then
  # What invoke-rc.d would be told if the package's postinst started its service now.
  if [ -x /usr/sbin/policy-rc.d ]; then /usr/sbin/policy-rc.d prometheus start; fi
  echo "policy verdict $?" >> "$STUBLOG"
  # A policy that allows starts: the package's service comes up.
  if [ -n "${STARTS_SERVICE:-}" ]; then touch "$STATE/prometheus"; fi
fi
"""
)
SERVICE = (
    STUB
    + """
case "$2" in
  status) [ -e "$STATE/$1" ] ;;
  stop) rm -f "$STATE/$1" ;;
esac
"""
)
SUDO = STUB + 'exec "$@"\n'


def test_makefile_and_its_scripts_kill_nothing_by_name() -> None:
    makefile = (ROOT / "Makefile").read_text()
    scripts = {ROOT / m for m in re.findall(r"(scripts/[\w.-]+)", makefile)}
    assert SCRIPT in scripts
    for path in (ROOT / "Makefile", *sorted(scripts)):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not KILLERS.search(code), f"{path.name}:{number} stops processes by name: {line}"


def _run(
    tmp_path: Path, *, running_before: bool, starts_service: bool
) -> tuple[int, str, list[str]]:
    stubs, state = tmp_path / "bin", tmp_path / "state"
    stubs.mkdir()
    state.mkdir()
    for name, text in {"apt-get": APT_GET, "service": SERVICE, "sudo": SUDO}.items():
        (stubs / name).write_text(text)
    for name in ("pkill", "killall", "pgrep", "systemctl", "nginx"):
        (stubs / name).write_text(STUB)
    for path in stubs.iterdir():
        path.chmod(0o755)
    # Only what the script needs besides the stubs: no promtool on PATH, so it installs prometheus.
    for tool in ("id", "tee", "chmod", "rm", "touch", "basename", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (stubs / tool).symlink_to(found)
    if running_before:
        (state / "prometheus").touch()
    log = tmp_path / "log"
    log.touch()
    env = {
        "PATH": str(stubs),
        "STUBLOG": str(log),
        "STATE": str(state),
        "HOME": str(tmp_path),
        **({"STARTS_SERVICE": "1"} if starts_service else {}),
    }
    bash = shutil.which("bash")
    assert bash
    done = subprocess.run(
        [bash, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    calls = log.read_text().splitlines()
    print(f"\n{done.stdout}{done.stderr}calls: {calls}")
    return done.returncode, done.stdout + done.stderr, calls


@pytest.fixture
def as_root() -> None:
    # Without root the script would ask for sudo (stubbed too, but the policy file belongs to root).
    if os.geteuid() != 0:
        pytest.skip(
            "scripts/system-deps.sh installs packages as root; this machine runs tests as a user"
        )
    if not POLICY.exists():
        pytest.skip(
            "no /usr/sbin/policy-rc.d here: the script would write one, which a test must not do"
        )


@pytest.mark.usefixtures("as_root")
def test_install_runs_under_a_policy_that_forbids_service_starts(tmp_path: Path) -> None:
    code, _, calls = _run(tmp_path, running_before=False, starts_service=False)
    assert code == 0
    assert any(c.startswith("apt-get install") and "prometheus" in c for c in calls), calls
    assert "policy verdict 101" in calls
    assert not [c for c in calls if c.split()[0] in {"pkill", "killall", "nginx", "systemctl"}]
    assert "service prometheus stop" not in calls


@pytest.mark.usefixtures("as_root")
def test_a_service_the_install_started_is_stopped_through_its_service_script(
    tmp_path: Path,
) -> None:
    code, out, calls = _run(tmp_path, running_before=False, starts_service=True)
    assert code == 0
    assert "service prometheus stop" in calls
    assert "stopping the prometheus service the install started" in out
    assert not [c for c in calls if c.split()[0] in {"pkill", "killall", "nginx", "systemctl"}]


@pytest.mark.usefixtures("as_root")
def test_a_service_that_was_running_before_is_left_alone(tmp_path: Path) -> None:
    code, _, calls = _run(tmp_path, running_before=True, starts_service=True)
    assert code == 0
    assert "service prometheus status" in calls
    assert "service prometheus stop" not in calls
