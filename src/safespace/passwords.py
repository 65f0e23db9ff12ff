"""Password and recovery-code hashing and the password policy."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from safespace.errors import invalid

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A real hash of a random password: checking against it when a name is unknown makes
# login take the same time whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{3,32}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("safespace.content").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_username(username: object) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise invalid(
            "Choose a name of 3 to 32 letters, digits, _ or -. It doesn't need to be your "
            "real name.",
            field="username",
        )
    return username


def check_password(password: object, username: str = "") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise invalid(
            f"Use at least {MIN_PASSWORD} characters for your password.", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise invalid(f"Use at most {MAX_PASSWORD} characters for your password.", field="password")
    lowered = password.lower()
    if lowered in common_passwords() or (username and lowered == username.lower()):
        raise invalid(
            "That password is too easy to guess. Try a few unrelated words together.",
            field="password",
        )
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_recovery_code() -> str:
    # 120 random bits (ASVS asks for 112) in six groups a person can copy:
    # "7kq2-9xmv-3hbd-p4ta-wr6e-n8zc" (no 0/o/1/l to misread).
    alphabet = "23456789abcdefghijkmnpqrstuvwxyz"
    raw = "".join(secrets.choice(alphabet) for _ in range(24))
    return "-".join(raw[i : i + 4] for i in range(0, 24, 4))


def hash_code(code: str) -> str:
    normalised = re.sub(r"[^0-9a-z]", "", code.lower())
    return hashlib.sha256(normalised.encode()).hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits
