"""A counter per account that the database bumps with every task row inserted or deleted (a
trigger, so no write path can miss it and it costs no statement of its own): list pages check it
to know that their cached keyset anchors (store/anchors.py) still sit at the offsets they were
seen at. A later migration that rebuilds ``tasks`` on SQLite (batch mode's copy and rename)
drops these triggers: it must create them again.

Revision ID: v18_list_version
Revises: v17_resources
"""

import sqlalchemy as sa
from alembic import op

revision = "v18_list_version"
down_revision = "v17_resources"
branch_labels = None
depends_on = None

_BUMP = "UPDATE accounts SET list_version = list_version + 1 WHERE id = {row}.account_id"

_SQLITE = [
    f"CREATE TRIGGER tasks_list_version_{op_name.lower()} AFTER {op_name} ON tasks FOR EACH ROW "
    f"BEGIN {_BUMP.format(row=row)}; END"
    for op_name, row in (("INSERT", "NEW"), ("DELETE", "OLD"))
]
_POSTGRES = [
    f"""CREATE FUNCTION tasks_list_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN {_BUMP.format(row="OLD")}; ELSE {_BUMP.format(row="NEW")}; END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER tasks_list_version AFTER INSERT OR DELETE ON tasks "
    "FOR EACH ROW EXECUTE FUNCTION tasks_list_version()",
]


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("list_version", sa.BigInteger, nullable=False, server_default="0"))
    for statement in _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tasks_list_version ON tasks")
        op.execute("DROP FUNCTION tasks_list_version()")
    else:
        op.execute("DROP TRIGGER tasks_list_version_insert")
        op.execute("DROP TRIGGER tasks_list_version_delete")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("list_version")
