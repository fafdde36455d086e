"""POST /v1/workspaces/{ws}/feedback: per-item outcomes, idempotency, live theme assignment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from tests.api.conftest import Api
from voc.store import IDEMPOTENCY_PRUNE_EVERY_S, Store, idempotency_keys

URL = "/v1/workspaces/acme/feedback"


def _post(api: Api, records: list[object], **headers: str) -> dict:
    response = api.client.post(
        URL, json={"records": records}, headers={**api.headers("acme-submit"), **headers}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_submitted_feedback_is_in_a_theme_at_once(api: Api) -> None:
    read = api.headers("acme-read")
    body = _post(api, [{"source": "ticket", "text": "退款两周了还没到账，太慢了。"}])

    [item] = body["items"]
    [unit] = item["units"]
    assert (item["status"], unit["status"], unit["lang"]) == ("accepted", "assigned", "zh")
    theme = api.client.get(f"/v1/workspaces/acme/themes/{unit['theme_id']}", headers=read).json()
    assert "退款" in [w for w, _ in theme["keyword_scores"]["zh"]]
    units = api.client.get(
        f"/v1/workspaces/acme/themes/{unit['theme_id']}/units?limit=200", headers=read
    ).json()
    [mine] = [u for u in units["data"] if u["unit_id"] == unit["unit_id"]]
    assert (mine["provisional"], mine["text"]) == (True, "退款两周了还没到账，太慢了。")
    assert units["count"] == theme["size"]


def test_feedback_far_from_every_theme_is_pending(api: Api) -> None:
    body = _post(
        api, [{"source": "review", "text": "Photosynthesis converts light into chemical energy."}]
    )
    [unit] = body["items"][0]["units"]
    assert (unit["status"], unit["theme_id"]) == ("pending", None)


def test_resubmitting_a_batch_creates_nothing(api: Api) -> None:
    records = [
        {"source": "review", "external_id": "R-9001", "text": "Refunds take far too long."},
        {"source": "review", "text": "人脸识别总是失败，试了五次都不行。"},
    ]
    first = _post(api, records)
    count = api.store.count("acme")
    again = _post(api, records)

    assert [i["status"] for i in first["items"]] == ["accepted", "accepted"]
    assert [i["status"] for i in again["items"]] == ["duplicate", "duplicate"]
    assert [i["record_id"] for i in again["items"]] == [i["record_id"] for i in first["items"]]
    assert (again["accepted"], again["duplicate"], again["units"]) == (0, 2, 0)
    assert api.store.count("acme") == count


def test_a_known_external_id_with_edited_text_is_a_duplicate(api: Api) -> None:
    first = _post(api, [{"source": "ticket", "external_id": "T-77", "text": "App crashes."}])
    edited = _post(api, [{"source": "ticket", "external_id": "T-77", "text": "App crashes!!"}])
    assert edited["items"][0]["status"] == "duplicate"
    assert edited["items"][0]["record_id"] == first["items"][0]["record_id"]


def test_bad_records_are_rejected_with_reasons_while_the_rest_are_accepted(api: Api) -> None:
    body = _post(
        api,
        [
            {"source": "review", "text": "Checkout keeps failing with a card error."},
            {"source": "tweet", "text": "hello"},
            {"source": "ticket", "text": ["a", "list"]},
            {"source": "ticket"},
            {"source": "ticket", "text": "   "},
            "just a string",
            {"source": "ticket", "text": "Login loop again.", "created_at": "next tuesday-ish"},
        ],
    )
    outcomes = [(i["status"], i["code"], i["reason"]) for i in body["items"]]
    assert outcomes == [
        ("accepted", None, None),
        (
            "rejected",
            "invalid_source",
            "record 2: source 'tweet' is not one of ticket, call, review, interview, survey; "
            "set it.",
        ),
        (
            "rejected",
            "invalid_type",
            "record 3: text is a list, but it must be text; fix the value.",
        ),
        (
            "rejected",
            "missing_field",
            "record 4: the record has neither text nor turns; give exactly one of them.",
        ),
        (
            "rejected",
            "empty_text",
            "record 5: the record has no customer text; fill in text or a customer turn.",
        ),
        ("rejected", "invalid_type", "record 6: the item is a string, not a JSON object."),
        ("accepted", None, None),
    ]
    assert body["items"][6]["warnings"] == [
        "created_at 'next tuesday-ish' is not a date voc can read (use ISO 8601 such as "
        "2024-03-05 10:22); the record is kept without a date"
    ]
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 5)
    stored = [r.reason for r in api.store.list_rejects("acme", body["ingest_id"])]
    assert stored == [o[2] for o in outcomes if o[0] == "rejected"]


def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    records = [{"source": "review", "text": "Please add dark mode to the app."}]
    first = api.client.post(
        URL,
        json={"records": records},
        headers={**api.headers("acme-submit"), "Idempotency-Key": "batch-42"},
    )
    replay = api.client.post(
        URL,
        json={"records": records},
        headers={**api.headers("acme-submit"), "Idempotency-Key": "batch-42"},
    )
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.json()["items"][0]["status"] == "accepted"
    assert replay.headers["Idempotent-Replayed"] == "true"

    other = api.client.post(
        URL,
        json={"records": [{"source": "review", "text": "Something else entirely."}]},
        headers={**api.headers("acme-submit"), "Idempotency-Key": "batch-42"},
    )
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "urn:voc:problem:conflict"


def test_an_idempotency_key_past_its_retention_is_forgotten_and_a_fresh_one_still_replays(
    api: Api,
) -> None:
    old = [{"source": "review", "text": "The Excel export drops every Chinese character."}]
    fresh = [{"source": "review", "text": "Please let me pick the statement's date range."}]
    first_old = _post(api, old, **{"Idempotency-Key": "expiry-old"})
    first_fresh = _post(api, fresh, **{"Idempotency-Key": "expiry-fresh"})
    days = api.settings.api_idempotency_days
    with api.store.engine.begin() as conn:
        conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == "expiry-old")
            .values(created_at=datetime.now(UTC) - timedelta(days=days + 1))
        )
    served: Store = api.client.app.state.store  # the app's own store, opened by its lifespan
    served.idempotency_prune_every_s = 0.0
    try:
        _post(api, [{"source": "review", "text": "Dark mode, please."}], **{"Idempotency-Key": "x"})
    finally:
        served.idempotency_prune_every_s = IDEMPOTENCY_PRUNE_EVERY_S

    assert api.store.stored_response("acme", "expiry-old") is None
    replay = api.client.post(
        URL,
        json={"records": fresh},
        headers={**api.headers("acme-submit"), "Idempotency-Key": "expiry-fresh"},
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first_fresh
    again = api.client.post(
        URL,
        json={"records": old},
        headers={**api.headers("acme-submit"), "Idempotency-Key": "expiry-old"},
    )
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers
    body = again.json()
    assert body["ingest_id"] != first_old["ingest_id"]
    assert [i["status"] for i in body["items"]] == ["duplicate"]
    saved = api.store.stored_response("acme", "expiry-old")
    assert saved is not None and saved[2] == body


def test_a_conversation_keeps_every_turn_and_analyses_only_the_customer(api: Api) -> None:
    body = _post(
        api,
        [
            {
                "source": "call",
                "external_id": "C-1",
                "created_at": "2026-07-06T10:22:00+08:00",
                "metadata": {"queue": "billing", "empty": ""},
                "turns": [
                    {"speaker": "Agent", "role": "agent", "text": "How can I help?"},
                    {"speaker": "Dana", "text": "I was charged twice for one order."},
                ],
            }
        ],
    )
    record_id = body["items"][0]["record_id"]
    record = api.client.get(
        f"/v1/workspaces/acme/records/{record_id}", headers=api.headers("acme-read")
    ).json()
    assert record["text"] == "Agent: How can I help?\nDana: I was charged twice for one order."
    assert [(t["role"], t["speaker"]) for t in record["turns"]] == [
        ("agent", "Agent"),
        ("customer", "Dana"),
    ]
    assert (record["created_at"], record["metadata"]) == (
        "2026-07-06T02:22:00Z",
        {"queue": "billing"},
    )
    [unit] = record["units"]
    start, end = unit["span"]
    assert record["text"][start:end] == unit["text"] == "I was charged twice for one order."


def test_a_batch_over_the_limit_is_refused_with_a_pointer(api: Api) -> None:
    records = [{"source": "review", "text": f"note {i}"} for i in range(1001)]
    response = api.client.post(URL, json={"records": records}, headers=api.headers("acme-submit"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:voc:problem:validation_error"
    assert problem["errors"] == [
        {
            "pointer": "/records",
            "detail": "List should have at most 1000 items after validation, not 1001",
        }
    ]


def test_the_same_batch_sent_concurrently_is_stored_once(api: Api) -> None:
    records = [
        {"source": "ticket", "external_id": f"RACE-{i}", "text": f"Race ticket number {i}."}
        for i in range(5)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: _post(api, records), range(4)))
    for i in range(5):
        statuses = sorted(body["items"][i]["status"] for body in bodies)
        assert statuses == ["accepted", "duplicate", "duplicate", "duplicate"]


def test_resending_a_batch_whose_assignment_never_ran_places_its_units(api: Api) -> None:
    records = [
        {"source": "ticket", "external_id": "HEAL-1", "text": "退款申请提交一周了还没到账。"},
        {"source": "review", "text": "Glaciers carve valleys over thousands of years."},
    ]
    ingestor = api.client.app.state.ingestor  # type: ignore[attr-defined]
    _, stored = ingestor.submit(records, "acme")
    unit_ids = [[u.id for u in o.units] for o in stored]
    run = api.store.current_run("acme")
    assert run is not None
    record_ids = [o.record_id for o in stored]
    assert len(api.store.unplaced_units("acme", record_ids, run.run_id)) == 2

    retry = _post(api, records)
    assert [i["status"] for i in retry["items"]] == ["duplicate", "duplicate"]
    assert [[u["unit_id"] for u in i["units"]] for i in retry["items"]] == unit_ids
    assert [[u["status"] for u in i["units"]] for i in retry["items"]] == [
        ["assigned"],
        ["pending"],
    ]
    assert api.store.unplaced_units("acme", record_ids, run.run_id) == []

    again = _post(api, records)
    assert [i["units"] for i in again["items"]] == [[], []]
