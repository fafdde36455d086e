"""Batch job: the weekly re-cluster of one workspace or all of them.

    python -m pipelines.weekly_recluster --workspace W | --all [--seed N] [--force]

Thin over voc.pipeline.weekly_recluster: each workspace's clusters are matched to its current
run (stable theme ids, lineage), curations are re-applied, and the run becomes current in one
transaction. Safe to re-run: a workspace with no new feedback since its current run is reported,
not re-clustered, and its alerts are not posted again. New alerts go to VOC_WEBHOOK_URL when
set. Prints each run's summary; exits 1 when any workspace failed (the others still run), 2
when the database cannot be opened or the model loaded. Runs take the same per-workspace lock
as `voc recluster` and the API (a workspace being re-clustered elsewhere is reported failed
and skipped); runs left `running` by a worker that died are marked failed first; SIGTERM
fails the run in progress with a reason.
"""

from __future__ import annotations

import argparse
import sys

from voc.embed import load_embedder
from voc.errors import VocError
from voc.jobs import Stopped, recover_interrupted, stop_on_sigterm
from voc.pipeline import post_run_alerts, weekly_recluster
from voc.settings import apply_thread_limits, get_settings
from voc.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--workspace", help="One workspace.")
    which.add_argument("--all", action="store_true", help="Every workspace in the store.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="Re-cluster even without new data.")
    args = parser.parse_args(argv)

    settings = get_settings()
    apply_thread_limits(settings.threads)
    stop_on_sigterm()
    try:
        store = Store.open(settings.resolved_database_url)
        recovery = recover_interrupted(store, settings.run_stale_after_s, ["run"])
    except VocError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 2
    for run_id in recovery.runs:
        print(f"run {run_id} was interrupted (its process stopped): marked failed", file=sys.stderr)
    workspaces = store.workspace_ids() if args.all else [args.workspace]
    try:
        embedder = load_embedder(settings.model, threads=settings.threads)
    except VocError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for workspace in workspaces:
        try:
            summary = weekly_recluster(
                store, settings, workspace, embedder, args.seed, force=args.force
            )
        except Stopped as exc:
            print(f"workspace {workspace}: {exc}; its run was failed, start again", file=sys.stderr)
            return 143
        except VocError as exc:
            failed += 1
            print(f"workspace {workspace}: failed: {exc}", file=sys.stderr)
            continue
        print("\n".join(summary.lines()))
        report = post_run_alerts(settings, summary)
        if report is not None and report.sent:
            state = "delivered" if report.delivered else f"NOT delivered ({report.error})"
            print(f"  webhook: {report.sent} alerts {state}")
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
