"""Prebuilt Core statements for the store's hot paths (built once, bound per call).

Building SQLAlchemy statements and going through the ORM for every call cost more than the
database work itself; these constants keep the store close to hand-written SQL
(see bench/store.py) while staying portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, Integer, String, and_, bindparam, func, insert, literal, or_, select, update

from slots.models import AuditEntry, Booking, Hold, Slot

S, H, B, A = Slot.__table__, Hold.__table__, Booking.__table__, AuditEntry.__table__

NOW = bindparam("now", type_=DateTime)
SLOT = bindparam("p_slot", type_=Integer)
HOLD = bindparam("p_hold", type_=Integer)

FREE = S.c.booked + S.c.held < S.c.capacity
OPEN = and_(S.c.closed.is_(False), S.c.start_at > NOW, or_(S.c.opens_at.is_(None), S.c.opens_at <= NOW))

# Another channel than the phone leaves the phone's unused reserve free until it is released:
# booked + held + max(0, phone_reserved - phone_taken) < capacity, written without max() as FREE and this.
FAIR = or_(
    S.c.phone_reserved_until.is_(None),
    S.c.phone_reserved_until <= NOW,
    S.c.booked + S.c.held + S.c.phone_reserved - S.c.phone_taken < S.c.capacity,
)

SELECT_SLOT = select(S).where(S.c.id == SLOT)
#: TAKE[column, phone]: one more place held or booked, by the phone (counted) or another channel (fair)
TAKE = {
    (column, phone): (
        update(S).where(S.c.id == SLOT, FREE, OPEN).values({column: S.c[column] + 1, "phone_taken": S.c.phone_taken + 1})
        if phone else update(S).where(S.c.id == SLOT, FREE, OPEN, FAIR).values({column: S.c[column] + 1})
    )
    for column in ("held", "booked") for phone in (True, False)
}
_N, _PHONE_N = bindparam("p_n", type_=Integer), bindparam("p_phone", type_=Integer)
GIVE_BACK = {
    column: update(S).where(S.c.id == SLOT, S.c[column] >= _N, S.c.phone_taken >= _PHONE_N)
    .values({column: S.c[column] - _N, "phone_taken": S.c.phone_taken - _PHONE_N})
    for column in ("held", "booked")
}
HELD_TO_BOOKED = update(S).where(S.c.id == SLOT, S.c.held >= 1).values(held=S.c.held - 1, booked=S.c.booked + 1)

SELECT_HOLD = select(H).where(H.c.id == HOLD)
INSERT_HOLD = insert(H).returning(H.c.id)
END_HOLD = (
    update(H).where(H.c.id == HOLD, H.c.state == "live")
    .values(state=bindparam("p_state", type_=String), ended_at=NOW).returning(H.c.slot_id, H.c.channel)
)
EXPIRED_TO_CONSUMED = update(H).where(H.c.id == HOLD, H.c.state == "expired").values(state="consumed")
_EXPIRED = and_(H.c.state == "live", H.c.expires_at <= NOW)
ANY_EXPIRED = select(H.c.id).where(_EXPIRED).limit(1)
ANY_EXPIRED_ON_SLOT = select(H.c.id).where(_EXPIRED, H.c.slot_id == SLOT).limit(1)
EXPIRE = update(H).where(_EXPIRED).values(state="expired", ended_at=NOW).returning(H.c.id, H.c.slot_id, H.c.channel)
EXPIRE_ON_SLOT = (
    update(H).where(_EXPIRED, H.c.slot_id == SLOT).values(state="expired", ended_at=NOW)
    .returning(H.c.id, H.c.slot_id, H.c.channel)
)

#: before a hold, in one round trip: the hold an earlier attempt with the same request key made (its
#: columns NULL when there is none, or no key), the live holds of the channel, and one expired hold on
#: the slot (NULL when there is nothing to sweep)
_ONE_ROW, _KEYED = select(literal(1).label("one")).subquery(), H.alias("keyed")
HOLD_GUARD = select(
    _KEYED.c.id, _KEYED.c.slot_id, _KEYED.c.expires_at,
    select(func.count()).select_from(H).where(
        H.c.channel == bindparam("p_channel", type_=String), H.c.state == "live", H.c.expires_at > NOW,
    ).scalar_subquery().label("live"),
    ANY_EXPIRED_ON_SLOT.scalar_subquery().label("expired"),
).select_from(_ONE_ROW.outerjoin(_KEYED, _KEYED.c.request_key == bindparam("p_request", type_=String)))
#: before a confirm, in one round trip: the hold with what a booking needs of its slot, the booking an
#: earlier attempt with the same request key made (NULL if none), and the person's active booking for
#: the slot's service (NULL if none)
HOLD_FOR_CONFIRM = select(
    H.c.id, H.c.slot_id, H.c.channel, H.c.expires_at, S.c.service, S.c.site, S.c.start_at, S.c.end_at,
    select(B.c.id).where(B.c.request_key == bindparam("p_request", type_=String)).scalar_subquery().label("earlier"),
    select(B.c.id).where(
        B.c.service == S.c.service, B.c.person_key == bindparam("p_key", type_=String),
        B.c.person_check == bindparam("p_check", type_=String), B.c.status == "confirmed",
    ).limit(1).scalar_subquery().label("active"),
).join(S, S.c.id == H.c.slot_id).where(H.c.id == HOLD)

SELECT_BOOKING = select(B).where(B.c.code == bindparam("p_code", type_=String))
CODE_TAKEN = select(B.c.id).where(B.c.code == bindparam("p_code", type_=String))
ACTIVE_BOOKING = select(B).where(
    B.c.service == bindparam("p_service", type_=String), B.c.person_key == bindparam("p_key", type_=String),
    B.c.person_check == bindparam("p_check", type_=String), B.c.status == "confirmed",
)
INSERT_BOOKING = insert(B).returning(B.c.id)
BOOKING_BY_REQUEST = select(B).where(B.c.request_key == bindparam("p_request", type_=String))
CANCEL_BOOKING = (
    update(B).where(B.c.id == bindparam("p_booking", type_=Integer), B.c.status == "confirmed")
    .values(status="cancelled", cancelled_at=NOW)
)
MOVE_BOOKING = (
    update(B).where(B.c.id == bindparam("p_booking", type_=Integer), B.c.status == "confirmed", B.c.slot_id == SLOT)
    .values(slot_id=bindparam("p_new_slot", type_=Integer))
)
SET_PHONE_PLACE = (
    update(B).where(B.c.id == bindparam("p_booking", type_=Integer))
    .values(phone_place=bindparam("p_phone_place", type_=Boolean))
)

INSERT_AUDIT = insert(A)
