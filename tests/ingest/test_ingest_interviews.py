"""Interview adapter: generic labels, names from front matter, inferred interviewer."""

from __future__ import annotations

from datetime import UTC, datetime


def test_chinese_markdown_interview_matches_golden_output(ingest, summary):
    (draft,) = ingest("interview", "interviews/interview_zh.md")

    assert draft.location.line is None
    assert draft.warnings == []
    assert summary(draft) == (
        "# 钱包 App 用户访谈（第 3 场）\n\n"
        "## 背景\n"
        "访谈对象每周使用钱包付款 10 次以上。\n\n"
        "## 访谈记录\n\n"
        "李明：您平时主要用钱包做什么？\n"
        "张女士：主要是扫码付款和还信用卡。\n"
        "有时候也给朋友转账。\n"
        "李明：最近一次遇到问题是什么时候？\n"
        "张女士：上周更新以后，App 一打开就闪退，\n"
        "我只好用网页版还款。\n\n"
        "（张女士停顿了一下）\n\n"
        "张女士：其实我也在考虑换别的支付工具了。",
        [
            ("interviewer", "李明", "您平时主要用钱包做什么？"),
            ("customer", "张女士", "主要是扫码付款和还信用卡。\n有时候也给朋友转账。"),
            ("interviewer", "李明", "最近一次遇到问题是什么时候？"),
            ("customer", "张女士", "上周更新以后，App 一打开就闪退，\n我只好用网页版还款。"),
            ("customer", "张女士", "其实我也在考虑换别的支付工具了。"),
        ],
        "INT-2024-03-zhang",
        datetime(2024, 3, 12, tzinfo=UTC),
        {"interviewer": "李明", "participant": "张女士", "segment": "年轻白领"},
    )


def test_bold_names_infer_the_interviewer_from_who_asks(ingest, summary):
    (draft,) = ingest("interview", "interviews/interview_en.md")

    assert summary(draft) == (
        "# Interview: small-business owner, March 2024\n\n"
        "**Priya:** Thanks for joining. How do you use the wallet for your shop?\n\n"
        "**Marcus:** Mostly to take card payments at the market stall. It's been fine until "
        "recently.\n\n"
        "**Priya:** What changed recently?\n\n"
        "**Marcus:** Payouts. They used to arrive the next day; now it's three or four days.\n\n"
        "*(Marcus shows the payout history on his phone)*\n\n"
        "It makes buying stock for the weekend really hard.\n\n"
        "**Priya:** Have you looked at other providers?\n\n"
        "**Marcus:** Yes, a friend uses another app that pays out instantly. If this doesn't "
        "improve I'll switch.",
        [
            (
                "interviewer",
                "Priya",
                "Thanks for joining. How do you use the wallet for your shop?",
            ),
            (
                "customer",
                "Marcus",
                "Mostly to take card payments at the market stall. It's been fine until recently.",
            ),
            ("interviewer", "Priya", "What changed recently?"),
            (
                "customer",
                "Marcus",
                "Payouts. They used to arrive the next day; now it's three or four days.",
            ),
            ("customer", "Marcus", "It makes buying stock for the weekend really hard."),
            ("interviewer", "Priya", "Have you looked at other providers?"),
            (
                "customer",
                "Marcus",
                "Yes, a friend uses another app that pays out instantly. If this doesn't improve "
                "I'll switch.",
            ),
        ],
        "interview_en",
        None,
        {"speaker_roles": {"Priya": "interviewer", "Marcus": "customer"}},
    )


def test_q_and_a_labels_with_continuation_lines(ingest, summary):
    (draft,) = ingest("interview", "interviews/interview_qa.txt")

    assert summary(draft) == (
        "Q: 你第一次用我们的钱包是什么时候？\n"
        "A: 大概两年前，为了在便利店扫码付款。\n"
        "Q: What would make you use it more?\n"
        "A: Lower fees on withdrawals, and a faster login.\n"
        "Face ID fails half the time.",
        [
            ("interviewer", "Q", "你第一次用我们的钱包是什么时候？"),
            ("customer", "A", "大概两年前，为了在便利店扫码付款。"),
            ("interviewer", "Q", "What would make you use it more?"),
            (
                "customer",
                "A",
                "Lower fees on withdrawals, and a faster login.\nFace ID fails half the time.",
            ),
        ],
        "interview_qa",
        None,
        {},
    )


def test_chinese_interviewer_and_respondent_labels(ingest, summary):
    (draft,) = ingest("interview", "interviews/interview_labels.txt")

    assert summary(draft)[1] == [
        ("interviewer", "访谈者", "您遇到过付款失败吗？"),
        ("customer", "受访者", "遇到过，在地铁闸机那里刷不出来。"),
        ("interviewer", "访谈者", "当时是怎么解决的？"),
        ("customer", "受访者", "只能换成实体卡。"),
    ]


def test_bom_and_crlf_markdown_reads_front_matter_and_names(ingest, summary):
    (draft,) = ingest("interview", "interviews/interview_bom_crlf.md")

    assert summary(draft) == (
        "Kim: Why did you stop using the card?\n"
        "Lee: The virtual card was declined on two airline sites.\n"
        "Kim: What did you use instead?\n"
        "Lee: My old credit card, which charges a foreign-currency fee.",
        [
            ("interviewer", "Kim", "Why did you stop using the card?"),
            ("customer", "Lee", "The virtual card was declined on two airline sites."),
            ("interviewer", "Kim", "What did you use instead?"),
            ("customer", "Lee", "My old credit card, which charges a foreign-currency fee."),
        ],
        "INT-BOM-1",
        None,
        {"interviewer": "Kim", "speaker_roles": {"Lee": "customer"}},
    )


def test_interview_without_labels_is_read_as_participant_text_with_a_warning(ingest, tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(
        "# 访谈笔记\n\n用户说绑卡流程太长，\n希望能一步完成。\n\n## 其他\n提现到账慢。\n", "utf-8"
    )

    (draft,) = ingest("interview", path)

    assert [(t.role, draft.text[t.start : t.end]) for t in draft.turns] == [
        ("customer", "用户说绑卡流程太长，\n希望能一步完成。"),
        ("customer", "提现到账慢。"),
    ]
    assert draft.warnings == [
        "no speaker labels were found, so all text outside headings is read as the participant's"
    ]
