"""Ticket adapter: CSV, JSON and JSONL exports, quoted mail and signatures, bad rows."""

from __future__ import annotations

from datetime import UTC, datetime

from voc.ingest import load_mapping
from voc.types import RecordDraft, Reject


def rejects(items: list) -> list[tuple[int | None, str]]:
    return [(r.location.line, r.code) for r in items if isinstance(r, Reject)]


def drafts(items: list) -> list[RecordDraft]:
    return [d for d in items if isinstance(d, RecordDraft)]


def test_csv_tickets_match_golden_output(ingest, summary):
    items = ingest("ticket", "tickets/tickets.csv")

    assert [summary(d) for d in drafts(items)] == [
        (
            "Can't log in after update\n\nSince updating to 5.2.0 the app says \"session "
            'expired" every time I log in.\nI tried reinstalling twice.\n\nSent from my iPhone',
            [
                ("customer", "", "Can't log in after update"),
                (
                    "customer",
                    "",
                    'Since updating to 5.2.0 the app says "session expired" every time I log in.'
                    "\nI tried reinstalling twice.",
                ),
                ("signature", "", "Sent from my iPhone"),
            ],
            "T-1001",
            datetime(2024, 3, 5, 2, 22, tzinfo=UTC),
            {
                "status": "open",
                "tags": ["login", "app-update"],
                "customer_id": "C-88213",
                "product": "wallet-app",
                "channel": "email",
                "priority": "high",
            },
        ),
        (
            "Refund not received\n\nI returned the headphones on March 1 and still have no "
            "refund.\n\nBest regards,\nDana Smith\n\nOn Mon, Mar 4, 2024 at 9:12 AM Wallet Support "
            "<help@wallet.example> wrote:\n> Your refund was issued and should arrive within 3 "
            "business days.",
            [
                ("customer", "", "Refund not received"),
                ("customer", "", "I returned the headphones on March 1 and still have no refund."),
                ("signature", "", "Best regards,\nDana Smith"),
                (
                    "quoted",
                    "",
                    "On Mon, Mar 4, 2024 at 9:12 AM Wallet Support <help@wallet.example> wrote:\n"
                    "> Your refund was issued and should arrive within 3 business days.",
                ),
            ],
            "T-1002",
            datetime(2024, 3, 6, 8, 0, tzinfo=UTC),
            {
                "status": "pending",
                "tags": ["refund", "card"],
                "customer_id": "C-10442",
                "product": "wallet-app",
                "channel": "email",
                "priority": "normal",
            },
        ),
        (
            "银行卡付款失败\n\n在超市用绑定的信用卡付款，连续三次提示“交易失败”，但银行说没有收到"
            "请求。\n\n祝好\n张伟",
            [
                ("customer", "", "银行卡付款失败"),
                (
                    "customer",
                    "",
                    "在超市用绑定的信用卡付款，连续三次提示“交易失败”，但银行说没有收到请求。",
                ),
                ("signature", "", "祝好\n张伟"),
            ],
            "T-1003",
            datetime(2024, 3, 7, 14, 5, tzinfo=UTC),
            {
                "status": "open",
                "tags": ["银行卡", "付款"],
                "customer_id": "C-20391",
                "product": "wallet-app",
                "channel": "app",
                "priority": "high",
            },
        ),
        (
            "App crashes on launch\n\nThe app closes immediately when I open it on my Pixel 7.",
            [
                ("customer", "", "App crashes on launch"),
                ("customer", "", "The app closes immediately when I open it on my Pixel 7."),
            ],
            "T-1004",
            datetime(2024, 3, 5, 0, 0, tzinfo=UTC),
            {
                "status": "open",
                "customer_id": "C-30118",
                "product": "wallet-app",
                "channel": "app",
            },
        ),
        (
            "转账记录不见了\n\n昨天的转账记录在账单里找不到了。",
            [
                ("customer", "", "转账记录不见了"),
                ("customer", "", "昨天的转账记录在账单里找不到了。"),
            ],
            "T-1006",
            None,
            {
                "status": "closed",
                "tags": ["账单"],
                "customer_id": "C-41210",
                "product": "wallet-app",
                "channel": "app",
                "priority": "low",
            },
        ),
    ]


def test_csv_rows_with_multiline_cells_keep_their_physical_start_line(ingest):
    items = ingest("ticket", "tickets/tickets.csv")

    assert [item.location.line for item in items] == [2, 6, 13, 17, 18, 19]


def test_ticket_without_customer_text_is_rejected_and_the_rest_is_read(ingest):
    items = ingest("ticket", "tickets/tickets.csv")

    empty = items[4]
    assert isinstance(empty, Reject)
    assert (empty.location.line, empty.code) == (18, "empty_text")
    assert empty.reason == (
        "tickets.csv line 18: the ticket has no customer text (no text in 'subject' or "
        "'description'); fill it in or remove the row."
    )
    assert empty.excerpt == "T-1005,,,open,,,,,,"


def test_invalid_date_keeps_the_ticket_with_a_warning_quoting_the_value(ingest):
    last = ingest("ticket", "tickets/tickets.csv")[-1]

    assert isinstance(last, RecordDraft)
    assert last.created_at is None
    assert last.warnings == [
        "created_at 'yesterday' is not a date voc can read (use ISO 8601 such as "
        "2024-03-05 10:22); the record is kept without a date"
    ]


def test_json_tickets_with_comments_match_golden_output(ingest, summary):
    items = ingest("ticket", "tickets/tickets.json")

    assert [summary(d) for d in drafts(items)] == [
        (
            "Card payment declined at checkout\n\nMy Visa card keeps getting declined when I pay "
            "in the app, but it works everywhere else.\n\nSorry about that! Could you tell us the "
            "last four digits of the card?\n\nIt ends in 4242. I already tried removing and adding "
            "the card again.\n\nOn Fri, Mar 8, 2024 at 10:02 AM Mia <help@wallet.example> wrote:\n"
            "> Sorry about that! Could you tell us the last four digits of the card?\n\nTicket "
            "escalated to the Payments team.",
            [
                ("customer", "", "Card payment declined at checkout"),
                (
                    "customer",
                    "",
                    "My Visa card keeps getting declined when I pay in the app, but it works "
                    "everywhere else.",
                ),
                (
                    "agent",
                    "Mia (Support)",
                    "Sorry about that! Could you tell us the last four digits of the card?",
                ),
                (
                    "customer",
                    "Tom Lee",
                    "It ends in 4242. I already tried removing and adding the card again.",
                ),
                (
                    "quoted",
                    "Tom Lee",
                    "On Fri, Mar 8, 2024 at 10:02 AM Mia <help@wallet.example> wrote:\n> Sorry "
                    "about that! Could you tell us the last four digits of the card?",
                ),
                ("system", "", "Ticket escalated to the Payments team."),
            ],
            "ZD-52001",
            datetime(2024, 3, 8, 9, 30, tzinfo=UTC),
            {
                "status": "open",
                "tags": ["card", "payment"],
                "customer_id": "C-77120",
                "product": "wallet-app",
                "channel": "web",
                "priority": "high",
            },
        ),
        (
            "提现一直在处理中\n\n周一提交的提现到现在还显示处理中，钱也没有到银行卡。\n\n您好，已为"
            "您加急处理，预计今天到账。\n\n还是没到账。\n\n在 2024年3月9日 上午10:00，小王 写道：\n"
            "> 您好，已为您加急处理，预计今天到账。\n\n满意度调查已发送。",
            [
                ("customer", "", "提现一直在处理中"),
                ("customer", "", "周一提交的提现到现在还显示处理中，钱也没有到银行卡。"),
                ("agent", "小王", "您好，已为您加急处理，预计今天到账。"),
                ("customer", "", "还是没到账。"),
                (
                    "quoted",
                    "",
                    "在 2024年3月9日 上午10:00，小王 写道：\n"
                    "> 您好，已为您加急处理，预计今天到账。",
                ),
                ("system", "", "满意度调查已发送。"),
            ],
            "52002",
            datetime(2024, 3, 9, 1, 30, tzinfo=UTC),
            {"tags": ["提现", "到账"], "channel": "app"},
        ),
    ]
    assert [d.location.line for d in drafts(items)] == [2, 27]


def test_comment_with_unknown_author_role_is_context_with_a_warning(ingest):
    second = ingest("ticket", "tickets/tickets.json")[1]

    assert second.turns[-1].role == "system"
    assert second.warnings == [
        "comment 3 has author_role 'bot', which is not a known role (customer, end-user, "
        "requester, user, agent, admin, staff, support, system); it is kept as context, "
        "not analysed"
    ]


def test_object_with_tickets_array_is_read_item_by_item(ingest, summary):
    items = ingest("ticket", "tickets/tickets_wrapped.json")

    assert [(d.location.line, summary(d)) for d in items] == [
        (
            4,
            (
                "Cannot add card\n\nAdding my debit card fails with error 51.",
                [
                    ("customer", "", "Cannot add card"),
                    ("customer", "", "Adding my debit card fails with error 51."),
                ],
                "W-1",
                datetime(2024, 3, 11, tzinfo=UTC),
                {},
            ),
        ),
        (
            5,
            (
                "账户被冻结\n\n账户突然被冻结，无法付款也无法提现。",
                [
                    ("customer", "", "账户被冻结"),
                    ("customer", "", "账户突然被冻结，无法付款也无法提现。"),
                ],
                "W-2",
                datetime(2024, 3, 11, tzinfo=UTC),
                {},
            ),
        ),
    ]


def test_truncated_json_array_keeps_every_complete_ticket_and_rejects_the_tail(ingest):
    items = ingest("ticket", "tickets/tickets_truncated.json")

    assert [d.external_id for d in drafts(items)] == ["X-1", "X-2", "X-3"]
    tail = items[-1]
    assert isinstance(tail, Reject)
    assert (tail.location.line, tail.code) == (5, "invalid_json")
    assert tail.reason == (
        "tickets_truncated.json line 5: item 4 is broken or cut off (Unterminated string "
        "starting at: line 5 column 56); the 3 items before it were read; fix or re-export the "
        "file from that line on."
    )
    assert tail.excerpt.startswith('{"id": "X-4", "subject": "App crash"')


def test_truncated_tickets_object_keeps_the_complete_ticket(ingest):
    items = ingest("ticket", "tickets/tickets_truncated_wrapped.json")

    assert [d.external_id for d in drafts(items)] == ["Y-1"]
    assert rejects(items) == [(3, "invalid_json")]
    assert "the item before it was read" in items[-1].reason


def test_bad_jsonl_lines_are_rejected_one_by_one(ingest, summary):
    items = ingest("ticket", "tickets/tickets_bad.jsonl")

    assert [(r.location.line, r.code, r.reason) for r in items if isinstance(r, Reject)] == [
        (
            2,
            "invalid_json",
            "tickets_bad.jsonl line 2 is not valid JSON (Unterminated string starting at: column "
            "47); fix the line, the other lines were read.",
        ),
        (
            5,
            "invalid_type",
            "tickets_bad.jsonl line 5: description is a list, but it must be text; fix the value "
            "or map another field.",
        ),
        (
            6,
            "invalid_type",
            "tickets_bad.jsonl line 6: the item is a list, but each ticket must be a JSON object.",
        ),
        (
            7,
            "missing_field",
            "tickets_bad.jsonl line 7: the ticket has no 'subject' or 'description' key; keys "
            "found: 'id', 'title', 'body'. Fix the mapping or the file.",
        ),
        (
            8,
            "empty_text",
            "tickets_bad.jsonl line 8: the ticket has no customer text (no text in 'subject' or "
            "'description'); fill it in or remove the row.",
        ),
    ]
    kept = drafts(items)
    assert [(d.location.line, summary(d), d.warnings) for d in kept] == [
        (
            1,
            (
                "Login loop\n\nThe app keeps sending me back to the login page.",
                [
                    ("customer", "", "Login loop"),
                    ("customer", "", "The app keeps sending me back to the login page."),
                ],
                "J-1",
                None,
                {},
            ),
            [],
        ),
        (
            4,
            (
                "12345\n\nThat is my order number; still no refund.",
                [
                    ("customer", "", "12345"),
                    ("customer", "", "That is my order number; still no refund."),
                ],
                "J-3",
                None,
                {},
            ),
            ["subject is a number (12345); read as text"],
        ),
        (
            9,
            (
                "Top-up failed\n\nTop-up failed twice.",
                [("customer", "", "Top-up failed"), ("customer", "", "Top-up failed twice.")],
                "J-8",
                None,
                {},
            ),
            [
                "created_at '2024-02-30' is not a date voc can read (use ISO 8601 such as "
                "2024-03-05 10:22); the record is kept without a date"
            ],
        ),
    ]


def test_unclosed_quote_is_rejected_and_the_rows_it_swallowed_are_read(ingest, tmp_path):
    rows = "".join(f"Q-{n},Refund {n},Still waiting for refund {n}\n" for n in range(3, 30))
    path = tmp_path / "unclosed.csv"
    path.write_text(
        f'id,subject,description\nQ-1,Top-up,"Top-up failed\nQ-2,Login,Cannot log in\n{rows}',
        "utf-8",
    )

    reject, *rest = ingest("ticket", path)

    assert (reject.location.line, reject.code, reject.reason) == (
        2,
        "invalid_csv",
        "unclosed.csv line 2: the row cannot be read as CSV (a quote opened in this row is never "
        "closed, so lines 2-30 ran together; close the quote); check its quotes.",
    )
    assert [(d.location.line, d.external_id) for d in rest] == [
        (3, "Q-2"),
        *((n + 1, f"Q-{n}") for n in range(3, 30)),
    ]


def test_row_that_swallowed_lines_up_to_a_later_quote_says_so(ingest, tmp_path):
    rows = "".join(f"Q-{n},Refund {n},Still waiting {n}\n" for n in range(3, 30))
    path = tmp_path / "unclosed_mid.csv"
    path.write_text(
        f'id,subject,description\nQ-1,Top-up,"Top-up failed\n{rows}Q-30,"Refund",x\nQ-31,ok,fine\n',
        "utf-8",
    )

    reject, last = ingest("ticket", path)

    assert (reject.location.line, reject.code, reject.reason) == (
        2,
        "column_count",
        "unclosed_mid.csv line 2: the row has 4 fields but the header has 3; the row runs to "
        "line 30, so a quote in it is probably never closed and lines 3-30 were read into it; "
        "close the quote.",
    )
    assert (last.location.line, last.external_id) == (31, "Q-31")


def test_rows_with_too_many_or_too_few_fields_are_rejected(ingest):
    items = ingest("ticket", "tickets/tickets_bad_rows.csv")

    assert rejects(items) == [(3, "column_count"), (4, "column_count"), (5, "empty_text")]
    assert items[1].reason == (
        "tickets_bad_rows.csv line 3: the row has 5 fields but the header has 4; quote cells "
        "that contain the delimiter or line breaks."
    )
    assert items[2].reason == (
        "tickets_bad_rows.csv line 4: the row has 2 fields but the header has 4; quote cells "
        "that contain the delimiter or line breaks."
    )
    assert [(d.location.line, d.external_id) for d in drafts(items)] == [(2, "B-1"), (6, "B-5")]


def test_missing_text_column_rejects_every_row_naming_the_columns(ingest):
    items = ingest("ticket", "tickets/tickets_unmapped.csv")

    assert rejects(items) == [(2, "missing_column"), (3, "missing_column")]
    assert items[0].reason == (
        "tickets_unmapped.csv line 2: no column 'subject' or 'description' (the ticket text) in "
        "the header; columns found: 'ticket_no', 'title', 'body'. Fix the mapping or the file."
    )


def test_overrides_map_other_column_names(ingest, summary):
    mapping = load_mapping(None, ["id=ticket_no", "subject=title", "description=body"])

    items = ingest("ticket", "tickets/tickets_unmapped.csv", mapping)

    assert [summary(d)[:3] for d in items] == [
        (
            "Login loop\n\nThe app keeps sending me back to the login page.",
            [
                ("customer", "", "Login loop"),
                ("customer", "", "The app keeps sending me back to the login page."),
            ],
            "1",
        ),
        (
            "Refund\n\nStill waiting for my refund from February.",
            [
                ("customer", "", "Refund"),
                ("customer", "", "Still waiting for my refund from February."),
            ],
            "2",
        ),
    ]


def test_mapping_file_reads_an_export_with_other_names(ingest, summary, data_dir):
    mapping = load_mapping(data_dir / "mapping.toml")

    items = ingest("ticket", "tickets/tickets_export.csv", mapping)

    assert [summary(d) for d in items] == [
        (
            "Face ID login fails\n\nFace ID fails every morning and I have to type my password.",
            [
                ("customer", "", "Face ID login fails"),
                ("customer", "", "Face ID fails every morning and I have to type my password."),
            ],
            "ZD-7001",
            datetime(2024, 3, 10, 7, 45, tzinfo=UTC),
            {"tags": ["login", "face-id"], "region": "EU"},
        ),
        (
            "充值失败\n\n用支付宝充值显示成功，但钱包余额没有变化。",
            [
                ("customer", "", "充值失败"),
                ("customer", "", "用支付宝充值显示成功，但钱包余额没有变化。"),
            ],
            "ZD-7002",
            datetime(2024, 3, 10, 9, 12, tzinfo=UTC),
            {"tags": ["充值", "余额"], "region": "APAC"},
        ),
    ]


def test_mapped_column_missing_from_the_file_rejects_each_row_naming_it(ingest, data_dir):
    mapping = load_mapping(data_dir / "mapping.toml", ["metadata.region=Area"])

    items = ingest("ticket", "tickets/tickets_export.csv", mapping)

    assert rejects(items) == [(2, "missing_column"), (3, "missing_column")]
    assert items[0].reason == (
        "tickets_export.csv line 2: no column 'Area' (mapped to metadata.region) in the header; "
        "columns found: 'Ticket ID', 'Title', 'Body', 'Created (UTC)', 'Labels', 'Region'. Fix "
        "the mapping or the file."
    )


def test_gb18030_csv_with_crlf_matches_golden_output(ingest, summary):
    items = ingest("ticket", "tickets/tickets_gb18030.csv")

    assert [(d.location.line, summary(d)) for d in items] == [
        (
            2,
            (
                "无法登录\n\n换了新手机以后一直登录不上，验证码也收不到。",
                [
                    ("customer", "", "无法登录"),
                    ("customer", "", "换了新手机以后一直登录不上，验证码也收不到。"),
                ],
                "T-3001",
                datetime(2024, 3, 5, 10, 22, tzinfo=UTC),
                {"tags": ["登录", "验证码"], "channel": "app"},
            ),
        ),
        (
            3,
            (
                "退款未到账\n\n3月1日申请的退款，客服说三个工作日内到账，现在已经一周了还没收到。\n"
                "请尽快处理！",
                [
                    ("customer", "", "退款未到账"),
                    (
                        "customer",
                        "",
                        "3月1日申请的退款，客服说三个工作日内到账，现在已经一周了还没收到。\n"
                        "请尽快处理！",
                    ),
                ],
                "T-3002",
                datetime(2024, 3, 6, 9, 15, tzinfo=UTC),
                {"tags": ["退款"], "channel": "web"},
            ),
        ),
        (
            5,
            (
                "付款失败\n\n在𠮷野家用钱包付款失败，提示“商户不支持”。",
                [
                    ("customer", "", "付款失败"),
                    ("customer", "", "在𠮷野家用钱包付款失败，提示“商户不支持”。"),
                ],
                "T-3003",
                datetime(2024, 3, 7, tzinfo=UTC),
                {"tags": ["付款"], "channel": "app"},
            ),
        ),
    ]


def test_excel_csv_with_bom_crlf_and_semicolons_matches_golden_output(ingest, summary):
    items = ingest("ticket", "tickets/tickets_excel.csv")

    assert [(d.location.line, summary(d)) for d in items] == [
        (
            2,
            (
                "Card payment failed\n\nPaid at the pharmacy; the card was declined twice.\nThe "
                "bank says there is no block on it.",
                [
                    ("customer", "", "Card payment failed"),
                    (
                        "customer",
                        "",
                        "Paid at the pharmacy; the card was declined twice.\nThe bank says there "
                        "is no block on it.",
                    ),
                ],
                "E-1",
                datetime(2024, 3, 9, 18, 40, tzinfo=UTC),
                {"tags": ["card", "payment"]},
            ),
        ),
        (
            4,
            (
                'Refund "pending" for 10 days\n\n我在 3 月 1 日申请退款，状态一直是"处理中"。',
                [
                    ("customer", "", 'Refund "pending" for 10 days'),
                    ("customer", "", '我在 3 月 1 日申请退款，状态一直是"处理中"。'),
                ],
                "E-2",
                datetime(2024, 3, 10, 8, 5, tzinfo=UTC),
                {"tags": ["refund"]},
            ),
        ),
    ]


def test_utf16_tab_separated_export_matches_golden_output(ingest, summary):
    items = ingest("ticket", "tickets/tickets_utf16le.tsv")

    assert [summary(d) for d in items] == [
        (
            "登录验证码收不到\n\n换了手机号以后收不到短信验证码。",
            [
                ("customer", "", "登录验证码收不到"),
                ("customer", "", "换了手机号以后收不到短信验证码。"),
            ],
            "U-1",
            datetime(2024, 3, 8, tzinfo=UTC),
            {},
        ),
        (
            "Wallet balance wrong\n\nMy balance shows ¥0 after the top-up.",
            [
                ("customer", "", "Wallet balance wrong"),
                ("customer", "", "My balance shows ¥0 after the top-up."),
            ],
            "U-2",
            datetime(2024, 3, 8, tzinfo=UTC),
            {},
        ),
    ]


def test_short_gbk_files_are_decoded_without_loss(ingest):
    one = ingest("ticket", "tickets/tickets_gbk_short.csv")
    two = ingest("ticket", "tickets/tickets_gbk_two_rows.csv")

    assert [(d.external_id, d.text) for d in one] == [("S-1", "扫码付款失败")]
    assert [(d.external_id, d.text) for d in two] == [("S-2", "登录不上"), ("S-3", "退款没到账")]


def test_nul_bytes_are_stripped_with_a_warning(ingest):
    first, second = ingest("ticket", "tickets/tickets_nul.csv")

    assert first.text == "Top-up failed\n\nTop-up failed with error 1022."
    assert first.warnings == [
        "removed 1 NUL character from subject",
        "removed 2 NUL characters from description",
    ]
    assert second.warnings == []


def test_ten_megabyte_cell_is_read(ingest, tmp_path):
    huge = "扣款失败 " * 2_000_000
    path = tmp_path / "huge.csv"
    path.write_text(f"id,subject,description\nH-1,Huge,{huge}\nH-2,Small,Next row\n", "utf-8")

    first, second = ingest("ticket", path)

    assert len(first.text) == len("Huge\n\n") + len(huge.strip())
    assert (second.location.line, second.text) == (3, "Small\n\nNext row")


def test_unreadable_files_give_one_reject_for_the_file(ingest, tmp_path):
    empty_array = tmp_path / "none.json"
    empty_array.write_text("[]\n", "utf-8")

    found = {
        name: [(r.location.line, r.code, r.reason) for r in ingest("ticket", name)]
        for name in (
            "tickets/empty.csv",
            "tickets/header_only.csv",
            "tickets/screenshot.png",
            "tickets/screenshot_renamed.csv",
            "tickets/random.csv",
        )
    }
    found["none.json"] = [
        (r.location.line, r.code, r.reason) for r in ingest("ticket", empty_array)
    ]

    assert found == {
        "tickets/empty.csv": [
            (None, "empty_file", "empty.csv is empty; export the data again or remove the file.")
        ],
        "tickets/header_only.csv": [
            (
                None,
                "no_items",
                "header_only.csv contains no tickets; check that the export is complete.",
            )
        ],
        "tickets/screenshot.png": [
            (
                None,
                "unsupported_format",
                "screenshot.png has extension '.png', which this source does not read; use one "
                "of .csv, .json, .jsonl, .ndjson, .tsv.",
            )
        ],
        "tickets/screenshot_renamed.csv": [
            (None, "binary_file", "screenshot_renamed.csv is a PNG image, not a text file.")
        ],
        "tickets/random.csv": [
            (
                None,
                "binary_file",
                "random.csv looks binary (many control or NUL bytes); if it is UTF-16 text "
                "without a byte-order mark, re-save it as UTF-8.",
            )
        ],
        "none.json": [
            (None, "no_items", "none.json contains no tickets; check that the export is complete.")
        ],
    }
