"""API keys: `voc_<key id>_<secret>`. Only a SHA-256 of the secret is stored, so a leaked
database does not leak working keys; the key id finds the row without scanning hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from voc.errors import ConfigError
from voc.store import ApiKey, Store

SCOPES = ("read", "submit", "admin")
"""`read` serves GET routes, `submit` sends feedback and uploads, `admin` starts runs and
implies the other two."""

PREFIX = "voc"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, None otherwise."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def verify(key: ApiKey, secret: str) -> bool:
    return key.revoked_at is None and hmac.compare_digest(key.secret_hash, hash_secret(secret))


def has_scope(key: ApiKey, scope: str) -> bool:
    return scope in key.scopes or "admin" in key.scopes


def create_key(
    store: Store, workspace_id: str, scopes: Iterable[str], name: str = ""
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token, which is shown once and never again."""
    wanted = list(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise ConfigError(
            f"scopes must be one or more of {', '.join(SCOPES)}; got {', '.join(wanted) or 'none'}."
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id,
        workspace_id=workspace_id,
        name=name,
        secret_hash=hash_secret(secret),
        scopes=wanted,
        created_at=datetime.now(UTC),
    )
    store.add_api_key(key)
    return key, f"{PREFIX}_{key_id}_{secret}"
