"""Ingestion end to end: real files in, a real store (SQLite and PostgreSQL) out."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from voc.pipeline import Ingestor
from voc.settings import VocSettings
from voc.store import Store

INGEST = Path(__file__).resolve().parent / "data" / "ingest"
DEMO_REVIEWS = Path(__file__).resolve().parents[1] / "corpora" / "demo" / "reviews"


@pytest.fixture
def ingestor(store: Store, settings: VocSettings) -> Ingestor:
    return Ingestor(store, settings)


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("source", "folder"),
    [("ticket", "tickets"), ("call", "calls"), ("review", "reviews"), ("interview", "interviews")],
)
def test_every_item_read_is_accepted_duplicate_or_rejected(
    ingestor: Ingestor, store: Store, source: str, folder: str
) -> None:
    summary = ingestor.ingest_paths([INGEST / folder], source, "test")
    assert summary.read > 0
    assert summary.accepted + summary.duplicate + summary.rejected == summary.read
    assert store.count("test", "records") == summary.accepted
    assert len(store.list_rejects("test", summary.ingest_id)) == summary.rejected


@pytest.mark.parametrize(
    ("source", "folder"),
    [("ticket", "tickets"), ("call", "calls"), ("review", "reviews"), ("interview", "interviews")],
)
def test_every_stored_unit_is_an_exact_span_of_its_record(
    ingestor: Ingestor, store: Store, source: str, folder: str
) -> None:
    ingestor.ingest_paths([INGEST / folder], source, "test")
    records = {r.id: r for r in store.iter_records("test")}
    stored = list(store.iter_units("test"))
    assert stored
    for unit in stored:
        assert records[unit.record_id].text[unit.start : unit.end] == unit.text


def test_ingesting_the_same_files_twice_adds_nothing(ingestor: Ingestor, store: Store) -> None:
    first = ingestor.ingest_paths([INGEST / "tickets"], "ticket", "test")
    records, units = store.count("test", "records"), store.count("test", "units")
    second = ingestor.ingest_paths([INGEST / "tickets"], "ticket", "test")
    assert second.read == first.read
    assert second.accepted == 0
    assert second.duplicate == first.accepted + first.duplicate
    assert second.rejected == first.rejected
    assert (store.count("test", "records"), store.count("test", "units")) == (records, units)


def test_a_row_repeated_in_one_file_is_a_duplicate(ingestor: Ingestor, tmp_path: Path) -> None:
    row = {"id": "T-1", "subject": "提现不到账", "description": "提现三天了还没有到账，怎么回事？"}
    path = _write_csv(tmp_path / "t.csv", [row, row])
    summary = ingestor.ingest_paths([path], "ticket", "test")
    assert (summary.read, summary.accepted, summary.duplicate) == (2, 1, 0 + 1)


def test_near_duplicates_are_kept_and_flagged(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    rows = [
        {"id": "T-1", "subject": "", "description": "The app crashes when I open my card page."},
        {"id": "T-2", "subject": "", "description": "the app crashes when i open my CARD page!!"},
    ]
    summary = ingestor.ingest_paths([_write_csv(tmp_path / "t.csv", rows)], "ticket", "test")
    assert (summary.accepted, summary.near_duplicates) == (2, 1)
    first, second = sorted(store.iter_records("test"), key=lambda r: r.external_id or "")
    assert first.near_duplicate_of is None
    assert second.near_duplicate_of == first.id


def test_personal_data_is_redacted_before_storage_and_spans_still_match(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    rows = [
        {
            "id": "T-9",
            "subject": "退款",
            "description": (
                "我的手机号13812345678收不到验证码。请发邮件到wang.li@example.com告诉我进度。"
            ),
        }
    ]
    ingestor.ingest_paths([_write_csv(tmp_path / "t.csv", rows)], "ticket", "test")
    [record] = store.iter_records("test")
    assert "13812345678" not in record.text and "wang.li@example.com" not in record.text
    assert "[PHONE]" in record.text and "[EMAIL]" in record.text
    assert record.redactions == {"PHONE": 1, "EMAIL": 1}
    units = list(store.iter_units("test"))
    assert [u.text for u in units] == [
        "退款",
        "我的手机号[PHONE]收不到验证码。",
        "请发邮件到[EMAIL]告诉我进度。",
    ]
    for unit in units:
        assert record.text[unit.start : unit.end] == unit.text


def test_redaction_can_be_turned_off(store: Store, tmp_path: Path) -> None:
    settings = VocSettings(data_dir=tmp_path, redact_pii=False, _env_file=None)
    rows = [{"id": "T-1", "subject": "", "description": "Call me on +44 20 7946 0958 please."}]
    Ingestor(store, settings).ingest_paths([_write_csv(tmp_path / "t.csv", rows)], "ticket", "t")
    [record] = store.iter_records("t")
    assert "+44 20 7946 0958" in record.text


def test_a_record_over_the_length_limit_is_rejected_with_the_limit_named(
    store: Store, tmp_path: Path
) -> None:
    settings = VocSettings(data_dir=tmp_path, max_record_chars=1000, _env_file=None)
    rows = [
        {"id": "T-1", "subject": "", "description": "x " * 10_000},
        {"id": "T-2", "subject": "", "description": "My refund has not arrived after ten days."},
    ]
    summary = Ingestor(store, settings).ingest_paths(
        [_write_csv(tmp_path / "t.csv", rows)], "ticket", "t"
    )
    assert (summary.read, summary.accepted, summary.rejected) == (2, 1, 1)
    [reject] = store.list_rejects("t")
    assert reject.code == "too_long"
    assert "19,999 characters" in reject.reason and "VOC_MAX_RECORD_CHARS" in reject.reason


def test_a_ten_megabyte_field_does_not_stop_the_rest_of_the_file(
    ingestor: Ingestor, tmp_path: Path
) -> None:
    rows = [
        {"id": "T-1", "subject": "", "description": "提现失败。" * 2_000_000},
        {"id": "T-2", "subject": "", "description": "银行卡绑定一直失败，提示卡号错误。"},
    ]
    summary = ingestor.ingest_paths([_write_csv(tmp_path / "big.csv", rows)], "ticket", "test")
    assert (summary.read, summary.accepted, summary.rejected) == (2, 1, 1)
    assert summary.reject_codes == {"too_long": 1}


def test_invalid_dates_keep_the_record_and_warn(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    rows = [
        {"id": "T-1", "description": "App freezes on the transfer screen.", "created_at": "soon"}
    ]
    summary = ingestor.ingest_paths([_write_csv(tmp_path / "t.csv", rows)], "ticket", "test")
    assert (summary.accepted, summary.warnings) == (1, 1)
    assert "soon" in summary.warning_messages[0]
    [record] = store.iter_records("test")
    assert record.created_at is None


def test_cli_ingest_prints_the_summary_and_accounts_for_every_item(
    tmp_path: Path, database_url: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voc", "ingest", str(INGEST / "tickets"), "--source", "ticket"],
        capture_output=True,
        text=True,
        env={
            "VOC_DATA_DIR": str(tmp_path),
            "VOC_DATABASE_URL": database_url,
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Ingestion summary" in result.stdout
    assert "Rejected, by reason" in result.stdout
    assert "binary_file" in result.stdout


def test_cli_reports_a_bad_mapping_file_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text("[ticket\nid = ", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voc",
            "ingest",
            str(INGEST / "tickets"),
            "--source",
            "ticket",
            "--mapping",
            str(bad),
        ],
        capture_output=True,
        text=True,
        env={"VOC_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "config_error" in result.stderr and "m.toml" in result.stderr


def test_drop_folder_job_ingests_each_source_folder(tmp_path: Path, database_url: str) -> None:
    drop = tmp_path / "drop"
    (drop / "reviews").mkdir(parents=True)
    (drop / "calls").mkdir()
    (drop / "reviews" / "r.csv").write_bytes((DEMO_REVIEWS / "app_store_en.csv").read_bytes())
    (drop / "calls" / "c.txt").write_bytes((INGEST / "calls" / "call_zh.txt").read_bytes())
    env = {
        "VOC_DATA_DIR": str(tmp_path / "voc"),
        "VOC_DATABASE_URL": database_url,
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "pipelines.ingest_dir", str(drop), "--workspace", "w"]
    root = Path(__file__).resolve().parents[1]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, check=False)
    assert first.returncode == 0, first.stderr
    assert "review" in first.stdout and "call" in first.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, check=False)
    store = Store.open(database_url)
    assert store.count("w", "records") > 0
    assert again.returncode == 0 and "duplicate" in again.stdout
