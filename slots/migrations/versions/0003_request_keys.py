"""Request keys on holds and bookings (a retried attempt whose COMMIT succeeded finds its first
result); call outcomes of older releases rewritten to the shared CallOutcome values.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

#: strings older releases wrote or counted -> slots.outcomes.CallOutcome values
LEGACY_OUTCOMES = {'error': 'failed', 'hangup': 'abandoned', 'timeout': 'abandoned'}


def upgrade() -> None:
    for table in ('holds', 'bookings'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('request_key', sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(batch_op.f(f'uq_{table}_request_key'), ['request_key'])
    calls = sa.table('call_records', sa.column('outcome', sa.String))
    for old, new in LEGACY_OUTCOMES.items():
        op.execute(calls.update().where(calls.c.outcome == old).values(outcome=new))


def downgrade() -> None:
    for table in ('bookings', 'holds'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'uq_{table}_request_key'), type_='unique')
            batch_op.drop_column('request_key')
