"""Unit bodies shared by the themes and records routes."""

from __future__ import annotations

from api.schemas import UnitNeedsPublic, UnitPublic
from voc.needs import UnitNeeds
from voc.store import UnitHit
from voc.types import FeedbackUnit


def unit_public(hit: UnitHit | FeedbackUnit) -> UnitPublic:
    unit = hit.unit if isinstance(hit, UnitHit) else hit
    extra = {}
    if isinstance(hit, UnitHit):
        extra = {"theme_id": hit.theme_id, "score": hit.score, "provisional": hit.provisional}
    return UnitPublic(
        unit_id=unit.id,
        record_id=unit.record_id,
        span=[unit.start, unit.end],
        text=unit.text,
        lang=unit.lang,
        speaker=unit.speaker,
        source=unit.source,
        created_at=unit.created_at,
        **extra,
    )


def unit_needs_public(n: UnitNeeds) -> UnitNeedsPublic:
    return UnitNeedsPublic(
        intent=n.intent,  # type: ignore[arg-type]
        sentiment=n.sentiment,  # type: ignore[arg-type]
        sentiment_score=n.sentiment_score,
        signals=list(n.signals),  # type: ignore[arg-type]
        stage=n.stage,  # type: ignore[arg-type]
        stage_from=n.stage_from,  # type: ignore[arg-type]
    )
