"""Alembic environment: run with the connection qservice.db.Database.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from qservice.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic -x url=... upgrade head` from a shell
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get(
        "connection_url"
    )
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
