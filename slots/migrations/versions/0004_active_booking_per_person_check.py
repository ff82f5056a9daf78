"""One active booking per service and *verified* person (ticket number and birth date), not per
ticket number alone: a ticket number without its birth date no longer runs into someone's booking
(so no answer reveals that a ticket has one, and nobody can block a resident's ticket by booking
it with a wrong birth date).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

CONFIRMED = "status = 'confirmed'"


def upgrade() -> None:
    op.drop_index('uq_bookings_active_person', table_name='bookings',
                  sqlite_where=sa.text(CONFIRMED), postgresql_where=sa.text(CONFIRMED))
    op.create_index('uq_bookings_active_person_check', 'bookings', ['service', 'person_check'], unique=True,
                    sqlite_where=sa.text(CONFIRMED), postgresql_where=sa.text(CONFIRMED))


def downgrade() -> None:
    # Fails if a ticket number has active bookings under two birth dates: cancel one first.
    op.drop_index('uq_bookings_active_person_check', table_name='bookings',
                  sqlite_where=sa.text(CONFIRMED), postgresql_where=sa.text(CONFIRMED))
    op.create_index('uq_bookings_active_person', 'bookings', ['service', 'person_key'], unique=True,
                    sqlite_where=sa.text(CONFIRMED), postgresql_where=sa.text(CONFIRMED))
