"""Shared reading machinery: decoding, dates, CSV and JSON readers, front matter, labels."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.scripts import load_script
from voc.errors import InputError
from voc.ingest import parse_datetime, read_text
from voc.ingest.base import (
    CsvRow,
    JsonItem,
    decode_bytes,
    is_diarised,
    iter_csv,
    iter_json,
    label_key,
    match_label,
    read_front_matter,
    sniff_delimiter,
)
from voc.types import Reject

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


MAKE_ENCODED = load_script(DATA / "make_encoded.py")
EXPECTED_CODEC = {
    "utf-8": "utf-8",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5",
    "utf-16-le": "utf-16-le",
    "utf-16-be": "utf-16-be",
}


@pytest.mark.parametrize("name", sorted(n for n in MAKE_ENCODED.ENCODED if "empty" not in n))
def test_encoded_file_is_decoded_without_loss(name):
    text, codec, bom = MAKE_ENCODED.ENCODED[name]

    decoded = read_text(DATA / name)

    assert decoded.text == text
    assert (decoded.encoding, decoded.had_bom) == (EXPECTED_CODEC[codec], bool(bom))
    assert decoded.newline == ("\r\n" if "\r\n" in text else "\n")


@pytest.mark.parametrize("name", ["tickets/tickets.csv", "calls/call_zh.txt"])
def test_utf8_file_without_bom_is_decoded_without_loss(name):
    decoded = read_text(DATA / name)

    assert decoded.text == (DATA / name).read_bytes().decode("utf-8")
    assert (decoded.encoding, decoded.had_bom, decoded.newline) == ("utf-8", False, "\n")
    assert "客" in decoded.text or "银行卡" in decoded.text


@pytest.mark.parametrize("name", sorted([*MAKE_ENCODED.ENCODED, *MAKE_ENCODED.BINARY]))
def test_generated_files_are_up_to_date(name):
    if name in MAKE_ENCODED.BINARY:
        expected = MAKE_ENCODED.BINARY[name]
    else:
        expected = MAKE_ENCODED.encoded_bytes(*MAKE_ENCODED.ENCODED[name])

    assert (DATA / name).read_bytes() == expected


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("id,text\n1,付款失败\n", "gb18030"),
        ("id,text\n1,退款还没到账\n2,闪退\n", "gb18030"),
        ("id,rating,text\n1,1,垃圾\n", "gbk"),
        ("id,text\n1,验证码收不到\n", "gbk"),
        ("登录", "gb18030"),
        ("id,text\n1,付款失敗\n", "big5"),
        ("id,text\n1,退款還沒到帳\n2,閃退\n", "big5"),
        ("密碼錯誤", "big5"),
        ("顯示網絡異常", "big5"),
    ],
)
def test_short_chinese_text_is_decoded_in_the_right_codec(text, codec):
    """A detector alone calls a few characters of GBK cp949 or Big5; these must come back."""
    assert decode_bytes(text.encode(codec), "short.csv").text == text


def test_windows_1252_english_text_is_decoded():
    text = "id,text\n1,Café payment failed — charged twice\n"

    decoded = decode_bytes(text.encode("cp1252"), "cafe.csv")

    assert (decoded.text, decoded.encoding) == (text, "cp1252")


def test_utf32_with_bom_is_decoded():
    data = codecs.BOM_UTF32_LE + "客户：退款没到账".encode("utf-32-le")

    assert decode_bytes(data, "call.txt").text == "客户：退款没到账"


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary_file", "x.csv is a PNG image, not a text file."),
        (
            b"PK\x03\x04\x14\x00",
            "binary_file",
            "x.csv is a ZIP archive (an .xlsx workbook is one), not a text file; export the "
            "sheet as CSV.",
        ),
        (
            "id,text\n1,hello\n".encode("utf-16-le"),
            "binary_file",
            "x.csv looks binary (many control or NUL bytes); if it is UTF-16 text without a "
            "byte-order mark, re-save it as UTF-8.",
        ),
        (
            codecs.BOM_UTF8 + b"id\n\xff\xfe\n",
            "undecodable_file",
            "x.csv starts with a utf-8 byte-order mark but byte 3 is not valid utf-8; re-save "
            "the file as UTF-8.",
        ),
    ],
)
def test_binary_and_broken_bytes_raise_input_error_with_a_reject_code(data, code, message):
    with pytest.raises(InputError) as caught:
        decode_bytes(data, "x.csv")

    assert caught.value.detail["reject_code"] == code
    assert caught.value.message == message


def test_missing_file_raises_input_error(tmp_path):
    with pytest.raises(InputError) as caught:
        read_text(tmp_path / "missing.csv")

    assert caught.value.detail["reject_code"] == "unreadable_file"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05T10:22:00+08:00", datetime(2024, 3, 5, 2, 22, tzinfo=UTC)),
        ("2024-03-05 10:22", datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        ("2024-03-05T10:22:00Z", datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        ("2024/3/5", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024年3月5日 10:22", datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        ("2024年3月5日", datetime(2024, 3, 5, tzinfo=UTC)),
        ("05 Mar 2024", datetime(2024, 3, 5, tzinfo=UTC)),
        (1709634120, datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        ("1709634120", datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        (1709634120000, datetime(2024, 3, 5, 10, 22, tzinfo=UTC)),
        (None, None),
        ("  ", None),
    ],
)
def test_dates_in_common_forms_become_utc(value, expected):
    assert parse_datetime(value) == expected


def test_date_without_zone_takes_the_default_zone():
    shanghai = timezone(timedelta(hours=8))

    assert parse_datetime("2024-03-05 10:22", shanghai) == datetime(2024, 3, 5, 2, 22, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2024-02-30", "March", "5", "32/13/2024", True])
def test_garbage_dates_raise_value_error(value):
    with pytest.raises(ValueError):
        parse_datetime(value)


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("id,subject,description\n1,Hi,Card failed; twice; again; and again\n", ","),
        ("id;subject;description\n1;Hi;Card failed, twice, again, and again\n", ";"),
        ("id\tsubject\n1\tCard failed, twice; again\n", "\t"),
        ("id|subject\n1|Card failed\n", "|"),
        ("description\nCard failed\n", ","),
    ],
)
def test_delimiter_is_sniffed_and_checked_against_the_header(text, delimiter):
    assert sniff_delimiter(text, Path("export.csv")) == delimiter


def test_csv_rows_report_the_line_they_start_on():
    text = 'id,text\r\n1,"two\r\nlines"\r\n\r\n2,"three\nmore\nlines"\n3,last\n'

    rows = list(iter_csv(text, ","))

    assert rows == [
        CsvRow(1, ["id", "text"], 1),
        CsvRow(2, ["1", "two\r\nlines"], 3),
        CsvRow(5, ["2", "three\nmore\nlines"], 7),
        CsvRow(8, ["3", "last"], 8),
    ]


def test_json_file_that_is_really_jsonl_is_read_line_by_line():
    text = '{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n'

    items = list(iter_json(text, Path("x.json"), ("tickets",)))

    assert items == [
        JsonItem(1, {"id": 1, "text": "a"}, '{"id": 1, "text": "a"}'),
        JsonItem(2, {"id": 2, "text": "b"}, '{"id": 2, "text": "b"}'),
    ]


def test_json_with_text_after_the_end_rejects_the_tail():
    items = list(iter_json('[{"id": 1}]\ngarbage\n', Path("x.json"), ("tickets",)))

    assert items[0] == JsonItem(1, {"id": 1}, '{"id": 1}')
    assert isinstance(items[1], Reject)
    assert (items[1].location.line, items[1].code) == (2, "invalid_json")


def test_json_array_missing_its_closing_bracket_keeps_all_items():
    items = list(iter_json('[\n{"id": 1},\n{"id": 2}\n', Path("x.json"), ("tickets",)))

    assert [i.value for i in items if isinstance(i, JsonItem)] == [{"id": 1}, {"id": 2}]
    assert isinstance(items[-1], Reject)
    assert items[-1].reason == (
        "x.json line 4: expected ',' or ']' after item 2 but the file ends; the 2 items before it "
        "were read; fix or re-export the file from that line on."
    )


def test_front_matter_is_split_from_the_body():
    lines = [
        "---",
        "id: CALL-1",
        "客户编号：C-9",
        "Created At: 2024-03-05",
        "not a pair",
        "---",
        "x",
    ]

    front = read_front_matter(lines)

    assert front.fields == {"id": "CALL-1", "客户编号": "C-9", "created_at": "2024-03-05"}
    assert front.body_start == 6
    assert front.warnings == ["front matter line 5 is not 'key: value' and was ignored"]


def test_unclosed_front_matter_is_read_as_text_with_a_warning():
    front = read_front_matter(["---", "id: 1", "客户：你好"])

    assert (front.fields, front.body_start) == ({}, 0)
    assert front.warnings == [
        "the '---' on line 1 is never closed, so it was read as text, not front matter"
    ]


@pytest.mark.parametrize(
    ("line", "label", "rest"),
    [
        ("客服：您好", "客服", "您好"),
        ("[00:01:02] 客户: 退款", "客户", "退款"),
        ("10:22:31 Agent: Hello", "Agent", "Hello"),
        ("**Alice:** Hi", "Alice", "Hi"),
        ("**Alice**: Hi", "Alice", "Hi"),
        ("客服(小王)：好的", "客服(小王)", "好的"),
    ],
)
def test_speaker_labels_are_found_with_timestamps_bold_and_full_width_colons(line, label, rest):
    match = match_label(line)

    assert match is not None
    assert (match.label, line[match.text_start :]) == (label, rest)


@pytest.mark.parametrize("line", ["https://wallet.example/help", "没有标签的一行", "**Bold: text"])
def test_lines_without_a_label_are_not_labels(line):
    assert match_label(line) is None


def test_label_keys_ignore_numbers_names_and_case():
    assert [label_key(x) for x in ["客服1", "客服(小王)", "AGENT 2", "Rep"]] == [
        "客服",
        "客服",
        "agent",
        "rep",
    ]
    assert [is_diarised(x) for x in ["SPEAKER_00", "Speaker 1", "说话人2", "[spk_1]", "客服"]] == [
        True,
        True,
        True,
        True,
        False,
    ]
