"""Group keys, kept apart from the data they protect.

Each group's AES-256-GCM key is wrapped by the master key and stored in a key store that
is NOT the main database: by default `keys.db` beside the SQLite file, or the database in
SAFESPACE_KEYS_DATABASE_URL. A backup of the main database therefore holds only
ciphertext. Deleting a group deletes its key row, so the group's messages in any earlier
backup of the main database can never be read again (crypto-shredding).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    event,
    select,
)
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from safespace.privacy.keys import Keyring, new_group_key, open_sealed, seal, unwrap, wrap

metadata = MetaData()
group_keys = Table(
    "group_keys",
    metadata,
    Column("group_id", Integer, primary_key=True, autoincrement=False),
    Column("kid", String(16), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA secure_delete=ON")  # a destroyed key is zeroed, not left in free pages
    cur.close()


class KeyMissing(LookupError):
    """The group's key was destroyed (or never existed): its data can't be read."""


class KeyStore:
    def __init__(self, url: str, keyring: Keyring) -> None:
        self.url = url
        self.keyring = keyring
        # Checked before each use: keys are cached, so this pool is seldom asked, and a
        # connection left dead by a database restart would otherwise refuse that request.
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
        self._cache: dict[int, AESGCM] = {}

    async def setup(self) -> None:
        async with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            elif conn.dialect.name == "postgresql":
                # Processes starting at once would race to CREATE TABLE (the loser fails on
                # pg_type's unique index): one creates it, the others wait and find it.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7254002)")
            await conn.run_sync(metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()

    def forget(self, group_id: int) -> None:
        self._cache.pop(group_id, None)

    def on_event(self, event: dict[str, Any]) -> None:
        """Subscribed to the broker: a group deleted by any process loses its key here too,
        so no process keeps a destroyed key in memory."""
        if event.get("kind") == "group_deleted":
            self.forget(int(event["group_id"]))

    async def _load(self, group_id: int) -> AESGCM | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(group_keys.c.kid, group_keys.c.wrapped).where(
                        group_keys.c.group_id == group_id
                    )
                )
            ).first()
        if row is None:
            return None
        kid, wrapped = row
        try:
            master = self.keyring.get(kid)
        except LookupError:
            self._reload_keyring()  # rotated by another process since we started
            master = self.keyring.get(kid)
        aead = AESGCM(unwrap(master, wrapped, group_id))
        self._cache[group_id] = aead
        return aead

    def _reload_keyring(self) -> None:
        if self.keyring.path is not None:
            self.keyring = Keyring.load_file(self.keyring.path)

    async def key_for(self, group_id: int, create: bool = False) -> AESGCM:
        aead = self._cache.get(group_id)
        if aead is not None:
            return aead
        aead = await self._load(group_id)
        if aead is not None:
            return aead
        if not create:
            raise KeyMissing(f"no key for group {group_id}")
        raw = new_group_key()
        # `safespace keys rotate` may have replaced the master key since this process
        # started: never wrap a new key under one the key file no longer holds.
        self._reload_keyring()
        master = self.keyring.current
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    group_keys.insert().values(
                        group_id=group_id,
                        kid=master.kid,
                        wrapped=wrap(master, raw, group_id),
                        created_at=datetime.now(UTC).replace(tzinfo=None),
                    )
                )
        except IntegrityError:
            pass  # another process created it first: use theirs
        aead = await self._load(group_id)
        assert aead is not None
        return aead

    async def destroy(self, group_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sql_delete(group_keys).where(group_keys.c.group_id == group_id))
        if self.is_sqlite:
            # The write-ahead log still holds the page with the wrapped key: copy the
            # current pages back and empty the log, so no file keeps the key.
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        self.forget(group_id)

    async def group_ids(self) -> list[int]:
        async with self.engine.connect() as conn:
            return list((await conn.scalars(select(group_keys.c.group_id))).all())

    async def rotate(self, new_ring: Keyring) -> int:
        """Re-wrap every group key under new_ring.current. Returns how many were re-wrapped.

        Passes repeat until one finds nothing left under an older key: a process that read
        the key file just before the new key was added may still create a group key under
        the old one meanwhile."""
        count = 0
        while True:
            done = await self._rewrap(new_ring)
            count += done
            if not done:
                break
        self.keyring = new_ring
        return count

    async def _rewrap(self, new_ring: Keyring) -> int:
        count = 0
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(group_keys))).all()
            for row in rows:
                if row.kid == new_ring.current.kid:
                    continue
                raw = unwrap(new_ring.get(row.kid), row.wrapped, row.group_id)
                await conn.execute(
                    group_keys.update()
                    .where(group_keys.c.group_id == row.group_id)
                    .values(
                        kid=new_ring.current.kid,
                        wrapped=wrap(new_ring.current, raw, row.group_id),
                    )
                )
                count += 1
        return count

    # -------------------------------------------------------------- sealing text

    async def seal_text(self, group_id: int, text: str, context: bytes) -> bytes:
        aead = await self.key_for(group_id, create=True)
        return seal(aead, text.encode(), context)

    async def open_text(self, group_id: int, sealed: bytes, context: bytes) -> str:
        aead = await self.key_for(group_id)
        return open_sealed(aead, sealed, context).decode()


def message_context(room_id: int, seq: int) -> bytes:
    # Bound to its room and place: a ciphertext moved to another row won't decrypt.
    return b"safespace:message:%d:%d" % (room_id, seq)


def note_context(room_id: int, seq: int) -> bytes:
    # A content warning's note: bound to its message, and never mistaken for a body.
    return b"safespace:warning-note:%d:%d" % (room_id, seq)
