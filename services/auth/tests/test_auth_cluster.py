"""livews-auth on a real Redis Cluster (3 primaries) as the ``auth`` ACL user.

Sign-in (the feed token and its state are written, the notice published), refresh-token
rotation (the script touching a session's two keys), reuse detection and logout (the
revocation transaction, its mark and its notice), and the rate-limit script.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auth_harness import wait_for

from livews_common import names, redis_acl, redisconn
from livews_common.jwks import KeySet
from livews_common.models import Revocation, decode
from livews_devtools.fleet_auth import AuthService, refresh, signed_in, start_auth
from livews_devtools.pytest_plugin import Emulator, Spawn
from livews_devtools.redis_cluster import RedisClusterServer


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServer]:
    with RedisClusterServer(replicas=0) as server:
        yield server


@pytest.fixture
def auth_on_cluster(
    spawn: Spawn, tmp_path: Path, emulator: Emulator, cluster: RedisClusterServer
) -> AuthService:
    return start_auth(
        spawn, tmp_path, cluster.url, emulator, REDIS_URL=cluster.role_url(redis_acl.AUTH),
        AUTH_RATE_TOKEN="6", AUTH_RATE_WINDOW="30",
    )  # fmt: skip


def test_sign_in_rotate_reuse_logout_and_rate_limits_on_a_cluster(
    auth_on_cluster: AuthService, cluster: RedisClusterServer
) -> None:
    admin = redisconn.connect_sync(cluster.url)
    # A gateway's view: the revocation notices on the classic channel, the marks by name.
    gateway = redisconn.connect_sync(cluster.role_url(redis_acl.GATEWAY))
    pubsub = gateway.pubsub()
    pubsub.subscribe(names.SESSION_REVOKED)
    url = auth_on_cluster.url
    try:
        with signed_in(url) as (client, _token):
            # dev: the first user is the feed account; its token is published for the ingestor
            assert admin.get(names.FEED_TOKEN) and admin.get(names.FEED_STATE)
            stolen = client.cookies["livews_refresh"]
            fresh = refresh(client)  # the rotation script, in the session's slot
            sid = KeySet.from_jwks(httpx.get(auth_on_cluster.jwks_url).json()).verify(fresh).sid
            replay = httpx.post(f"{url}/auth/token", cookies={"livews_refresh": stolen})
            assert replay.status_code == 401  # reuse: the whole session is revoked
            assert gateway.exists(names.revoked_session_key(sid, cluster=True))

            def revocation() -> Revocation | None:
                message = pubsub.get_message(timeout=0.1)
                if message and message["type"] == "message":
                    return decode(message["data"], Revocation)
                return None

            got = wait_for(revocation, what="a revocation on auth:revoked")
            assert got.sid == sid and got.reason == "refresh_reused"
        with signed_in(url, "XC00002") as (client, _token):
            assert client.post("/auth/logout").status_code == 204
            got = wait_for(revocation, what="the logout's revocation")
            assert got.reason == "logout"
            assert gateway.exists(names.revoked_session_key(got.sid, cluster=True))
        with httpx.Client(base_url=url) as anonymous:
            codes = [anonymous.post("/auth/token").status_code for _ in range(6)]
            # The rate script counts on a cluster too: past 6 calls to /auth/token, 429.
            assert codes[0] == 401 and codes[-1] == 429, codes
        log = auth_on_cluster.log_path.read_text()
        assert "NoPermission" not in log and "NOPERM" not in log
    finally:
        pubsub.close()
        gateway.close()
        admin.close()
