"""Alembic environment: uses the connection handed over by ``assistant.storage.Database``."""

from __future__ import annotations

from alembic import context

from assistant.complaints import store as _complaint_tables  # noqa: F401 - registers the tables
from assistant.storage import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # command-line use: alembic -x url=...
    import sqlalchemy as sa

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(str(url))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
