"""Service clients of the OAuth2 client-credentials grant (CONTRACT §2 v1.1).

The operator lists the clients in a JSON file named by ``AUTH_CLIENTS_FILE``::

    {"clients": {
        "reporting": {"secrets": ["scrypt$16384$8$1$<salt>$<hash>"], "scopes": ["md:read"]}
    }}

Only scrypt hashes of the secrets are stored (``python -m livews_auth.clients new <id>`` makes
a secret and its entry; ``hash`` hashes a secret read from stdin). A client may list several
hashes: any of them is accepted, so a secret is rotated by adding the new hash, moving the
service to the new secret, then removing the old hash. The file is read at start (a bad
file stops the service, naming the problem) and again whenever it changes on disk, so adding,
rotating or removing a client needs no restart; a changed file that does not parse is
logged and the previous clients stay in force.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livews_common.claims import SCOPE_MARKET_DATA
from livews_common.settings import ConfigError

log = logging.getLogger(__name__)

#: Scopes a service client may be allowed (what the platform's verifiers understand).
KNOWN_SCOPES = frozenset({SCOPE_MARKET_DATA})
#: What a client id looks like: it becomes ``sub`` = ``svc:<client_id>`` in its tokens.
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: scrypt parameters of new hashes (~16 MiB, tens of ms): verifying is deliberately slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_HASH = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$")
_MAX_MEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` of ``secret`` (what the clients file stores)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32, maxmem=_MAX_MEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, encoded: str) -> bool:
    """Whether ``secret`` matches ``encoded`` (compared in constant time)."""
    match = _HASH.match(encoded)
    if match is None:
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=_MAX_MEM
    )
    return hmac.compare_digest(digest, expected)


#: Checked when the client is unknown, so that an unknown id costs the same as a wrong secret.
_DECOY = hash_secret(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class ServiceClient:
    client_id: str
    secret_hashes: tuple[str, ...]
    scopes: frozenset[str]

    @property
    def sub(self) -> str:
        return f"svc:{self.client_id}"


def parse_clients(text: str, where: str) -> dict[str, ServiceClient]:
    """The clients of a clients file; :class:`ConfigError` naming what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"AUTH_CLIENTS_FILE {where}: not JSON ({exc})") from None
    entries = doc.get("clients") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f'AUTH_CLIENTS_FILE {where}: expected {{"clients": {{<id>: {{...}}}}}}')
    clients: dict[str, ServiceClient] = {}
    for client_id, entry in entries.items():
        what = f"AUTH_CLIENTS_FILE {where}: client {client_id!r}"
        if not CLIENT_ID.match(client_id):
            raise ConfigError(f"{what}: an id is 1-64 of A-Z a-z 0-9 . _ - (starting alnum)")
        if not isinstance(entry, dict) or set(entry) - {"secrets", "scopes", "comment"}:
            raise ConfigError(f'{what}: expected {{"secrets": [...], "scopes": [...]}}')
        hashes = entry.get("secrets")
        if (
            not isinstance(hashes, list)
            or not hashes
            or not all(isinstance(h, str) and _HASH.match(h) for h in hashes)
        ):
            raise ConfigError(
                f"{what}: secrets must be a non-empty list of scrypt hashes "
                "(python -m livews_auth.clients hash); plain secrets are not accepted"
            )
        scopes = entry.get("scopes", [SCOPE_MARKET_DATA])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ConfigError(f"{what}: scopes must be a list of strings")
        unknown = set(scopes) - KNOWN_SCOPES
        if unknown:
            raise ConfigError(
                f"{what}: unknown scopes {sorted(unknown)} (known: {sorted(KNOWN_SCOPES)})"
            )
        clients[client_id] = ServiceClient(client_id, tuple(hashes), frozenset(scopes))
    return clients


class ClientRegistry:
    """The configured clients, re-read when the file changes (see the module doc)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._clients: dict[str, ServiceClient] = {}
        if path is not None:
            self._stamp = self._stat(path)
            self._clients = parse_clients(self._read(path), str(path))

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        try:
            st = path.stat()
        except OSError as exc:
            raise ConfigError(f"AUTH_CLIENTS_FILE {path}: cannot read ({exc.strerror})") from None
        return st.st_mtime_ns, st.st_size

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"AUTH_CLIENTS_FILE {path}: cannot read ({exc})") from None

    @property
    def enabled(self) -> bool:
        return self._path is not None

    def __len__(self) -> int:
        return len(self._clients)

    def refresh(self) -> None:
        """Re-read the file if it changed; keep the previous clients if it is now bad."""
        path = self._path
        if path is None:
            return
        try:
            stamp = self._stat(path)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            self._clients = parse_clients(self._read(path), str(path))
            log.info("service clients reloaded", extra={"clients": len(self._clients)})
        except ConfigError as exc:
            log.error("service clients file refused; keeping the previous clients",
                      extra={"error": str(exc)})  # fmt: skip

    def authenticate(self, client_id: str, secret: str) -> ServiceClient | None:
        """The client when ``secret`` is one of its secrets; None otherwise (slow either way)."""
        client = self._clients.get(client_id)
        if client is None:
            verify_secret(secret, _DECOY)
            return None
        ok = False
        for encoded in client.secret_hashes:  # every hash is checked: no early exit
            ok = verify_secret(secret, encoded) | ok
        return client if ok else None


def main(argv: list[str] | None = None) -> int:
    """``python -m livews_auth.clients new|hash|check`` — operator helpers."""
    parser = argparse.ArgumentParser(prog="python -m livews_auth.clients")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="make a secret for a client; print it and its file entry")
    new.add_argument("client_id")
    new.add_argument("--scope", action="append", default=None, help="allowed scope (md:read)")
    sub.add_parser("hash", help="hash a secret read from stdin (for a rotation)")
    check = sub.add_parser("check", help="validate a clients file")
    check.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "new":
            if not CLIENT_ID.match(args.client_id):
                raise ConfigError(f"{args.client_id!r}: 1-64 of A-Z a-z 0-9 . _ - (alnum first)")
            secret = secrets.token_urlsafe(32)
            entry: dict[str, Any] = {
                "secrets": [hash_secret(secret)],
                "scopes": args.scope or [SCOPE_MARKET_DATA],
            }
            parse_clients(json.dumps({"clients": {args.client_id: entry}}), "(new entry)")
            sys.stderr.write(f"client_id:     {args.client_id}" + "\n")
            sys.stderr.write(f"client_secret: {secret}" + "\n")
            sys.stderr.write("(give the secret to the service; it is not stored anywhere)" + "\n")
            sys.stdout.write(json.dumps({args.client_id: entry}, indent=2) + "\n")
        elif args.command == "hash":
            secret = sys.stdin.readline().strip()
            if not secret:
                raise ConfigError("no secret on stdin")
            sys.stdout.write(hash_secret(secret) + "\n")
        else:
            found = parse_clients(ClientRegistry._read(args.path), str(args.path))
            sys.stdout.write(
                f"{args.path}: {len(found)} clients: {', '.join(sorted(found)) or '(none)'}" + "\n"
            )
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}" + "\n")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
