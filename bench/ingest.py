"""Ingestion throughput: records/s from a ticket CSV to stored units, embedding excluded.

Generates N ticket rows (default 100,000) from the demo corpus's customer sentences, with
variation (1-3 sentences per ticket, some with emails or phone numbers to redact, some
duplicates), ingests them into a fresh SQLite store pinned to one core, prints a table and
writes bench/results/ingest.json.

    python -m bench.ingest [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def generate_tickets(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with (ROOT / "corpora" / "demo" / "gold.csv").open(encoding="utf-8") as f:
        sentences = [(r["text"], r["lang"]) for r in csv.DictReader(f)]
    by_lang = {lang: [s for s, lg in sentences if lg == lang] for lang in ("zh", "en")}
    start = datetime(2026, 7, 6, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "id",
                "subject",
                "description",
                "status",
                "tags",
                "created_at",
                "customer_id",
                "product",
                "channel",
            ]
        )
        for i in range(rows):
            lang = "zh" if rng.random() < 0.55 else "en"
            body = (
                " ".join(rng.choices(by_lang[lang], k=rng.randint(1, 3)))
                if lang == "en"
                else ("".join(rng.choices(by_lang[lang], k=rng.randint(1, 3))))
            )
            if rng.random() < 0.1:
                body += (
                    f" 联系电话 138{rng.randrange(10**8):08d}。"
                    if lang == "zh"
                    else (f" Reach me at user{i}@example.com.")
                )
            subject = body[: rng.randint(8, 30)]
            created = start + timedelta(minutes=rng.randrange(12 * 7 * 24 * 60))
            writer.writerow(
                [
                    f"T-{i}",
                    subject,
                    body,
                    rng.choice(["open", "solved", "pending"]),
                    rng.choice(["login", "refund;fees", "card", ""]),
                    created.isoformat(),
                    f"C-{rng.randrange(20000)}",
                    rng.choice(["wallet", "mall", "savings"]),
                    rng.choice(["email", "web", "app"]),
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from voc.pipeline import Ingestor
    from voc.settings import VocSettings, apply_thread_limits
    from voc.store import Store

    apply_thread_limits(1)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "tickets.csv"
        generate_tickets(csv_path, args.rows)
        settings = VocSettings(
            data_dir=Path(tmp) / "voc", batch_size=args.batch_size, _env_file=None
        )
        store = Store.open(settings.resolved_database_url)
        ingestor = Ingestor(store, settings)
        t0 = time.perf_counter()
        summary = ingestor.ingest_paths([csv_path], "ticket", "bench")
        seconds = time.perf_counter() - t0
        size_mb = csv_path.stat().st_size / 1e6
    result = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, pinned to 1 core, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "file_mb": round(size_mb, 1),
        "seconds": round(seconds, 2),
        "records_per_s": round(summary.read / seconds),
        "units": summary.units,
        "accepted": summary.accepted,
        "duplicate": summary.duplicate,
        "rejected": summary.rejected,
        "target_records_per_s": 3000,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
