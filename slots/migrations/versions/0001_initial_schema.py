"""Initial schema: batches, slots, holds, bookings, audit log, call records.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=True),
    sa.Column('hold_id', sa.Integer(), nullable=True),
    sa.Column('booking_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=128), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    op.create_table('call_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('last_step', sa.String(length=64), nullable=True),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('confidences', sa.JSON(), nullable=False),
    sa.Column('transferred', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_records')),
    sa.UniqueConstraint('call_id', name=op.f('uq_call_records_call_id'))
    )
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_records_started_at'), ['started_at'], unique=False)

    op.create_table('slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=128), nullable=False),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('end_at', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), server_default='0', nullable=False),
    sa.Column('held', sa.Integer(), server_default='0', nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=True),
    sa.Column('closed', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('batch_id', sa.String(length=32), nullable=True),
    sa.CheckConstraint('booked + held <= capacity', name=op.f('ck_slots_not_overbooked')),
    sa.CheckConstraint('booked >= 0 AND held >= 0', name=op.f('ck_slots_counters')),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_slots_capacity')),
    sa.CheckConstraint('end_at > start_at', name=op.f('ck_slots_span')),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_slots_batch_id_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slots')),
    sa.UniqueConstraint('service', 'site', 'start_at', name=op.f('uq_slots_service_site_start_at'))
    )
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slots_service_start_at'), ['service', 'start_at'], unique=False)

    op.create_table('holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.CheckConstraint("state IN ('live', 'released', 'consumed', 'expired')", name=op.f('ck_holds_state')),
    sa.ForeignKeyConstraint(['slot_id'], ['slots.id'], name=op.f('fk_holds_slot_id_slots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_slot_id_state'), ['slot_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_holds_state_expires_at'), ['state', 'expires_at'], unique=False)

    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('person_check', sa.String(length=64), nullable=False),
    sa.Column('person_masked', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('hold_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('confirmed', 'cancelled')", name=op.f('ck_bookings_status')),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_bookings_hold_id_holds')),
    sa.ForeignKeyConstraint(['slot_id'], ['slots.id'], name=op.f('fk_bookings_slot_id_slots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bookings')),
    sa.UniqueConstraint('code', name=op.f('uq_bookings_code'))
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bookings_slot_id'), ['slot_id'], unique=False)
        batch_op.create_index('uq_bookings_active_person', ['service', 'person_key'], unique=True, sqlite_where=sa.text("status = 'confirmed'"), postgresql_where=sa.text("status = 'confirmed'"))



def downgrade() -> None:
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index('uq_bookings_active_person', sqlite_where=sa.text("status = 'confirmed'"), postgresql_where=sa.text("status = 'confirmed'"))
        batch_op.drop_index(batch_op.f('ix_bookings_slot_id'))

    op.drop_table('bookings')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_state_expires_at'))
        batch_op.drop_index(batch_op.f('ix_holds_slot_id_state'))

    op.drop_table('holds')
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slots_service_start_at'))

    op.drop_table('slots')
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_records_started_at'))

    op.drop_table('call_records')
    op.drop_table('batches')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
