"""Bad input through the API: `POST .../feedback` and `POST .../uploads` with the files of
tests/data/bad/, on the real app and store (SQLite and PostgreSQL).

Each bad record is rejected with its code and a reason naming its index (feedback) or file
and line (uploads), the rest is accepted, the counts add up to what was read, hostile text is
stored exactly as sent (PII aside), and neither the API key nor customer text reaches the logs.
"""

from __future__ import annotations

import logging
import time

import pytest

from tests.api.conftest import Api
from tests.badinput import BAD, make_bad

ACME = "/v1/workspaces/acme"


def _wait(api: Api, job_id: str) -> dict:
    for _ in range(300):
        job = api.client.get(f"{ACME}/jobs/{job_id}", headers=api.headers("acme-read")).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_batch_of_bad_records_rejects_each_by_index_and_keeps_the_rest(api: Api) -> None:
    hostile = [
        {"source": "ticket", "external_id": f"BAD-{key}", "text": text}
        for key, text in make_bad.HOSTILE.items()
    ]
    bad = [
        {"source": "ticket", "text": "!!!???..."},
        {"source": "ticket", "text": ["a", "list"]},
        {"source": "ticket", "text": {"an": "object"}},
        {"source": "ticket", "text": True},
        42,
        None,
        {"source": "tweet", "text": "a source voc does not know"},
        {"source": "ticket"},
        {"source": "ticket", "text": "x" * 1_000_001},
        {"source": "call", "turns": [{"speaker": "Agent", "role": "agent", "text": "Hi"}]},
    ]
    nul = {"source": "review", "external_id": "BAD-nul", "text": "Card\x00 declined twice"}
    response = api.client.post(
        f"{ACME}/feedback",
        json={"records": [*hostile, *bad, nul]},
        headers=api.headers("acme-submit"),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"]
    assert [i["status"] for i in items] == ["accepted"] * 5 + ["rejected"] * 10 + ["accepted"]
    assert [i["code"] for i in items[5:15]] == ["empty_text"] + ["invalid_type"] * 5 + [
        "invalid_source",
        "missing_field",
        "too_long",
        "empty_text",
    ]
    for item in items[5:15]:
        assert f"record {item['index'] + 1}" in item["reason"], item["reason"]
    assert body["accepted"] + body["duplicate"] + body["rejected"] == len(items)
    assert (body["accepted"], body["rejected"]) == (6, 10)
    assert any("NUL" in w for w in items[15]["warnings"])
    read = api.headers("acme-read")
    for item, sent in zip(items[:5], hostile, strict=True):
        record = api.client.get(f"{ACME}/records/{item['record_id']}", headers=read).json()
        assert record["text"] == sent["text"]
    record = api.client.get(f"{ACME}/records/{items[15]['record_id']}", headers=read).json()
    assert record["text"] == "Card declined twice"


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"records": ', b"\x89PNG\r\n\x1a\n\x00\x00", b'{"records": "not a list"}'],
    ids=["empty", "invalid", "truncated", "binary", "wrong-type"],
)
def test_a_body_that_is_not_a_json_batch_is_a_clear_problem(api: Api, body: bytes) -> None:
    response = api.client.post(
        f"{ACME}/feedback",
        content=body,
        headers={**api.headers("acme-submit"), "Content-Type": "application/json"},
    )
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    if body.startswith(b"\x89PNG"):
        assert (response.status_code, problem["code"]) == (400, "bad_request")
        assert "send UTF-8 JSON" in problem["detail"]
    else:
        assert (response.status_code, problem["code"]) == (422, "validation_error")
        assert problem["errors"]


UPLOADS = [
    ("ticket", "tickets/truncated.json", 2, [(10, "invalid_json")]),
    ("ticket", "tickets/mixed_encoding.csv", 4, []),
    ("ticket", "tickets/wrong_types.json", 2, [(2, "invalid_type"), (32, "empty_text")]),
    ("ticket", "tickets/hostile.csv", 5, [(7, "empty_text"), (9, "empty_text")]),
    ("review", "reviews/truncated.csv", 2, [(4, "invalid_csv")]),
    ("review", "reviews/binary.csv", 0, [(None, "binary_file")]),
    ("call", "calls/wrong_types.jsonl", 1, [(1, "invalid_type"), (5, "invalid_type")]),
    ("call", "calls/hostile.vtt", 1, []),
    ("interview", "interviews/only_punctuation.md", 0, [(None, "empty_text")]),
    ("interview", "interviews/empty.md", 0, [(None, "empty_text")]),
]


@pytest.mark.parametrize(
    ("source", "name", "accepted", "some_rejects"), UPLOADS, ids=[u[1] for u in UPLOADS]
)
def test_a_bad_upload_is_ingested_with_every_reject_named(
    api: Api, source: str, name: str, accepted: int, some_rejects: list
) -> None:
    path = BAD / name
    response = api.client.post(
        f"{ACME}/uploads",
        params={"source": source, "filename": f"up-{path.name}"},
        content=path.read_bytes(),
        headers=api.headers("acme-submit"),
    )
    assert response.status_code == 202, response.text

    job = _wait(api, response.json()["job_id"])

    assert job["status"] == "done", job
    result = job["result"]
    assert result["accepted"] + result["duplicate"] + result["rejected"] == result["read"]
    assert result["accepted"] + result["duplicate"] == accepted
    rejects = api.store.list_rejects("acme", result["ingest_id"])
    assert result["rejected"] == len(rejects)
    found = [(r.line, r.code) for r in rejects]
    assert set(some_rejects) <= set(found), found
    for reject in rejects:
        assert f"up-{path.name}" in reject.reason, reject.reason


def test_neither_the_key_nor_customer_text_reaches_the_logs(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything logged at any level while a request carrying a key, an email, a phone
    number and a customer's words is served (and one that fails) must hold none of them."""
    token = api.tokens["acme-submit"]
    secret = token.split("_", 2)[2]  # voc_<key id>_<secret>; the secret may hold "_"
    words = "my parcel from Lisbon never arrived"
    email, phone = "wei.zhang@example.com", "13812345678"
    text = f"{words}, write to {email} or call {phone}"
    caplog.set_level(logging.DEBUG)

    response = api.client.post(
        f"{ACME}/feedback",
        json={"records": [{"source": "ticket", "external_id": "LOG-1", "text": text}]},
        headers=api.headers("acme-submit"),
    )
    wrong = api.client.post(
        f"{ACME}/feedback",
        json={"records": [{"source": "ticket", "text": text}]},
        headers={"Authorization": f"Bearer {token}x"},
    )

    assert response.status_code == 200 and wrong.status_code == 401
    [item] = response.json()["items"]
    stored = api.client.get(
        f"{ACME}/records/{item['record_id']}", headers=api.headers("acme-read")
    ).json()
    assert email not in stored["text"] and phone not in stored["text"]
    assert "[EMAIL]" in stored["text"] and "[PHONE]" in stored["text"]
    logged = "\n".join(
        [
            caplog.text,
            *(str(r.args) for r in caplog.records),
            *(r.getMessage() for r in caplog.records),
        ]
    )
    assert any(r.name.startswith("voc") for r in caplog.records), "nothing was logged"
    for leaked in (token, secret, email, phone, words):
        assert leaked not in logged


@pytest.mark.slow
def test_a_fifty_megabyte_field_is_refused_with_the_body_limit(api: Api) -> None:
    """The default body limit is 50 MB; a record carrying a 50 MB field is over it, so the
    request is refused whole with 413 before it is read, on both routes."""
    field = "x" * 50_000_000
    feedback = api.client.post(
        f"{ACME}/feedback",
        json={"records": [{"source": "ticket", "text": field}]},
        headers=api.headers("acme-submit"),
    )
    upload = api.client.post(
        f"{ACME}/uploads",
        params={"source": "ticket", "filename": "huge.csv"},
        content=b"id,description\n1," + field.encode() + b"\n",
        headers=api.headers("acme-submit"),
    )
    for response in (feedback, upload):
        assert response.status_code == 413, response.text[:200]
        assert response.json()["code"] == "payload_too_large"
        assert "over the limit of 50 MB" in response.json()["detail"]
