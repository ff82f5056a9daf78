"""Per-channel allocation: a share of each slot's places kept for phone callers until a set time
before the slot (`slots.phone_reserved`, `phone_reserved_until`), the places the phone holds or
booked (`slots.phone_taken`), and which bookings took a phone place (`bookings.phone_place`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

PHONE_TAKEN = """
UPDATE slots SET phone_taken =
  (SELECT COUNT(*) FROM holds WHERE holds.slot_id = slots.id AND holds.state = 'live' AND holds.channel = 'phone')
  + (SELECT COUNT(*) FROM bookings WHERE bookings.slot_id = slots.id AND bookings.status = 'confirmed'
     AND bookings.phone_place)
"""


def upgrade() -> None:
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_place', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_reserved', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('phone_reserved_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('phone_taken', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE bookings SET phone_place = (channel = 'phone')")
    op.execute(PHONE_TAKEN)
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_slots_phone_reserved'), 'phone_reserved >= 0 AND phone_reserved <= capacity')
        batch_op.create_check_constraint(
            op.f('ck_slots_phone_taken'), 'phone_taken >= 0 AND phone_taken <= booked + held')


def downgrade() -> None:
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_slots_phone_taken'), type_='check')
        batch_op.drop_constraint(op.f('ck_slots_phone_reserved'), type_='check')
        batch_op.drop_column('phone_taken')
        batch_op.drop_column('phone_reserved_until')
        batch_op.drop_column('phone_reserved')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('phone_place')
