"""Batch job: ingest every file under a drop folder, one source per sub-folder.

    python -m pipelines.ingest_dir DROP_DIR [--workspace W]

DROP_DIR holds sub-folders named after sources (`tickets/`, `calls/`, `reviews/`,
`interviews/`, or the singular forms). Re-running is safe: content-hash ids make files already
ingested count as duplicates. Exits 1 when any item was rejected, so a scheduler notices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from voc.cli import print_summary
from voc.pipeline import Ingestor
from voc.settings import apply_thread_limits, get_settings
from voc.store import Store
from voc.types import SOURCES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drop_dir", type=Path)
    parser.add_argument("--workspace", default=None)
    args = parser.parse_args(argv)

    settings = get_settings()
    apply_thread_limits(settings.threads)
    ingestor = Ingestor(Store.open(settings.resolved_database_url), settings)
    summaries = []
    for folder in sorted(p for p in args.drop_dir.iterdir() if p.is_dir()):
        source = folder.name.removesuffix("s")
        if source not in SOURCES:
            print(f"skipping {folder}: not a source folder ({', '.join(SOURCES)})", file=sys.stderr)
            continue
        summaries.append(ingestor.ingest_paths([folder], source, args.workspace))
    if not summaries:
        print(f"no source folders under {args.drop_dir}", file=sys.stderr)
        return 2
    print_summary(summaries)
    return 1 if any(s.rejected for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
