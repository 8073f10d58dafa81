"""How a service turns REDIS_URL / REDIS_USERNAME / REDIS_PASSWORD(_FILE) into the URL it
connects with, and the roles table's invariants (docs/redis-contract.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livews_common import redis_acl
from livews_common.logs import redact
from livews_common.settings import (
    BaseServiceSettings,
    ConfigError,
    redact_redis_url,
    resolve_redis_url,
)


def test_a_plain_url_is_kept_as_is() -> None:
    url = "redis://gateway:s3cret@redis:6379/0"
    assert resolve_redis_url(url, {}) == url
    assert resolve_redis_url("rediss://redis:6380/2", {}) == "rediss://redis:6380/2"


def test_user_and_password_file_are_put_into_the_url(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("p@ss/word:1\n")
    env = {"REDIS_USERNAME": "marketdata", "REDIS_PASSWORD_FILE": str(secret)}
    got = resolve_redis_url("rediss://redis.example.com:6380/0", env)
    assert got == "rediss://marketdata:p%40ss%2Fword%3A1@redis.example.com:6380/0"
    # redis-py reads it back as given.
    import redis

    kwargs = redis.connection.parse_url(got)  # type: ignore[no-untyped-call]
    assert kwargs["username"] == "marketdata" and kwargs["password"] == "p@ss/word:1"


def test_url_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "url"
    path.write_text("redis://auth:x1@redis:6379/0\n")
    assert resolve_redis_url("redis://127.0.0.1:6379/0", {"REDIS_URL_FILE": str(path)}) == (
        "redis://auth:x1@redis:6379/0"
    )


@pytest.mark.parametrize(
    ("url", "env", "says"),
    [
        ("redis://gateway:a@redis:6379/0", {"REDIS_PASSWORD": "b"}, "set only one"),
        ("redis://gateway@redis:6379/0", {"REDIS_USERNAME": "auth"}, "REDIS_USERNAME"),
        ("http://redis:6379/0", {}, "unknown scheme: expected redis://"),
        ("redis://redis:6379/0", {"REDIS_PASSWORD_FILE": "/nonexistent/pw"}, "cannot be read"),
    ],
)
def test_bad_redis_config_is_a_clear_error(url: str, env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        resolve_redis_url(url, env)


def test_settings_carry_the_resolved_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter22")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("REDIS_USERNAME", "gateway")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(secret))
    assert BaseServiceSettings().redis_url == "redis://gateway:hunter22@redis:6379/0"


def test_passwords_never_reach_a_log_line() -> None:
    url = "redis://gateway:hunter22@redis:6379/0"
    assert "hunter22" not in redact(f"cannot connect to {url}")
    assert "hunter22" not in redact_redis_url(url)
    assert redact_redis_url("redis://redis:6379/0") == "redis://redis:6379/0"


def test_only_admin_may_write_everywhere_and_listeners_never_publish_market_data() -> None:
    text = redis_acl.acl_template()
    lines = {line.split()[1]: line for line in text.splitlines()}
    assert lines["default"].split()[2:4] == ["reset", "off"]
    for name in redis_acl.SERVICE_ROLES:
        rules = redis_acl.role(name).rules()
        assert "~*" not in rules and "&*" not in rules and "+@all" not in rules, name
        assert rules[:2] == ["reset", "on"] and "resetchannels" in rules, name
        for forbidden in ("keys", "flushall", "flushdb", "config", "acl", "debug", "monitor"):
            assert f"+{forbidden}" not in rules, (name, forbidden)
    for listener in (redis_acl.GATEWAY, redis_acl.CONSUMER):
        assert "+publish" not in redis_acl.role(listener).rules(), listener
    assert "+scan" not in redis_acl.role(redis_acl.GATEWAY).rules()
    with pytest.raises(KeyError):
        redis_acl.role("nobody")


def test_setuser_commands_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commands = redis_acl.setuser_commands({"gateway": "pw"})
    users = {c[0]: c for c in commands}
    assert users["default"][2] == "off" and users["auth"][2] == "off"  # no password: off
    assert users["gateway"][-1] == redis_acl.password_hash("pw")
    (tmp_path / "redis-consumer-password").write_text("pw\n")
    assert redis_acl.main(["render", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert redis_acl.password_hash("pw") in out and " consumer reset on " in out
    assert redis_acl.main(["render", str(tmp_path / "empty")]) == 2
