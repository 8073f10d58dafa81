"""Every console script explains its configuration: ``--version``, ``--check-config``, and a
bad value as one line on stderr naming the variable and what it accepts, exit 2.

Each case runs the installed script as a subprocess, the way an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SERVICES = ("livews-auth", "livews-gateway", "livews-marketdata", "fyers-emulator")
SCRIPTS = (*SERVICES, "livews-dev")
SECRET = "s3cr3t-value-that-must-not-print"


def run(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEWS_", "REDIS_",
             "AUTH_", "GATEWAY_", "MARKETDATA_", "FYERS_", "EMULATOR_"))}  # fmt: skip
    return subprocess.run(
        [str(BIN / name), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=45,
        stdin=subprocess.DEVNULL,
    )


def one_clear_line(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("name", SCRIPTS)
def test_version(name: str) -> None:
    out = run(name, "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{name} 0.") and "python 3." in out.stdout
    assert "revision " in out.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_check_config_prints_settings_with_secrets_redacted(name: str, tmp_path: Path) -> None:
    out = run(
        name,
        "--check-config",
        LIVEWS_STATE_DIR=str(tmp_path),
        REDIS_URL=f"redis://app:{SECRET}@127.0.0.1:6399/0",
        FYERS_SECRET_KEY=SECRET,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"# {name}: configuration OK")
    assert SECRET not in out.stdout + out.stderr
    if name != "fyers-emulator":  # the emulator has no Redis
        assert "REDIS_URL=" in out.stdout
    if name != "livews-dev":
        assert "LIVEWS_ENV=dev" in out.stdout
        assert "FYERS_SECRET_KEY=***" in out.stdout or name != "livews-auth"


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_port_out_of_range_is_refused(name: str) -> None:
    flag = "--auth-port" if name == "livews-dev" else "--port"
    one_clear_line(run(name, flag, "84536"), "84536", "0-65535")


@pytest.mark.parametrize("name", SERVICES)  # livews-dev runs its parts with LIVEWS_ENV=dev
def test_an_unknown_env_is_refused(name: str) -> None:
    one_clear_line(run(name, "--check-config", LIVEWS_ENV="staging"), "LIVEWS_ENV", "dev", "prod")


@pytest.mark.parametrize("name", [s for s in SCRIPTS if s != "fyers-emulator"])
def test_a_redis_url_without_a_scheme_is_refused(name: str) -> None:
    line = one_clear_line(
        run(name, "--check-config", REDIS_URL="localhost:6379"), "REDIS_URL", "redis://"
    )
    assert "rediss://" in line and "unix://" in line


@pytest.mark.parametrize("name", SERVICES)
def test_an_unknown_log_level_or_format_is_refused(name: str) -> None:
    var = "EMULATOR_LOG_LEVEL" if name == "fyers-emulator" else "LIVEWS_LOG_LEVEL"
    one_clear_line(run(name, "--check-config", **{var: "loud"}), var, "DEBUG", "WARNING")
    line = one_clear_line(
        run(name, "--check-config", LIVEWS_LOG_FORMAT="xml"), "LIVEWS_LOG_FORMAT", "json", "text"
    )
    assert ", ," not in line and "''" not in line


def test_auth_names_every_missing_prod_secret_at_once(tmp_path: Path) -> None:
    line = one_clear_line(
        run(
            "livews-auth",
            "--check-config",
            LIVEWS_ENV="prod",
            LIVEWS_STATE_DIR=str(tmp_path),
            AUTH_FEED_ACCOUNT="XA00001",
        )
    )
    for name in ("FYERS_CLIENT_ID", "FYERS_SECRET_KEY", "FYERS_REDIRECT_URI",
                 "AUTH_SIGNING_KEY", "AUTH_FEED_PIN"):  # fmt: skip
        assert name in line, line


def test_livews_dev_names_a_busy_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run("livews-dev", "--gateway-port", str(port), LIVEWS_STATE_DIR=str(tmp_path))
    line = one_clear_line(out, "port in use", f"gateway ({port})")
    assert out.stdout == "", "something started before the port check"
    assert not (tmp_path / "redis").exists()
    print(f"\nBUSY PORT {line}")


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.timeout(90)
def test_json_logs_on_one_switch_without_ansi_fields(name: str, tmp_path: Path) -> None:
    """``LIVEWS_LOG_FORMAT=json`` in dev: every line a JSON object, uvicorn's included, and no
    ``color_message`` (uvicorn's ANSI copy of its message) in any of them."""
    import json
    import signal
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_redis = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"  # nothing listens
    env = {**os.environ, "LIVEWS_STATE_DIR": str(tmp_path), "LIVEWS_ENV": "dev",
           "LIVEWS_LOG_FORMAT": "json", "REDIS_URL": dead_redis}  # fmt: skip
    proc = subprocess.Popen(
        [str(BIN / name), "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        lines += rest.splitlines(keepends=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(lines[-20:])  # Ctrl-C is a clean stop
    records = [json.loads(line) for line in lines if line.strip()]  # each line is JSON
    assert any("Uvicorn running on" in r["msg"] for r in records), lines
    assert all(r["service"] and r["level"] for r in records)
    assert not any("color_message" in r or "\x1b" in r["msg"] for r in records)
    print(f"\nJSON LINES {name}: {len(records)}")
