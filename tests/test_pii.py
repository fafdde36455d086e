"""PII redaction: the labelled set's recall and precision, then one behaviour per test.

Every ID number and card below carries a correct checksum unless the test says it does not;
they are standard test numbers (4111 1111 1111 1111, GB 11643's 11010519491231002X) or were
made with the checksum code in tests/data/pii/make_labelled.py, not with voc.pii.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.scripts import load_script
from voc.errors import ConfigError
from voc.pii import PiiMatch, Redacted, Redactor

DATA = Path(__file__).parent / "data" / "pii"
LABELLED = DATA / "labelled.jsonl"
KINDS = ("EMAIL", "PHONE", "ID_NUMBER", "BANK_CARD")


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def load_labelled() -> list[dict]:
    with LABELLED.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# ---------------------------------------------------------------------------------------------
# The labelled set


def test_labelled_set_recall_and_precision_meet_the_targets(redactor: Redactor) -> None:
    gold, found, hits = Counter(), Counter(), Counter()
    misses: list[str] = []
    for line in load_labelled():
        text = line["text"]
        expected = {(e["kind"], e["start"], e["end"]) for e in line["entities"]}
        got = {(m.kind, m.start, m.end) for m in redactor.find(text)}
        gold.update(k for k, _, _ in expected)
        found.update(k for k, _, _ in got)
        hits.update(k for k, _, _ in expected & got)
        for kind, start, end in expected ^ got:
            side = "missed" if (kind, start, end) in expected else "extra"
            misses.append(f"{side} {kind} {text[start:end]!r} in {text!r}")
    recall = sum(hits.values()) / sum(gold.values())
    precision = sum(hits.values()) / max(1, sum(found.values()))
    table = "\n".join(
        f"{kind:10s} gold={gold[kind]:4d} found={found[kind]:4d} "
        f"recall={hits[kind] / max(1, gold[kind]):.3f} "
        f"precision={hits[kind] / max(1, found[kind]):.3f}"
        for kind in KINDS
    )
    report = f"recall={recall:.4f} precision={precision:.4f}\n{table}\n" + "\n".join(misses[:40])
    assert recall >= 0.99 and precision >= 0.95, report


def test_labelled_set_is_what_its_seeded_generator_writes() -> None:
    generator = load_script(DATA / "make_labelled.py")
    lines = generator.build()
    generator.check(lines)
    expected = [json.dumps(line, ensure_ascii=False) for line in lines]
    assert LABELLED.read_text(encoding="utf-8").splitlines() == expected, (
        "labelled.jsonl differs from make_labelled.py; run "
        "`python tests/data/pii/make_labelled.py` and commit both"
    )


def test_labelled_set_has_the_promised_mix() -> None:
    lines = load_labelled()
    langs = Counter(line["lang"] for line in lines)
    entities = [e for line in lines for e in line["entities"]]
    near_miss_only = [
        line for line in lines if not line["entities"] and any(ch.isdigit() for ch in line["text"])
    ]
    assert len(lines) >= 400
    assert min(langs["zh"], langs["en"]) >= 0.45 * len(lines)
    assert len(entities) >= 150
    assert len(near_miss_only) >= 150
    assert {e["kind"] for e in entities} == set(KINDS)
    for line in lines:
        for e in line["entities"]:
            surface = line["text"][e["start"] : e["end"]]
            assert surface == surface.strip() and surface, (line["text"], e)


# ---------------------------------------------------------------------------------------------
# Each kind


def redacted_text(redactor: Redactor, text: str) -> str:
    return redactor.redact(text).text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("邮箱是zhang.san@example.com谢谢", "邮箱是[EMAIL]谢谢"),
        ("Send it to j.smith+orders@mail.example.net.", "Send it to [EMAIL]."),
        ("Emily.Carter@Outlook.com is my login", "[EMAIL] is my login"),
        ("发到finance.wu@example.com.cn，抄送384729156@qq.com", "发到[EMAIL]，抄送[EMAIL]"),
        ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "[EMAIL]"),
        ("user@localhost and @handle and a@b.c stay", "user@localhost and @handle and a@b.c stay"),
    ],
)
def test_emails_are_redacted_whatever_surrounds_them(
    redactor: Redactor, text: str, expected: str
) -> None:
    assert redacted_text(redactor, text) == expected


@pytest.mark.parametrize(
    "number",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 13812345678",
        "+86 138 1234 5678",
        "+86-13812345678",
        "0086 13812345678",
        "86-13812345678",
        "(+86) 138 1234 5678",
        "１３８１２３４５６７８",
    ],
)
def test_chinese_mobile_numbers_in_every_common_format(redactor: Redactor, number: str) -> None:
    assert redacted_text(redactor, f"我的手机{number}，谢谢") == "我的手机[PHONE]，谢谢"


@pytest.mark.parametrize(
    "number",
    [
        "010-12345678",
        "0755-1234567",
        "(021)12345678",
        "（021）64123456",
        "021 6412 3456",
        "021-64123456转8021",
        "010-62345678-8021",
        "0571-87654321 分机 204",
        "+86 10 6234 5678",
        "+86-755-86123456",
        "86-21-64123456",
        "400-820-8820",
        "400 820 8820",
    ],
)
def test_chinese_landlines_and_service_lines_with_extensions(
    redactor: Redactor, number: str
) -> None:
    assert redacted_text(redactor, f"公司座机{number}。") == "公司座机[PHONE]。"


@pytest.mark.parametrize(
    "number",
    [
        "+1 415 555 0132",
        "+1-415-555-0132",
        "+1 (415) 555-0132",
        "(415) 555-0132",
        "415-555-0132",
        "415.555.0132",
        "1-800-555-0199",
        "415-555-0132 ext. 204",
        "+44 20 7946 0958",
        "+44 7700 900123",
        "07700 900123",
        "+33 1 42 68 53 00",
        "+81 3-1234-5678",
        "+852 2345 6789",
        "+49 30 901820",
    ],
)
def test_international_numbers(redactor: Redactor, number: str) -> None:
    assert redacted_text(redactor, f"Call me on {number}, thanks") == "Call me on [PHONE], thanks"


def test_bare_numbers_count_as_phones_only_next_to_a_phone_word(redactor: Redactor) -> None:
    assert redacted_text(redactor, "my cell is 4155550132") == "my cell is [PHONE]"
    assert redacted_text(redactor, "ref 4155550132 attached") == "ref 4155550132 attached"
    assert redacted_text(redactor, "电话02164123456") == "电话[PHONE]"
    assert redacted_text(redactor, "发票代码033001900111") == "发票代码033001900111"
    assert redacted_text(redactor, "请拨打4008208820") == "请拨打[PHONE]"
    assert redacted_text(redactor, "会员号4000743811") == "会员号4000743811"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("身份证11010519491231002X，谢谢", "身份证[ID_NUMBER]，谢谢"),
        ("身份证11010519491231002x，谢谢", "身份证[ID_NUMBER]，谢谢"),
        ("ID 440305198506123419 is mine", "ID [ID_NUMBER] is mine"),
        ("证件号 110105 19900307 1239", "证件号 [ID_NUMBER]"),
        ("老身份证号是110105710923582。", "老身份证号是[ID_NUMBER]。"),
    ],
)
def test_resident_id_numbers_with_a_valid_checksum_and_birth_date(
    redactor: Redactor, text: str, expected: str
) -> None:
    assert redacted_text(redactor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "身份证110105199003071234",  # GB 11643 check digit should be 9
        "身份证110105188001010017",  # checksum holds, born 1880: not a customer
        "身份证990105199003071232",  # checksum holds, but 99 is no province
        "身份证110105199013071232",  # checksum holds, month 13
        "身份证110105209903071230",  # checksum holds, born in 2099
        "会员号110105710923582",  # 15 digits with a valid date but no ID word
    ],
)
def test_id_shaped_numbers_that_fail_validation_are_kept(redactor: Redactor, text: str) -> None:
    assert redacted_text(redactor, text) == text


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555555555554444",
        "378282246310005",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
        "6222021234567890128",
        "6222 0212 3456 7890 128",
        "622202 1234567890128",
        "6217000000123451",
    ],
)
def test_bank_cards_with_a_valid_luhn_digit_in_every_grouping(
    redactor: Redactor, card: str
) -> None:
    assert redacted_text(redactor, f"退款到卡号{card}，谢谢") == "退款到卡号[BANK_CARD]，谢谢"


@pytest.mark.parametrize(
    "text",
    [
        "卡号4111111111111112提示无效",  # fails Luhn
        "卡号 6222 0212 3456 7891 提示无效",  # fails Luhn
        "编号9111111111111110",  # passes Luhn, but no card network starts with 9
        "编号1234567812345670",  # passes Luhn, starts with 1
        "条形码6987380695603",  # 13-digit barcode passing Luhn, no card word
        "订单号 4111111111111111",  # valid checksum, labelled as an order number
        "IMEI: 4111111111111111",
    ],
)
def test_card_shaped_numbers_that_are_not_cards_are_kept(redactor: Redactor, text: str) -> None:
    assert redacted_text(redactor, text) == text


def test_a_thirteen_digit_card_needs_a_card_word(redactor: Redactor) -> None:
    assert redacted_text(redactor, "card 4222222222222") == "card [BANK_CARD]"
    assert redacted_text(redactor, "item 4222222222222") == "item 4222222222222"


# ---------------------------------------------------------------------------------------------
# Near-misses, one family per case


@pytest.mark.parametrize(
    "text",
    [
        "订单号 202403051234567890 还没发货",
        "Order ORD-20240305-8841 and #112-3456789-1234567",
        "拼多多订单 240305-564738291045678",
        "运单号SF1234567890123，快递单号75312345678901",
        "Tracking 1Z999AA10123456784 / 9400 1118 9922 3344 5566 77",
        "付了¥1,299.00，退了$45.99和€19.90",
        "退款 ¥13812345678",
        "2024-03-05 10:22 下单，20240305 付款，2024年3月5日 14:30:05 发货",
        "2024-03-05T10:22:00+08:00",
        "updated to v5.2.1 (build 20240305.1842), iOS 17.4.1",
        "申请编号110105199003071235的审核",  # 18 digits failing GB 11643
        "兑换码6222021234567891提示无效",  # 16 digits failing Luhn
        "交易流水号2024030522001456781234567890",
        "Transaction TXN-7F3A9C2B and pi_3OaBcD2eFgHiJkLm",
        "build 860123 crashed",
        "登录IP 192.168.100.1 和 10.0.0.254 异常",
        "验证码 482913 已过期",
        "The verification code 739204 expired",
        "2019年注册，since 2021",
        "邮编100080，ZIP 94105",
        "手机138****5678，卡6222 **** **** 1234，尾号1234",
        "手机IMEI 356938035643809",
        "商品条码6901234567892",
        "Promo code 0433-3140-9149 doesn't work",
        "USPS says 9400 0922 7970 7921 6282 29 was delivered",  # a landline shape inside
        "Gift card code 2720 0813 6650 8439 says invalid",
        "打了95588问银行",
        "价格 1,234,567 元，积分 13,800",
        "tel13812345678 和 13812345678abc 和 138123456789",
        "score +15 20 30 40",
    ],
)
def test_near_misses_are_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.find(text) == []


# ---------------------------------------------------------------------------------------------
# Precedence


def test_an_email_wins_over_the_phone_number_inside_it(redactor: Redactor) -> None:
    assert redactor.find("邮箱13812345678@163.com") == [PiiMatch("EMAIL", 2, 21)]


def test_a_valid_card_wins_over_a_phone_number_inside_it(redactor: Redactor) -> None:
    assert redactor.find("卡号 4111 13800000006") == [PiiMatch("BANK_CARD", 3, 19)]


def test_a_mistyped_id_is_not_taken_for_a_unionpay_card(redactor: Redactor) -> None:
    # Gansu (62...) with a birth date: passes Luhn, fails the ID check digit.
    assert redactor.find("证件号620102198811040009") == []


def test_a_number_valid_as_old_id_and_as_card_takes_the_nearest_word(redactor: Redactor) -> None:
    number = "370202710923008"  # old ID (Qingdao, 1971-09-23) and a Luhn-valid Amex number
    assert redactor.find(f"身份证 {number}")[0].kind == "ID_NUMBER"
    assert redactor.find(f"信用卡 {number}")[0].kind == "BANK_CARD"
    assert redactor.find(f"身份证和信用卡 {number}")[0].kind == "BANK_CARD"


def test_built_in_kinds_win_over_an_overlapping_custom_pattern() -> None:
    redactor = Redactor({"CONTACT": r"电话\d+"})
    assert redactor.redact("电话13812345678").text == "电话[PHONE]"


# ---------------------------------------------------------------------------------------------
# Redacted, map_offset, counts


def test_several_entities_are_redacted_in_one_message(redactor: Redactor) -> None:
    text = (
        "订单号202403051234567890没到，我叫王芳，身份证11010519491231002X，"
        "手机138 1234 5678，邮箱wang.fang@example.com，退款到卡4111 1111 1111 1111，"
        "金额¥1,299.00，验证码482913。"
    )
    redacted = redactor.redact(text)
    assert redacted.text == (
        "订单号202403051234567890没到，我叫王芳，身份证[ID_NUMBER]，"
        "手机[PHONE]，邮箱[EMAIL]，退款到卡[BANK_CARD]，"
        "金额¥1,299.00，验证码482913。"
    )
    assert redacted.counts() == {"ID_NUMBER": 1, "PHONE": 1, "EMAIL": 1, "BANK_CARD": 1}
    assert [text[m.start : m.end] for m in redacted.matches] == [
        "11010519491231002X",
        "138 1234 5678",
        "wang.fang@example.com",
        "4111 1111 1111 1111",
    ]


def test_match_offsets_point_into_the_original_full_width_text(redactor: Redactor) -> None:
    text = "手机１３８１２３４５６７８谢谢"
    assert redactor.find(text) == [PiiMatch("PHONE", 2, 13)]


def test_map_offset_moves_positions_around_each_replacement(redactor: Redactor) -> None:
    text = "call 415-555-0132 or mail a@example.com now"
    redacted = redactor.redact(text)
    assert redacted.text == "call [PHONE] or mail [EMAIL] now"
    assert [redacted.map_offset(p) for p in (0, 5, 6, 16, 17, 18)] == [0, 5, 5, 5, 12, 13]
    assert redacted.map_offset(26) == 21  # start of the email
    assert redacted.map_offset(30) == 21  # inside it
    assert redacted.map_offset(39) == 28  # its end
    assert redacted.map_offset(len(text)) == len(redacted.text)


def test_map_offset_keeps_turn_spans_on_their_text(redactor: Redactor) -> None:
    text = "客户: 我的手机13812345678\n客服: 好的\n客户: 邮箱a@example.com"
    turns = [(4, 19), (24, 26), (31, len(text))]
    assert [text[s:e] for s, e in turns] == ["我的手机13812345678", "好的", "邮箱a@example.com"]
    redacted = redactor.redact(text)
    moved = [(redacted.map_offset(s), redacted.map_offset(e)) for s, e in turns]
    assert [redacted.text[s:e] for s, e in moved] == ["我的手机[PHONE]", "好的", "邮箱[EMAIL]"]


def test_map_offset_between_adjacent_matches_and_out_of_range() -> None:
    redacted = Redacted("[A][B]!", (PiiMatch("A", 0, 4), PiiMatch("B", 4, 6)))
    assert [redacted.map_offset(p) for p in range(8)] == [0, 0, 0, 0, 3, 3, 6, 7]
    with pytest.raises(ValueError, match="outside the original text"):
        redacted.map_offset(8)
    with pytest.raises(ValueError, match="outside the original text"):
        redacted.map_offset(-1)


def test_text_without_personal_data_comes_back_unchanged(redactor: Redactor) -> None:
    redacted = redactor.redact("物流太慢了，订单2024030512345678还没到。")
    assert redacted.text == "物流太慢了，订单2024030512345678还没到。"
    assert redacted.matches == ()
    assert redacted.counts() == {}
    assert redacted.map_offset(7) == 7


def test_redacted_rejects_overlapping_matches() -> None:
    with pytest.raises(ValueError, match="disjoint"):
        Redacted("x", (PiiMatch("A", 0, 4), PiiMatch("B", 3, 6)))


# ---------------------------------------------------------------------------------------------
# Custom patterns


def test_custom_patterns_redact_with_their_own_name() -> None:
    redactor = Redactor({"ORDER_REF": r"ORD-\d{8}-\d{4}", "WECHAT_ID": r"wxid_[a-z0-9]{6,20}"})
    redacted = redactor.redact("ORD-20240305-8841 from wxid_abc123def, phone 13812345678")
    assert redacted.text == "[ORDER_REF] from [WECHAT_ID], phone [PHONE]"
    assert redacted.counts() == {"ORDER_REF": 1, "WECHAT_ID": 1, "PHONE": 1}


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"ORDER_REF": r"ORD-(\d{8}"}, r"pii_patterns\['ORDER_REF'\] is not a valid regular"),
        ({"order_ref": r"ORD-\d{8}"}, "UPPER_SNAKE_CASE"),
        ({"ORDER-REF": r"ORD-\d{8}"}, "UPPER_SNAKE_CASE"),
        ({"PHONE": r"\d{5}"}, "PHONE is a built-in kind"),
        ({"ANYTHING": r"\d*"}, "matches empty text"),
    ],
)
def test_invalid_custom_patterns_raise_a_config_error(
    patterns: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Redactor(patterns)
    assert info.value.code == "config_error"
