"""The feed account's Fyers token as auth hands it to the ingestor, encrypted at rest.

Auth writes a :class:`FeedToken` to ``auth:feed:token`` encrypted with the token key
(Fernet, ``LIVEWS_TOKEN_KEY`` or ``LIVEWS_TOKEN_KEY_FILE``; in dev, generated once under
``LIVEWS_STATE_DIR``), then publishes a bare notification on the channel of the same name.
The ingestor decrypts it with the same key. Nothing secret ever travels in clear text
through Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

import msgspec
from cryptography.fernet import Fernet, InvalidToken

from livews_common.settings import ConfigError, Env, read_secret, require_secret

TOKEN_KEY_VAR = "LIVEWS_TOKEN_KEY"


class FeedToken(msgspec.Struct, kw_only=True):
    """The upstream credentials the ingestor connects with."""

    access_token: str  # "APPID:TOKEN", as the Fyers data socket expects
    account: str  # Fyers user id of the feed account
    expires_at: int  # epoch seconds (the token's own ``exp``)
    issued_at: int  # epoch ms when auth obtained it
    #: epoch seconds at which the feed account's refresh token lapses (0: unknown); after it
    #: only a new sign-in helps, so the ingestor says so in ``md:status`` days ahead
    refresh_expires_at: int = 0


class TokenCipher:
    """Encrypts and decrypts secrets stored in Redis (Fyers tokens)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise ConfigError(
                f"{TOKEN_KEY_VAR} must be a urlsafe-base64 32-byte Fernet key "
                '(python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (e.g. MACs), derived from the token key."""
        return hmac.new(self._key, b"livews-derive:" + purpose.encode(), hashlib.sha256).digest()

    def decrypt(self, token: bytes) -> bytes:
        """Plaintext of ``token``; ValueError when it was not made with this key."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ValueError("ciphertext does not decrypt with the configured token key") from None

    def seal(self, feed: FeedToken) -> bytes:
        return self.encrypt(msgspec.json.encode(feed))

    def open(self, sealed: bytes) -> FeedToken:
        try:
            return msgspec.json.decode(self.decrypt(sealed), type=FeedToken)
        except msgspec.MsgspecError as exc:
            raise ValueError(f"feed token record is malformed: {exc}") from None


def load_token_cipher(env: Env, state_dir: Path) -> TokenCipher:
    """The cipher for the configured key; in dev, a key generated once in ``state_dir``."""
    value = read_secret(TOKEN_KEY_VAR)
    require_secret(TOKEN_KEY_VAR, value, env)
    if value:
        return TokenCipher(value.encode())
    path = state_dir / "token.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when auth and the ingestor start together, one creates, the other reads.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
    for _ in range(50):
        key = path.read_bytes().strip()
        if key:
            return TokenCipher(key)
        time.sleep(0.01)  # the other process is between create and write
    raise ConfigError(f"{path} is empty; delete it to have a new dev token key generated")
