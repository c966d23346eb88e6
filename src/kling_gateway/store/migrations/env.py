"""Alembic environment: runs on the connection the gateway hands over (see store.migrate)."""

from alembic import context

from kling_gateway.store.tables import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
