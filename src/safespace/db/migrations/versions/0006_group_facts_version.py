"""groups.facts_version: moved on by PostgreSQL itself whenever anything a post's checks
read about a group changes (the group, its rooms, memberships, sanctions and sessions), so
the posting line can check a post on facts it read for the author's last post and write it
only if the version still stands (actions/posting.py, docs/performance.md change 36).

On SQLite the column is there (one schema) but nothing moves it: that posting line reads
every batch's facts afresh.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Tables holding a group_id whose rows feed a post's checks, and the columns that matter
# (None: any change). A membership's break and a room's last seq change all the time and
# are not among what the checks read.
WATCHED: dict[str, str | None] = {
    "rooms": "group_id, kind, member_id",
    "memberships": "group_id, user_id, role, host_id, alias, accepted_rules_version",
    "sanctions": None,
    "group_sessions": None,
    "session_runs": None,
}

GROUP_CHANGED = """
CREATE FUNCTION safespace_group_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE groups SET facts_version = facts_version + 1 WHERE id = OLD.group_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE groups SET facts_version = facts_version + 1 WHERE id = NEW.group_id;
    END IF;
    RETURN NULL;
END $$
"""

GROUP_EDITED = """
CREATE FUNCTION safespace_group_edited() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.facts_version = OLD.facts_version THEN
        NEW.facts_version := OLD.facts_version + 1;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("facts_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(GROUP_CHANGED)
    op.execute(GROUP_EDITED)
    op.execute(
        "CREATE TRIGGER groups_facts_version BEFORE UPDATE ON groups "
        "FOR EACH ROW EXECUTE FUNCTION safespace_group_edited()"
    )
    for table, columns in WATCHED.items():
        on_update = "UPDATE" if columns is None else f"UPDATE OF {columns}"
        op.execute(
            f"CREATE TRIGGER {table}_group_facts AFTER INSERT OR DELETE OR {on_update} "
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION safespace_group_facts_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_group_facts ON {table}")
        op.execute("DROP TRIGGER IF EXISTS groups_facts_version ON groups")
        op.execute("DROP FUNCTION IF EXISTS safespace_group_facts_changed()")
        op.execute("DROP FUNCTION IF EXISTS safespace_group_edited()")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("facts_version")
