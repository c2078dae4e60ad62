"""API keys: stored only as SHA-256 hashes, each with roles among classify, feedback, admin.

Keys file (JSON; TOML with the same shape also works)::

    {"keys": [{"name": "alice", "sha256": "<hex>", "roles": ["classify", "feedback"],
               "rate_limit_per_s": 20}]}

``CONTRABAND_API_KEYS`` may hold the same JSON (the object or just the list); its keys are
added to the file's. A request presents its key as ``X-API-Key: KEY`` or
``Authorization: Bearer KEY``. The presented key is hashed and compared with *every* stored
hash using :func:`hmac.compare_digest`, so the time taken reveals neither which key nor how
much of one matched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.bundle import write_json_atomic

ROLES = ("classify", "feedback", "admin")
KEY_PREFIX = "cbk_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    roles: frozenset[str]
    rate_limit_per_s: float | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling; ``authenticated`` is False only when auth is switched off."""

    name: str
    roles: frozenset[str]
    authenticated: bool = True
    rate_limit_per_s: float | None = None


ANONYMOUS = Principal("anonymous (auth off)", frozenset(ROLES), authenticated=False)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _parse_entry(entry: Any, where: str) -> ApiKey:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each key must be an object with name, sha256 and roles")
    name, digest, roles = entry.get("name"), entry.get("sha256"), entry.get("roles")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a key needs a non-empty 'name'")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError(f"{where}: key {name!r} needs 'sha256', a 64-digit hex SHA-256 hash")
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        raise ValueError(f"{where}: key {name!r} has a 'sha256' that is not hex") from None
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise ValueError(f"{where}: key {name!r} needs 'roles', a list among {list(ROLES)}")
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"{where}: key {name!r} has unknown roles {sorted(unknown)}; "
                         f"known: {list(ROLES)}")
    limit = entry.get("rate_limit_per_s")
    if limit is not None and (not isinstance(limit, int | float) or limit < 0):
        raise ValueError(f"{where}: key {name!r} has a negative or non-numeric rate limit")
    return ApiKey(name, raw, frozenset(roles), None if limit is None else float(limit))


def _entries(document: Any, where: str) -> list[Any]:
    if isinstance(document, Mapping):
        document = document.get("keys", [])
    if not isinstance(document, list):
        raise ValueError(f"{where}: expected {{\"keys\": [...]}} or a list of keys")
    return document


def read_keys_file(path: Path) -> list[ApiKey]:
    """Keys from a JSON or TOML file; a missing file holds no keys."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    return [_parse_entry(e, str(path)) for e in _entries(document, str(path))]


def parse_keys_env(value: str | None) -> list[ApiKey]:
    if not value or not value.strip():
        return []
    try:
        document = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"CONTRABAND_API_KEYS is not valid JSON: {exc}") from exc
    return [_parse_entry(e, "CONTRABAND_API_KEYS") for e in _entries(document, "$env")]


class KeyStore:
    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)
        names = [k.name for k in self._keys]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"API key names must be unique; repeated: {sorted(duplicates)}")

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, presented: str) -> ApiKey | None:
        """The key whose hash matches, else None; constant work whatever the input."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        found = None
        for key in self._keys:  # no early exit: every hash is compared
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found


def create_key(path: Path, name: str, roles: Iterable[str],
               rate_limit_per_s: float | None = None) -> str:
    """Make a new random key, store only its hash in the JSON file ``path``, return the key."""
    roles = sorted(set(roles))
    path = Path(path)
    if path.suffix == ".toml":
        raise ValueError(f"{path}: new keys are written to JSON files only")
    existing = read_keys_file(path)
    if any(k.name == name for k in existing):
        raise ValueError(f"{path} already has a key named {name!r}; choose another --name")
    entry: dict[str, Any] = {"name": name, "roles": roles}
    _parse_entry({**entry, "sha256": "0" * 64}, "new key")  # validate roles before writing
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entry["sha256"] = hash_key(key)
    if rate_limit_per_s is not None:
        entry["rate_limit_per_s"] = rate_limit_per_s
    document = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"keys": []}
    if isinstance(document, list):
        document = {"keys": document}
    document["keys"].append(entry)
    write_json_atomic(path, document)
    path.chmod(0o600)
    return key
