"""POST /auth/oauth/token: the client-credentials grant, its errors, its clients file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from livews_auth.clients import ClientRegistry, hash_secret, parse_clients, verify_secret
from livews_common.jwks import KeySet
from livews_common.settings import ConfigError
from livews_devtools.fleet_auth import AuthService, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn

SECRET = "s3cret-for-reporting-" + "x" * 20
TOKEN_PATH = "/auth/oauth/token"


def write_clients(path: Path, clients: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"clients": clients}))
    # A new mtime even on coarse clocks: the registry re-reads on (mtime, size) change.
    stamp = time.time() + len(clients) + path.stat().st_size % 7
    os.utime(path, (stamp, stamp))
    return path


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_secrets_are_stored_hashed_and_checked() -> None:
    encoded = hash_secret("abc")
    assert "abc" not in encoded and encoded.startswith("scrypt$")
    assert verify_secret("abc", encoded) and not verify_secret("abd", encoded)
    assert hash_secret("abc") != encoded  # salted
    assert not verify_secret("abc", "plain-text")


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ("not json", "not JSON"),
        ('{"reporting": {}}', '"clients"'),
        ('{"clients": {"bad id!": {"secrets": ["x"]}}}', "an id is"),
        ('{"clients": {"r": {"secrets": ["plain"]}}}', "plain secrets are not accepted"),
        ('{"clients": {"r": {"secrets": []}}}', "non-empty list"),
        ('{"clients": {"r": {"secrets": ["H"], "scopes": ["admin"]}}}', "unknown scopes"),
        ('{"clients": {"r": {"secret": "H"}}}', "expected"),
    ],
)
def test_a_bad_clients_file_is_one_clear_error(doc: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clients(doc.replace('"H"', json.dumps(hash_secret("x"))), "clients.json")
    assert says in str(caught.value) and "AUTH_CLIENTS_FILE" in str(caught.value)


def test_registry_rereads_a_changed_file_and_keeps_the_old_clients_if_it_is_bad(
    tmp_path: Path,
) -> None:
    path = write_clients(tmp_path / "c.json", {"a": {"secrets": [hash_secret("one")]}})
    registry = ClientRegistry(path)
    assert registry.authenticate("a", "one") is not None
    assert registry.authenticate("a", "two") is None and registry.authenticate("b", "one") is None
    write_clients(path, {"a": {"secrets": [hash_secret("one"), hash_secret("two")]}})
    registry.refresh()
    assert registry.authenticate("a", "two") is not None  # rotation: both work
    path.write_text("{broken")
    os.utime(path, (time.time() + 100, time.time() + 100))
    registry.refresh()
    assert registry.authenticate("a", "two") is not None  # the bad file changed nothing


def test_operator_cli_makes_an_entry_that_the_registry_accepts(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "livews_auth.clients", "new", "svc-a"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    secret = next(
        line.split(":", 1)[1].strip()
        for line in made.stderr.splitlines()
        if line.startswith("client_secret:")
    )
    entry = json.loads(made.stdout)
    assert secret not in made.stdout  # only the hash goes in the file
    path = write_clients(tmp_path / "c.json", entry)
    assert ClientRegistry(path).authenticate("svc-a", secret) is not None
    bad = subprocess.run(
        [sys.executable, "-m", "livews_auth.clients", "check", str(tmp_path / "missing.json")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "AUTH_CLIENTS_FILE" in bad.stderr


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    return write_clients(
        tmp_path / "clients.json",
        {"reporting": {"secrets": [hash_secret(SECRET)], "scopes": ["md:read"]}},
    )


@pytest.fixture
def auth_with_clients(
    spawn: Spawn, tmp_path: Path, redis_url: str, emulator: Emulator, clients_file: Path
) -> AuthService:
    return start_auth(
        spawn, tmp_path, redis_url, emulator, AUTH_CLIENTS_FILE=str(clients_file),
        AUTH_CLIENT_TOKEN_TTL="120", AUTH_RATE_CLIENT_FAILURES="5",
    )  # fmt: skip


def test_grant_issues_a_service_token_that_verifies(auth_with_clients: AuthService) -> None:
    with httpx.Client(base_url=auth_with_clients.url) as http:
        keys = KeySet.from_jwks(http.get("/auth/.well-known/jwks.json").json())
        by_form = http.post(TOKEN_PATH, data={
            "grant_type": "client_credentials", "client_id": "reporting", "client_secret": SECRET,
        })  # fmt: skip
        by_basic = http.post(
            TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "md:read"},
            headers=basic("reporting", SECRET),
        )  # fmt: skip
        for response in (by_form, by_basic):
            assert response.status_code == 200, response.text
            assert response.headers["cache-control"] == "no-store"
            body = response.json()
            assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
            assert body["token_type"] == "Bearer" and body["scope"] == "md:read"
            assert body["expires_in"] == 120
            claims = keys.verify(body["access_token"])
            assert claims.sub == "svc:reporting" and claims.sid == "svc:reporting"
            assert claims.scope == "md:read" and claims.exp - claims.iat == 120
            me = http.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
            assert me.status_code == 200 and me.json()["sub"] == "svc:reporting"


def test_grant_errors(auth_with_clients: AuthService) -> None:
    ok = {"grant_type": "client_credentials", "client_id": "reporting", "client_secret": SECRET}
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("wrong secret", {"data": {**ok, "client_secret": "wrong"}}, 401, "invalid_client"),
        ("unknown client", {"data": {**ok, "client_id": "nobody"}}, 401, "invalid_client"),
        ("wrong secret, Basic", {"data": {"grant_type": "client_credentials"},
                                 "headers": basic("reporting", "nope")}, 401, "invalid_client"),
        ("no credentials", {"data": {"grant_type": "client_credentials"}}, 401, "invalid_client"),
        ("scope not allowed", {"data": {**ok, "scope": "md:read admin"}}, 400, "invalid_scope"),
        ("password grant", {"data": {**ok, "grant_type": "password"}}, 400,
         "unsupported_grant_type"),
        ("no grant_type", {"data": {"client_id": "reporting", "client_secret": SECRET}}, 400,
         "invalid_request"),
        ("JSON body", {"json": ok}, 400, "invalid_request"),
        ("both ways", {"data": ok, "headers": basic("reporting", SECRET)}, 400,
         "invalid_request"),
        ("repeated", {"content": "grant_type=client_credentials&grant_type=client_credentials",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400,
         "invalid_request"),
    ]  # fmt: skip
    with httpx.Client(base_url=auth_with_clients.url) as http:
        for name, request, status, code in cases:
            response = http.post(TOKEN_PATH, **request)
            assert response.status_code == status, (name, response.text)
            body = response.json()
            assert body["error"] == code and body["message"], (name, body)
            assert "access_token" not in body
            if status == 401:
                assert response.headers["www-authenticate"].startswith("Basic"), name


def test_failed_client_auth_is_rate_limited_per_address(auth_with_clients: AuthService) -> None:
    wrong = {"grant_type": "client_credentials", "client_id": "reporting", "client_secret": "x"}
    right = {**wrong, "client_secret": SECRET}
    with httpx.Client(base_url=auth_with_clients.url) as http:
        assert http.post(TOKEN_PATH, data=right).status_code == 200  # successes do not count
        statuses = [http.post(TOKEN_PATH, data=wrong).status_code for _ in range(8)]
        refused_right = http.post(TOKEN_PATH, data=right)
    tries = statuses.count(401)
    print(f"\nBOUND failed client auths per address per window: {tries} of 8 tried "
          f"(AUTH_RATE_CLIENT_FAILURES=5); then {statuses[tries:]} and the right secret "
          f"{refused_right.status_code}")  # fmt: skip
    assert statuses == [401] * 5 + [429] * 3
    # Past the limit even the right secret is not looked at: guessing cannot go on.
    assert refused_right.status_code == 429 and int(refused_right.headers["retry-after"]) >= 1


def test_clients_are_added_rotated_and_removed_without_a_restart(
    auth_with_clients: AuthService, clients_file: Path
) -> None:
    def status(client_id: str, secret: str) -> int:
        return httpx.post(f"{auth_with_clients.url}{TOKEN_PATH}", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
        }).status_code  # fmt: skip

    new_secret = "rotated-" + "y" * 30
    write_clients(clients_file, {
        "reporting": {"secrets": [hash_secret(SECRET), hash_secret(new_secret)]},
        "risk": {"secrets": [hash_secret("risk-secret-" + "z" * 20)]},
    })  # fmt: skip
    assert status("reporting", SECRET) == 200 and status("reporting", new_secret) == 200
    assert status("risk", "risk-secret-" + "z" * 20) == 200
    write_clients(clients_file, {"reporting": {"secrets": [hash_secret(new_secret)]}})
    assert status("reporting", new_secret) == 200
    assert status("reporting", SECRET) == 401  # the old secret is gone
    assert status("risk", "risk-secret-" + "z" * 20) == 401  # the removed client too


def test_a_bad_clients_file_stops_the_start_with_one_line(
    tmp_path: Path, redis_url: str, emulator: Emulator
) -> None:
    from livews_devtools.fleet_auth import auth_env  # the env the fixtures use

    bad = tmp_path / "bad.json"
    bad.write_text('{"clients": {"r": {"secrets": ["plain-secret"]}}}')
    env = {**os.environ, **auth_env(tmp_path, redis_url, emulator, AUTH_CLIENTS_FILE=str(bad))}
    done = subprocess.run(
        [sys.executable, "-m", "livews_auth", "--port", "1"], env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "AUTH_CLIENTS_FILE" in done.stderr and "Traceback" not in done.stderr
