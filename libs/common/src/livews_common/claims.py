"""The access-token claims of CONTRACT §2, shared by the issuer (auth) and verifiers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

ISSUER = "livews-auth"
AUDIENCE = "livews"
#: Scope a gateway requires to stream market data.
SCOPE_MARKET_DATA = "md:read"
#: Algorithms a token may be signed with; anything else (none, HS*) is refused.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
#: Seconds of clock skew verifiers forgive on ``exp``, ``iat``, ``nbf`` (``LIVEWS_JWT_LEEWAY``).
DEFAULT_LEEWAY = 30


class AccessClaims(BaseModel):
    """Claims of a LiveWebsocket access JWT."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: StrictStr
    aud: StrictStr
    sub: StrictStr
    sid: StrictStr
    scope: StrictStr
    iat: StrictInt
    exp: StrictInt
    jti: StrictStr
    name: StrictStr | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
