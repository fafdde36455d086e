"""Review adapter: CSV and JSONL, default column names tried in order, ratings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voc.ingest import load_mapping
from voc.ingest.reviews import parse_rating
from voc.types import RecordDraft, Reject


def test_csv_reviews_match_golden_output(ingest, summary):
    items = ingest("review", "reviews/reviews.csv")

    assert [(d.location.line, summary(d)) for d in items if isinstance(d, RecordDraft)] == [
        (
            2,
            (
                "Great for splitting bills\n\nLove how easy it is to split dinner with friends. "
                "Transfers are instant.",
                [
                    ("customer", "", "Great for splitting bills"),
                    (
                        "customer",
                        "",
                        "Love how easy it is to split dinner with friends. Transfers are instant.",
                    ),
                ],
                "R-1",
                datetime(2024, 3, 2, tzinfo=UTC),
                {
                    "rating": 5,
                    "product": "wallet-app",
                    "platform": "ios",
                    "version": "5.2.0",
                    "country": "US",
                },
            ),
        ),
        (
            3,
            (
                "Crashes constantly\n\nSince the last update it crashes whenever I open the card "
                "tab.",
                [
                    ("customer", "", "Crashes constantly"),
                    (
                        "customer",
                        "",
                        "Since the last update it crashes whenever I open the card tab.",
                    ),
                ],
                "R-2",
                datetime(2024, 3, 3, tzinfo=UTC),
                {
                    "rating": 1,
                    "product": "wallet-app",
                    "platform": "android",
                    "version": "5.2.0",
                    "country": "GB",
                },
            ),
        ),
        (
            4,
            (
                "提现手续费太高了，希望可以降低一点。",
                [("customer", "", "提现手续费太高了，希望可以降低一点。")],
                "R-3",
                datetime(2024, 3, 4, tzinfo=UTC),
                {
                    "rating": 3,
                    "product": "wallet-app",
                    "platform": "android",
                    "version": "5.1.9",
                    "country": "CN",
                },
            ),
        ),
        (
            5,
            (
                "客服态度好\n\n退款很快就到账了，点赞！",
                [("customer", "", "客服态度好"), ("customer", "", "退款很快就到账了，点赞！")],
                "R-4",
                datetime(2024, 3, 5, tzinfo=UTC),
                {
                    "rating": 4,
                    "product": "wallet-app",
                    "platform": "ios",
                    "version": "5.2.0",
                    "country": "CN",
                },
            ),
        ),
        (
            6,
            (
                "Meh\n\nIt works, but the fees are confusing.",
                [
                    ("customer", "", "Meh"),
                    ("customer", "", "It works, but the fees are confusing."),
                ],
                "R-5",
                None,
                {"product": "wallet-app", "platform": "web", "country": "US"},
            ),
        ),
        (
            8,
            (
                "Login keeps failing",
                [("customer", "", "Login keeps failing")],
                "R-7",
                datetime(2024, 3, 7, tzinfo=UTC),
                {
                    "rating": 1,
                    "product": "wallet-app",
                    "platform": "android",
                    "version": "5.2.0",
                    "country": "DE",
                },
            ),
        ),
    ]


def test_non_numeric_rating_is_a_warning_not_a_reject(ingest):
    meh = ingest("review", "reviews/reviews.csv")[4]

    assert isinstance(meh, RecordDraft)
    assert "rating" not in meh.metadata
    assert meh.warnings == [
        "rating 'five' is not a number; the rating was left out",
        "created_at 'not yet' is not a date voc can read (use ISO 8601 such as 2024-03-05 "
        "10:22); the record is kept without a date",
    ]


def test_review_without_title_or_text_is_rejected(ingest):
    reject = ingest("review", "reviews/reviews.csv")[5]

    assert isinstance(reject, Reject)
    assert (reject.location.line, reject.code, reject.reason, reject.excerpt) == (
        7,
        "empty_text",
        "reviews.csv line 7: the review text is empty; fill it in or remove the row.",
        "R-6,,   ,2,wallet-app,ios,5.2.0,US,2024-03-06",
    )


def test_jsonl_reviews_match_golden_output_and_reject_bad_lines(ingest, summary):
    items = ingest("review", "reviews/reviews.jsonl")

    assert [(d.location.line, summary(d)) for d in items if isinstance(d, RecordDraft)] == [
        (
            1,
            (
                "Login broken\n\nFace ID login stopped working after the update.",
                [
                    ("customer", "", "Login broken"),
                    ("customer", "", "Face ID login stopped working after the update."),
                ],
                "gp-0001",
                datetime(2024, 3, 5, 8, 0, tzinfo=UTC),
                {"rating": 2, "platform": "android"},
            ),
        ),
        (
            2,
            (
                "转账到账很快，界面也清楚。",
                [("customer", "", "转账到账很快，界面也清楚。")],
                "gp-0002",
                datetime(2024, 3, 5, tzinfo=UTC),
                {"rating": 4.5, "platform": "ios"},
            ),
        ),
        (3, ("5", [("customer", "", "5")], "gp-0003", None, {"rating": 5})),
    ]
    assert items[2].warnings == ["text is a number (5); read as text"]
    assert [(r.location.line, r.code, r.reason) for r in items if isinstance(r, Reject)] == [
        (
            4,
            "invalid_type",
            "reviews.jsonl line 4: text is an object, but it must be text; fix the value or map "
            "another field.",
        ),
        (
            5,
            "missing_field",
            "reviews.jsonl line 5: the review has no 'text' or 'content' or 'review' or 'body' or "
            "'comment' key; keys found: 'id', 'rating', 'platform'. Fix the mapping or the file.",
        ),
        (
            6,
            "invalid_json",
            "reviews.jsonl line 6 is not valid JSON (Expecting value: column 1); fix the line, the "
            "other lines were read.",
        ),
    ]


def test_default_columns_are_found_in_order_and_ignoring_case(ingest, summary):
    items = ingest("review", "reviews/reviews_export.csv")

    assert [summary(d) for d in items] == [
        (
            "Can't verify my identity, the selfie check fails every time.",
            [("customer", "", "Can't verify my identity, the selfie check fails every time.")],
            None,
            None,
            {"rating": 2},
        ),
        (
            "Payments are quick and the fees are clear.",
            [("customer", "", "Payments are quick and the fees are clear.")],
            None,
            None,
            {"rating": 5},
        ),
    ]


def test_metadata_override_keeps_an_extra_column(ingest):
    mapping = load_mapping(None, ["review.metadata.store=Store"])

    items = ingest("review", "reviews/reviews_export.csv", mapping)

    assert [d.metadata for d in items] == [
        {"rating": 2, "store": "App Store"},
        {"rating": 5, "store": "Google Play"},
    ]


def test_big5_traditional_chinese_reviews_match_golden_output(ingest, summary):
    items = ingest("review", "reviews/reviews_big5.csv")

    assert [summary(d) for d in items] == [
        (
            "介面好用\n\n轉帳很方便，介面也很清楚。",
            [("customer", "", "介面好用"), ("customer", "", "轉帳很方便，介面也很清楚。")],
            "TW-1",
            datetime(2024, 3, 2, tzinfo=UTC),
            {"rating": 5, "platform": "ios"},
        ),
        (
            "常常閃退\n\n更新之後一打開就閃退，已經重裝兩次了。",
            [
                ("customer", "", "常常閃退"),
                ("customer", "", "更新之後一打開就閃退，已經重裝兩次了。"),
            ],
            "TW-2",
            datetime(2024, 3, 3, tzinfo=UTC),
            {"rating": 1, "platform": "android"},
        ),
        (
            "客服回覆太慢\n\n退款申請送出一個禮拜了，客服都沒有回覆。",
            [
                ("customer", "", "客服回覆太慢"),
                ("customer", "", "退款申請送出一個禮拜了，客服都沒有回覆。"),
            ],
            "TW-3",
            datetime(2024, 3, 4, tzinfo=UTC),
            {"rating": 2, "platform": "android"},
        ),
    ]


def test_short_big5_and_utf16_reviews_are_decoded_without_loss(ingest):
    (short,) = ingest("review", "reviews/reviews_big5_short.csv")
    (utf16,) = ingest("review", "reviews/reviews_utf16be.csv")

    assert (short.external_id, short.text, short.metadata) == ("TW-9", "帳戶被凍結", {"rating": 1})
    assert (utf16.external_id, utf16.text) == ("B-1", "提现到账太慢了，要等三天。")


@pytest.mark.parametrize(
    ("value", "rating"),
    [(4, 4), (4.5, 4.5), ("4", 4), ("4.0", 4), ("3/5", 3), ("4 stars", 4), ("５星", 5)]
    + [("★★★★☆", 4), (" 2 ", 2)],
)
def test_ratings_are_read_as_numbers(value, rating):
    assert parse_rating(value) == rating


@pytest.mark.parametrize("value", ["five", "", "4-5", True, [4], float("nan")])
def test_ratings_that_are_not_numbers_raise(value):
    with pytest.raises(ValueError):
        parse_rating(value)
