"""Bearer-JWT authentication and role checks for every FastAPI service.

Tokens are verified either with a shared HS256 secret (development, tests, small
deployments) or with the signing keys an OIDC issuer publishes (JWKS), never both at
once: with a JWKS URL configured, HS256 tokens are refused, so a leaked development
secret cannot mint production tokens. Issuer, audience and expiry are always checked
and ``exp`` is required; ``none`` and any algorithm outside the allow-list are refused.

Claims Safepath reads: ``sub``, ``role`` (one of ``ROLES``), ``provider_id`` (required
for ``provider``), ``region`` and ``office`` (optional scope), and ``categories`` (a list of
``trafficking``, ``mine_eo``, ``refugee_asylum``): what a ``coordinator`` coordinates
(IMCCTiP trafficking, NMAC mine and explosive-ordnance survivors, the migration service
refugees and asylum seekers). A coordinator acts only on referrals of its categories; one
whose token names none acts on no referral (docs/security.md).

Wiring in a service::

    app.state.auth = AuthConfig.from_settings(settings)
    # optional: app.state.auth_jwks_client = <PyJWKClient-like>, e.g. a fake in tests

    @app.get("/cases", dependencies=[Depends(require_roles("caseworker", "supervisor"))])
    async def list_cases(principal: CurrentPrincipal) -> ...: ...

Errors never echo the token: 401 (with ``WWW-Authenticate: Bearer``) for a missing,
malformed, badly signed or expired token, 403 for a role that may not act.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, get_args

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.events.vocabulary import CATEGORIES
from shared.problems import forbidden, unauthorized
from shared.secretfiles import is_published

if TYPE_CHECKING:
    from shared.settings import Settings

# ``coordinator``: a national coordinator (IMCCTiP, the mine action centre, the migration
# service): statistics (docs/statistics.md; optional region scope like an auditor) and
# the referrals of the categories its token names (docs/routing.md "Coordinators").
Role = Literal["caseworker", "supervisor", "provider", "auditor", "admin", "coordinator"]
ROLES: tuple[str, ...] = get_args(Role)

HS_ALGORITHMS = ("HS256",)
# Asymmetric algorithms an OIDC issuer may sign with. HS* is never accepted from JWKS:
# that would let anyone holding the public key forge tokens (algorithm confusion).
JWKS_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")

MIN_SECRET_BYTES = 32
DEFAULT_TTL_SECONDS = 8 * 3600  # one working day


class AuthError(Exception):
    """Authentication failed. The message is safe to show: it never contains the token."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    sub: str
    role: str
    provider_id: str | None = None
    region: str | None = None
    office: str | None = None
    # What a coordinator coordinates (``CATEGORIES``); empty for every other role.
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A principal stored as JSON (the web app's session) comes back with a list.
        object.__setattr__(self, "categories", tuple(self.categories))
        if any(c not in CATEGORIES for c in self.categories):
            raise AuthError("token names an unknown category")
        if not self.sub:
            raise AuthError("token has no subject")
        if self.role not in ROLES:
            raise AuthError("token has an unknown role")
        if self.role == "provider" and not self.provider_id:
            raise AuthError("a provider token must name its provider_id")


@dataclass(frozen=True)
class AuthConfig:
    """How tokens are verified. Exactly one of ``hs256_secret`` / ``jwks_url`` is used."""

    issuer: str
    audience: str
    hs256_secret: str | None = None
    jwks_url: str | None = None
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        if not self.hs256_secret and not self.jwks_url:
            raise ValueError("AuthConfig needs hs256_secret or jwks_url")

    @property
    def uses_jwks(self) -> bool:
        return bool(self.jwks_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        """From ``SAFEPATH_JWT_*``/``SAFEPATH_JWKS_URL``; refuses weak secrets outside dev."""
        if settings.jwks_url:
            return cls(settings.jwt_issuer, settings.jwt_audience, jwks_url=settings.jwks_url)
        check_secret_strength(settings.jwt_secret, settings.environment)
        return cls(settings.jwt_issuer, settings.jwt_audience, hs256_secret=settings.jwt_secret)


class SigningKeySource(Protocol):
    """What ``verify_token`` needs from ``jwt.PyJWKClient`` (so tests can pass a fake)."""

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK: ...


def check_secret_strength(secret: str | None, environment: str) -> None:
    """Refuse a published development secret, or one shorter than 32 bytes, outside dev
    and test (where the secret is generated per installation, see shared/secretfiles.py).
    Messages never contain the secret.
    """
    if environment in ("development", "test") or secret is None:
        return
    if is_published(secret):
        raise ValueError(f"a published development JWT secret may not be used in {environment}")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")


@functools.lru_cache(maxsize=8)
def jwks_client_for(url: str) -> jwt.PyJWKClient:
    """One client per URL: it caches the issuer's key set between requests."""
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


# HS256 tokens already verified in this process, by (config, SHA-256 of the token): a
# client sends the same token on every request, and decoding it again (pyjwt checks the
# key's form and every character of the token in Python, then the HMAC) was 3-4% of the
# case service's time under intake (docs/performance.md). Everything ``jwt.decode``
# checks of a token is a function of the token and the config alone (signature,
# algorithm, issuer, audience, required claims, the claims' types), except the time
# claims, which are checked again on every use exactly as ``jwt.decode`` checks them.
# Only successes are kept, never the token itself; JWKS tokens are not kept (the
# issuer's keys may change under them).
_VERIFIED_MAX = 4096
_verified: dict[tuple[AuthConfig, bytes], tuple[Principal, int | None, int | None, int]] = {}


def _still_valid(times: tuple[int | None, int | None, int], leeway: int) -> None:
    """The time checks of ``jwt.decode`` (iat, nbf, exp, with the same leeway)."""
    iat, nbf, exp = times
    now = datetime.now(tz=UTC).timestamp()
    if (iat is not None and iat > now + leeway) or (nbf is not None and nbf > now + leeway):
        raise AuthError("token is invalid")  # as for jwt.ImmatureSignatureError below
    if exp <= now - leeway:
        raise AuthError("token has expired")


def verify_token(
    token: str, config: AuthConfig, jwks_client: SigningKeySource | None = None
) -> Principal:
    """The principal a valid token names; ``AuthError`` for anything else.

    With ``config.jwks_url`` the key comes from ``jwks_client`` (default: a cached
    ``PyJWKClient`` for the URL), which may fetch over the network. An HS256 token this
    process verified before is not decoded again; its time claims are checked again.
    """
    cache_key = None
    if not config.uses_jwks:
        cache_key = (config, hashlib.sha256(token.encode()).digest())
        known = _verified.get(cache_key)
        if known is not None:
            _still_valid(known[1:], config.leeway_seconds)
            return known[0]
    try:
        if config.uses_jwks:
            client = jwks_client or jwks_client_for(str(config.jwks_url))
            key: Any = client.get_signing_key_from_jwt(token).key
            algorithms: list[str] = list(JWKS_ALGORITHMS)
        else:
            key = config.hs256_secret
            algorithms = list(HS_ALGORITHMS)
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway_seconds,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token has expired") from None
    except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
        raise AuthError("token was not issued for this service") from None
    except jwt.MissingRequiredClaimError as e:
        raise AuthError(f"token lacks the {e.claim!r} claim") from None
    except jwt.PyJWKClientConnectionError:
        raise AuthError("the issuer's signing keys could not be fetched") from None
    except jwt.PyJWKClientError:
        raise AuthError("token signing key is unknown") from None
    except jwt.PyJWTError:
        # Bad signature, unknown algorithm, malformed token: one answer for all.
        raise AuthError("token is invalid") from None
    principal = _principal(claims)
    if cache_key is not None:
        if len(_verified) >= _VERIFIED_MAX:
            del _verified[next(iter(_verified))]  # the oldest
        _verified[cache_key] = (principal, *_times(claims))
    return principal


def _times(claims: dict[str, Any]) -> tuple[int | None, int | None, int]:
    """iat, nbf and exp as ``jwt.decode`` compares them (it converted each with ``int``)."""
    iat, nbf = claims.get("iat"), claims.get("nbf")
    return (
        None if iat is None else int(iat),
        None if nbf is None else int(nbf),
        int(claims["exp"]),
    )


def _principal(claims: dict[str, Any]) -> Principal:
    def text(name: str) -> str | None:
        value = claims.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise AuthError(f"token claim {name!r} must be a string")
        return value

    categories = claims.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise AuthError("token claim 'categories' must be a list of strings")
    role = text("role") or ""
    return Principal(
        sub=text("sub") or "",
        role=role,
        provider_id=text("provider_id"),
        region=text("region"),
        office=text("office"),
        # Only a coordinator is bound by categories; on any other role the claim means
        # nothing and is dropped, so it can never widen anything.
        categories=tuple(categories) if role == "coordinator" else (),
    )


def mint_token(
    config: AuthConfig,
    sub: str,
    role: str,
    *,
    provider_id: str | None = None,
    region: str | None = None,
    office: str | None = None,
    categories: Sequence[str] = (),
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: datetime | None = None,
) -> str:
    """A signed HS256 token for local development and tests (not for JWKS deployments)."""
    if not config.hs256_secret:
        raise ValueError("minting needs an HS256 secret; JWKS tokens come from the issuer")
    Principal(sub, role, provider_id, region, office, tuple(categories))  # as verify would
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": sub,
        "role": role,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_seconds),
    }
    for name, value in (("provider_id", provider_id), ("region", region), ("office", office)):
        if value is not None:
            claims[name] = value
    if categories:
        claims["categories"] = list(categories)
    return jwt.encode(claims, config.hs256_secret, algorithm="HS256")


# -- FastAPI ----------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="A JWT from the OIDC issuer, or from `safepath token` in development.",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from ``Authorization: Bearer``; 401 problem when absent or invalid.

    Reads the ``AuthConfig`` from ``request.app.state.auth`` and, if set, a key source
    from ``request.app.state.auth_jwks_client`` (tests put a fake there).
    """
    if credentials is None:
        raise unauthorized()
    # The request guard (shared/guard.py) verified this token before the body was read.
    verified = getattr(request.state, "verified_bearer", None)
    if verified is not None and verified[0] == credentials.credentials:
        principal: Principal = verified[1]
    else:
        try:
            principal = await authenticate(credentials.credentials, request.app.state)
        except AuthError as e:
            raise unauthorized(str(e), invalid_token=True) from None
    request.state.principal = principal
    return principal


async def authenticate(token: str, app_state: Any) -> Principal:
    """The principal ``token`` names under ``app_state.auth`` (and, if set,
    ``app_state.auth_jwks_client``); ``AuthError`` for anything else."""
    config: AuthConfig = app_state.auth
    client: SigningKeySource | None = getattr(app_state, "auth_jwks_client", None)
    if config.uses_jwks:
        # Fetching the key set is blocking network I/O; keep it off the event loop.
        return await run_in_threadpool(verify_token, token, config, client)
    return verify_token(token, config)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only ``roles`` through (403 problem for the others)."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_roles needs known roles, got {sorted(roles)}")
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise forbidden()
        return principal

    return dependency
