"""Encryption at rest: AES-256-GCM under a key per group, wrapped by a master key.

The master key never enters the database. It comes from SAFESPACE_MASTER_KEY (base64url of
32 bytes, for several machines) or from a key file in the data directory, created with
mode 0600 on first run. The key file is a small keyring so that `safespace keys rotate`
can re-wrap every group key under a new master key and then forget the old one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12
VERSION = b"\x01"  # first byte of every sealed value: lets the format change later


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = secrets.token_bytes(NONCE)
    return VERSION + nonce + aead.encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes | AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if sealed[:1] != VERSION:
        raise ValueError("unknown sealed format")
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    return aead.decrypt(sealed[1 : 1 + NONCE], sealed[1 + NONCE :], aad)


@dataclass(frozen=True)
class MasterKey:
    kid: str  # short public id stored beside each wrapped key
    key: bytes


class Keyring:
    """The master keys this process can use: one current, possibly older ones mid-rotation."""

    def __init__(
        self, current: MasterKey, older: list[MasterKey] | None = None, path: Path | None = None
    ) -> None:
        self.current = current
        self._by_kid = {k.kid: k for k in [current, *(older or [])]}
        self.path = path  # None when the key came from the environment

    def get(self, kid: str) -> MasterKey:
        try:
            return self._by_kid[kid]
        except KeyError:
            raise LookupError(f"master key {kid} is not available") from None

    @property
    def kids(self) -> list[str]:
        return list(self._by_kid)

    @staticmethod
    def new_master() -> MasterKey:
        return MasterKey(kid=secrets.token_hex(4), key=AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_env_value(cls, value: str) -> Keyring:
        """SAFESPACE_MASTER_KEY: "kid:key" pairs separated by commas, current first; a bare
        key is allowed and gets a kid derived from it."""
        keys = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            kid, _, key_text = part.rpartition(":")
            key = b64d(key_text)
            if len(key) != 32:
                raise ValueError("SAFESPACE_MASTER_KEY must hold 32-byte keys in base64url")
            keys.append(MasterKey(kid=kid or _kid_for(key), key=key))
        if not keys:
            raise ValueError("SAFESPACE_MASTER_KEY is empty")
        return cls(keys[0], keys[1:])

    @classmethod
    def load_file(cls, path: Path) -> Keyring:
        data = json.loads(path.read_text())
        keys = [MasterKey(kid=k["kid"], key=b64d(k["key"])) for k in data["keys"]]
        return cls(keys[0], keys[1:], path=path)

    @classmethod
    def load_or_create(cls, data_dir: Path, env_value: str = "") -> Keyring:
        if env_value:
            return cls.from_env_value(env_value)
        path = data_dir / "master.key"
        if path.exists():
            return cls.load_file(path)
        data_dir.mkdir(parents=True, exist_ok=True)
        ring = cls(cls.new_master(), path=path)
        ring.save(exclusive=True)
        return cls.load_file(path)  # another process may have won the race: use its key

    def save(self, exclusive: bool = False) -> None:
        """Write the keyring atomically with mode 0600."""
        if self.path is None:
            raise RuntimeError("this keyring comes from the environment; change the variable")
        keys = [self.current, *(k for k in self._by_kid.values() if k is not self.current)]
        text = json.dumps({"keys": [{"kid": k.kid, "key": b64e(k.key)} for k in keys]})
        if exclusive:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "w") as f:
                f.write(text)
            return
        tmp = self.path.with_name(self.path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def with_new_current(self) -> Keyring:
        new = self.new_master()
        return Keyring(new, list(self._by_kid.values()), path=self.path)

    def only_current(self) -> Keyring:
        return Keyring(self.current, [], path=self.path)


def _kid_for(key: bytes) -> str:
    import hashlib

    return hashlib.sha256(b"safespace-kid" + key).hexdigest()[:8]


def new_group_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(master: MasterKey, group_key: bytes, group_id: int) -> bytes:
    return seal(master.key, group_key, b"safespace:group-key:%d" % group_id)


def unwrap(master: MasterKey, wrapped: bytes, group_id: int) -> bytes:
    return open_sealed(master.key, wrapped, b"safespace:group-key:%d" % group_id)
