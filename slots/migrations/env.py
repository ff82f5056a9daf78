"""Alembic environment: runs on the connection `slots.db.upgrade` hands over, or on the URL."""

from __future__ import annotations

from alembic import context

from slots.models import Base


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    from slots.db import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url"), pool="null")
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
