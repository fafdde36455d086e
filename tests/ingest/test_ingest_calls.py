"""Call adapter: labelled TXT, call notes, WebVTT, SRT and JSON/JSONL turn lists."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from voc.ingest import load_mapping
from voc.types import RecordDraft, Reject


def test_chinese_txt_transcript_matches_golden_output(ingest, summary):
    (draft,) = ingest("call", "calls/call_zh.txt")

    assert draft.location.line is None
    assert draft.warnings == []
    assert summary(draft) == (
        "[00:00:01] 客服：您好，很高兴为您服务，请问有什么可以帮您？\n"
        "[00:00:06] 客户：你好，我昨天用你们的钱包扫码付款，钱扣了但是商家说没收到。\n"
        "[00:00:15] 客服1：好的，请您提供一下订单号。\n"
        "[00:00:20] 客户: 订单号是 20240304-8812，\n"
        "付款时间大概是晚上八点。\n"
        "[00:00:31] 客服(小王)：已经查到了，这笔款项会在24小时内原路退回。\n"
        "[00:00:38] 用户：那我还要再付一次吗？\n"
        "坐席：不用的，退回以后再重新下单就可以。",
        [
            ("agent", "客服", "您好，很高兴为您服务，请问有什么可以帮您？"),
            ("customer", "客户", "你好，我昨天用你们的钱包扫码付款，钱扣了但是商家说没收到。"),
            ("agent", "客服1", "好的，请您提供一下订单号。"),
            ("customer", "客户", "订单号是 20240304-8812，\n付款时间大概是晚上八点。"),
            ("agent", "客服(小王)", "已经查到了，这笔款项会在24小时内原路退回。"),
            ("customer", "用户", "那我还要再付一次吗？"),
            ("agent", "坐席", "不用的，退回以后再重新下单就可以。"),
        ],
        "CALL-20240305-017",
        datetime(2024, 3, 5, 10, 22, tzinfo=UTC),
        {"customer_id": "C-88213", "product": "wallet-app", "channel": "phone"},
    )


def test_english_txt_without_front_matter_uses_the_file_stem_as_id(ingest, summary):
    (draft,) = ingest("call", "calls/call_en.txt")

    assert summary(draft) == (
        "Call notes - wallet support line\n\n"
        "Agent: Thank you for calling Wallet Support, this is Sam. How can I help?\n"
        "Customer: Hi, my card payment failed three times at the gas station.\n"
        "Agent: I'm sorry to hear that. Do you see an error code in the app?\n"
        'Customer: It says "Issuer declined", but my bank says everything is fine.\n'
        "  The card is a Mastercard ending 1881.\n"
        "Rep 2: Let me check the payment logs for you.\n"
        "Caller: OK, thanks.",
        [
            (
                "agent",
                "Agent",
                "Thank you for calling Wallet Support, this is Sam. How can I help?",
            ),
            ("customer", "Customer", "Hi, my card payment failed three times at the gas station."),
            ("agent", "Agent", "I'm sorry to hear that. Do you see an error code in the app?"),
            (
                "customer",
                "Customer",
                'It says "Issuer declined", but my bank says everything is fine.\n'
                "  The card is a Mastercard ending 1881.",
            ),
            ("agent", "Rep 2", "Let me check the payment logs for you."),
            ("customer", "Caller", "OK, thanks."),
        ],
        "call_en",
        None,
        {},
    )


def test_txt_without_labels_is_a_call_note_with_one_customer_turn(ingest, summary):
    (draft,) = ingest("call", "calls/call_note.txt")

    text = (
        "客户来电反映：周日晚上充值 200 元被扣款两次，\n"
        "要求退回重复扣的一笔。已登记，承诺 24 小时内回电。"
    )
    assert summary(draft) == (text, [("customer", "", text)], "call_note", None, {})


def test_gb18030_transcript_with_crlf_and_front_matter_matches_golden_output(ingest, summary):
    (draft,) = ingest("call", "calls/call_gb18030.txt")

    assert summary(draft) == (
        "客服：您好，请问有什么可以帮您？\n"
        "客户：我的钱包余额提现失败了，提示“银行处理中”。\n"
        "客服：请您稍等，我帮您查询。",
        [
            ("agent", "客服", "您好，请问有什么可以帮您？"),
            ("customer", "客户", "我的钱包余额提现失败了，提示“银行处理中”。"),
            ("agent", "客服", "请您稍等，我帮您查询。"),
        ],
        "CALL-GB-001",
        datetime(2024, 3, 8, 16, 30, tzinfo=UTC),
        {},
    )


def test_unknown_labels_fall_back_to_first_speaker_and_mapping_labels_fix_it(
    ingest, summary, data_dir
):
    text = (
        "会员：你好，我的积分兑换券付款时用不了。\n"
        "专员：请问提示什么错误？\n"
        "会员：提示“优惠券已失效”，可是有效期到月底。\n"
        "专员：我帮您重新发放一张。"
    )
    (guessed,) = ingest("call", "calls/call_custom_labels.txt")
    (mapped,) = ingest(
        "call", "calls/call_custom_labels.txt", load_mapping(data_dir / "mapping.toml")
    )

    assert summary(guessed) == (
        text,
        [
            ("agent", "会员", "你好，我的积分兑换券付款时用不了。"),
            ("customer", "专员", "请问提示什么错误？"),
            ("agent", "会员", "提示“优惠券已失效”，可是有效期到月底。"),
            ("customer", "专员", "我帮您重新发放一张。"),
        ],
        "call_custom_labels",
        None,
        {"speaker_roles": {"会员": "agent", "专员": "customer"}},
    )
    assert summary(mapped) == (
        text,
        [
            ("customer", "会员", "你好，我的积分兑换券付款时用不了。"),
            ("agent", "专员", "请问提示什么错误？"),
            ("customer", "会员", "提示“优惠券已失效”，可是有效期到月底。"),
            ("agent", "专员", "我帮您重新发放一张。"),
        ],
        "call_custom_labels",
        None,
        {},
    )


def test_webvtt_voice_tags_merge_consecutive_cues_of_one_speaker(ingest, summary):
    (draft,) = ingest("call", "calls/call_voice.vtt")

    assert summary(draft) == (
        "Agent: Thanks for calling Wallet Support, how can I help?\n"
        "Customer: Hi, I was charged twice for my subscription and I only signed up once.\n"
        "Agent: I can see both charges & I will refund one now.\n"
        "Customer: Great, thank you!",
        [
            ("agent", "Agent", "Thanks for calling Wallet Support, how can I help?"),
            (
                "customer",
                "Customer",
                "Hi, I was charged twice for my subscription and I only signed up once.",
            ),
            ("agent", "Agent", "I can see both charges & I will refund one now."),
            ("customer", "Customer", "Great, thank you!"),
        ],
        "call_voice",
        None,
        {"turn_times": [[0.5, 4.0], [4.2, 10.0], [10.5, 14.0], [14.2, 16.0]]},
    )


def test_diarised_webvtt_makes_the_greeting_speaker_the_agent(ingest, summary):
    (draft,) = ingest("call", "calls/call_diarised.vtt")

    assert summary(draft) == (
        "SPEAKER_00: 喂？\n"
        "SPEAKER_01: 您好，很高兴为您服务，请问有什么可以帮您？\n"
        "SPEAKER_00: 我的账户被冻结了，登录的时候一直提示异常。\n"
        "SPEAKER_01: 好的，我帮您查询一下。",
        [
            ("customer", "SPEAKER_00", "喂？"),
            ("agent", "SPEAKER_01", "您好，很高兴为您服务，请问有什么可以帮您？"),
            ("customer", "SPEAKER_00", "我的账户被冻结了，登录的时候一直提示异常。"),
            ("agent", "SPEAKER_01", "好的，我帮您查询一下。"),
        ],
        "call_diarised",
        None,
        {
            "speaker_roles": {"SPEAKER_00": "customer", "SPEAKER_01": "agent"},
            "turn_times": [[0.0, 1.5], [1.6, 5.0], [5.2, 12.0], [12.5, 16.0]],
        },
    )


def test_srt_with_chinese_speaker_prefixes_and_font_tags_matches_golden_output(ingest, summary):
    (draft,) = ingest("call", "calls/call.srt")

    assert summary(draft) == (
        "客服: 您好，钱包客服，请问有什么可以帮您？\n"
        "客户: 我绑定的银行卡付款一直失败。\n"
        "客服: 请问是哪家银行的卡？\n"
        "客户: 招商银行的储蓄卡。",
        [
            ("agent", "客服", "您好，钱包客服，请问有什么可以帮您？"),
            ("customer", "客户", "我绑定的银行卡付款一直失败。"),
            ("agent", "客服", "请问是哪家银行的卡？"),
            ("customer", "客户", "招商银行的储蓄卡。"),
        ],
        "call",
        None,
        {"turn_times": [[1.0, 4.0], [4.5, 8.0], [8.2, 11.0], [11.2, 13.0]]},
    )


def test_srt_diarisation_without_greeting_makes_the_first_speaker_the_agent(ingest, summary):
    (draft,) = ingest("call", "calls/call_speakers.srt")

    assert summary(draft) == (
        "Speaker 1: Wallet support, Jamie speaking.\n"
        "Speaker 2: My top-up from Apple Pay never arrived.\n"
        "Speaker 1: Which date was the top-up?\n"
        "Speaker 2: Last Friday, around noon.",
        [
            ("agent", "Speaker 1", "Wallet support, Jamie speaking."),
            ("customer", "Speaker 2", "My top-up from Apple Pay never arrived."),
            ("agent", "Speaker 1", "Which date was the top-up?"),
            ("customer", "Speaker 2", "Last Friday, around noon."),
        ],
        "call_speakers",
        None,
        {
            "speaker_roles": {"Speaker 1": "agent", "Speaker 2": "customer"},
            "turn_times": [[1.0, 3.5], [3.6, 7.0], [7.1, 9.0], [9.2, 11.0]],
        },
    )


def test_json_calls_match_golden_output(ingest, summary):
    items = ingest("call", "calls/calls.json")

    assert [(d.location.line, summary(d)) for d in items] == [
        (
            2,
            (
                "Agent: Wallet Support, how can I help you today?\n"
                "Customer: The app crashes every time I try to scan a QR code.\n"
                "Agent: Which phone and app version are you using?\n"
                "Customer: iPhone 12, version 5.2.0.",
                [
                    ("agent", "Agent", "Wallet Support, how can I help you today?"),
                    ("customer", "Customer", "The app crashes every time I try to scan a QR code."),
                    ("agent", "Agent", "Which phone and app version are you using?"),
                    ("customer", "Customer", "iPhone 12, version 5.2.0."),
                ],
                "CC-9001",
                datetime(2024, 3, 6, 7, 4, 5, tzinfo=UTC),
                {
                    "customer_id": "C-55310",
                    "channel": "phone",
                    "product": "wallet-app",
                    "turn_times": [[0.0, 2.4], [2.6, 6.1], [6.3, 8.0], [8.2, 9.5]],
                },
            ),
        ),
        (
            15,
            (
                "李娜: 您好，这里是钱包客服。\n陈先生: 我的验证码一直收不到。",
                [
                    ("agent", "李娜", "您好，这里是钱包客服。"),
                    ("customer", "陈先生", "我的验证码一直收不到。"),
                ],
                "calls#2",
                datetime(2024, 3, 7, 11, 0, tzinfo=UTC),
                {},
            ),
        ),
    ]


def test_bad_jsonl_calls_are_rejected_one_by_one(ingest, summary):
    items = ingest("call", "calls/calls_bad.jsonl")

    assert [(r.location.line, r.code, r.reason) for r in items if isinstance(r, Reject)] == [
        (
            2,
            "invalid_json",
            "calls_bad.jsonl line 2 is not valid JSON (Expecting ',' delimiter: column 56); fix "
            "the line, the other lines were read.",
        ),
        (
            3,
            "missing_field",
            "calls_bad.jsonl line 3: the call has no 'turns' key; keys found: 'id', 'transcript'. "
            "Fix the mapping or the file.",
        ),
        (
            4,
            "invalid_type",
            "calls_bad.jsonl line 4: turn 1 text is a list, but it must be text; fix the value or "
            "map another field.",
        ),
        (
            5,
            "empty_text",
            "calls_bad.jsonl line 5: the call has no turns with text; add them or remove the call.",
        ),
    ]
    (draft,) = [d for d in items if isinstance(d, RecordDraft)]
    assert summary(draft) == (
        "spk_0: Thank you for calling, how may I help?\n"
        "spk_1: My payout has been pending for a week.",
        [
            ("agent", "spk_0", "Thank you for calling, how may I help?"),
            ("customer", "spk_1", "My payout has been pending for a week."),
        ],
        "L-1",
        None,
        {"speaker_roles": {"spk_0": "agent", "spk_1": "customer"}},
    )


def test_call_file_without_text_after_front_matter_is_rejected(ingest, tmp_path):
    path = tmp_path / "blank_call.txt"
    path.write_text("---\nid: CALL-404\n---\n\n", "utf-8")

    (reject,) = ingest("call", path)

    assert (reject.location.line, reject.code, reject.reason) == (
        None,
        "empty_text",
        "blank_call.txt has no call text after its front matter; add the transcript or remove "
        "the file.",
    )


def test_subtitles_without_speakers_are_a_call_note_keeping_sound_tags(ingest, summary, tmp_path):
    path = tmp_path / "note.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n[Music] 您好，欢迎致电。\n\n"
        "00:00:03.500 --> 00:00:06.000\n我的信用卡被盗刷了。\n",
        "utf-8",
    )

    (draft,) = ingest("call", path)

    text = "[Music] 您好，欢迎致电。\n我的信用卡被盗刷了。"
    assert summary(draft) == (
        text,
        [("customer", "", text)],
        "note",
        None,
        {"turn_times": [[1.0, 6.0]]},
    )
    assert draft.warnings == [
        "the transcript has no speaker tags, so all of it is read as customer text (a call note)"
    ]


def test_subtitles_without_cues_are_rejected(ingest, tmp_path):
    path = tmp_path / "header_only.vtt"
    path.write_text("WEBVTT\nKind: captions\n\nNOTE nothing was said\n", "utf-8")

    (reject,) = ingest("call", path)

    assert (reject.location.line, reject.code, reject.reason) == (
        None,
        "empty_text",
        "header_only.vtt has no cue with text; check that it is a WebVTT or SRT transcript.",
    )


def test_cue_before_the_first_speaker_is_context_with_a_warning(ingest, summary, tmp_path):
    path = tmp_path / "late_tags.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n(recording starts)\n\n"
        "00:00:02.000 --> 00:00:04.000\n<v Agent>Wallet support, how can I help?\n\n"
        "00:00:04.000 --> 00:00:07.000\n<v Customer>My QR payment was charged twice.\n",
        "utf-8",
    )

    (draft,) = ingest("call", path)

    assert summary(draft)[:2] == (
        "(recording starts)\nAgent: Wallet support, how can I help?\n"
        "Customer: My QR payment was charged twice.",
        [
            ("agent", "Agent", "Wallet support, how can I help?"),
            ("customer", "Customer", "My QR payment was charged twice."),
        ],
    )
    assert draft.metadata == {"turn_times": [[2.0, 4.0], [4.0, 7.0]]}
    assert draft.warnings == [
        "1 cue line has no speaker before the first speaker tag; kept as context"
    ]


def test_json_turn_without_speaker_continues_the_previous_speaker(ingest, summary, tmp_path):
    path = tmp_path / "call.json"
    path.write_text(
        '{"id": "CC-1", "turns": [{"role": "customer", "text": "退款到哪了？"},'
        ' {"text": "已经等了五天。"}, {"role": "agent", "text": "我帮您查一下。"}]}',
        "utf-8",
    )

    (draft,) = ingest("call", path)

    assert summary(draft)[:3] == (
        "customer: 退款到哪了？\ncustomer: 已经等了五天。\nagent: 我帮您查一下。",
        [
            ("customer", "customer", "退款到哪了？"),
            ("customer", "customer", "已经等了五天。"),
            ("agent", "agent", "我帮您查一下。"),
        ],
        "CC-1",
    )
    assert draft.warnings == []


def test_a_recording_without_a_date_is_dated_from_its_file_name(tmp_path):
    from voc.ingest import get_adapter

    data = Path(__file__).resolve().parents[1] / "data" / "ingest"
    path = tmp_path / "REC-20260818-02zh.vtt"
    path.write_bytes((data / "calls" / "call_voice.vtt").read_bytes())
    (draft,) = get_adapter("call").read(path)
    assert draft.created_at == datetime(2026, 8, 18, tzinfo=UTC)
    assert draft.metadata["date_source"] == "file name"
