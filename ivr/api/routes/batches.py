"""`/batches`: staff release slot batches (idempotent: the same batch again creates nothing)."""

from __future__ import annotations

from fastapi import APIRouter, status

from ivr.api.deps import NowDep, SettingsDep, Staff, StoreDep
from ivr.api.schemas import BatchIn, BatchOut, Items, SpanOut, aware, local
from ivr.config import Settings
from slots import store
from slots.batches import BatchSpec, preview_batch

router = APIRouter(prefix="/batches", tags=["batches"])


def to_spec(body: BatchIn, settings: Settings) -> BatchSpec:
    """The store's batch spec; raises InvalidBatch (422) with the field and reason."""
    opens_at = None if body.opens_at is None else aware(body.opens_at, settings.tz)
    return BatchSpec(
        service=body.service, site=body.site, date_from=body.date_from, date_to=body.date_to,
        times=tuple(body.times), every_minutes=body.every_minutes, capacity=body.capacity,
        opens_at=opens_at, timezone=settings.timezone, phone_reserved_percent=body.phone_reserved_percent,
        phone_reserved_hours=body.phone_reserved_hours,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BatchOut, summary="Release a batch of slots")
def release(body: BatchIn, role: Staff, settings: SettingsDep, db: StoreDep, now: NowDep) -> BatchOut:
    """Create the slots of a batch. Releasing the same batch again creates nothing (`skipped`)."""
    result = db.run(store.release_batch, to_spec(body, settings), actor=f"api:{role}", now=now)
    return BatchOut(batch_id=result.batch_id, created=result.created, skipped=result.skipped)


@router.post("/preview", response_model=Items[SpanOut], summary="Preview the slots a batch would create")
def preview(body: BatchIn, role: Staff, settings: SettingsDep) -> Items[SpanOut]:
    """What `POST /batches` would create, without creating anything."""
    zone = settings.tz
    spans = preview_batch(to_spec(body, settings))
    return Items[SpanOut](items=[SpanOut(start=local(a, zone), end=local(b, zone)) for a, b in spans])
