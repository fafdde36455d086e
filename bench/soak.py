"""Soak test of the HTTP service: ten minutes of mixed traffic on loopback while re-clusters run.

The real server (`voc serve`, the shipped settings, rate limiting off) on 127.0.0.1 over a
fresh copy of the clustered demo workspace (bench/load.py builds and caches it), driven by a
bounded number of closed-loop clients, each pausing between requests so the machine is busy
but not saturated for the whole run:

- submitters POST /feedback with new records (bench/load.py's FeedbackWriter: demo-corpus
  sentences with order references, so units miss the embedding cache as new feedback does);
- readers GET /themes (sorts), /themes/{id}, /trends and /units?q= in turn;
- uploaders POST small ticket CSVs to /uploads and poll their jobs;
- an admin client keeps one re-cluster going: it starts one (POST /runs), polls it, and
  starts the next a few seconds after it finished, so re-clusters run for most of the time.

Every `--sample` seconds the server's resident memory (VmRSS) is read from /proc, and that of
its child processes together (re-cluster jobs run in one each, api/runjob.py). At the end
the clients stop, upload jobs and the last run are waited for, and every record the server
accepted (answered `accepted` to a submit, or ingested by an upload job that finished) is
looked up in the store by its external id. Targets: no 5xx, no accepted record missing, and
memory flat: the median RSS of the last fifth of the run within 10 % (plus 10 MB) of the
median of the second fifth (the first fifth is warm-up: caches, the first run's arrays).

    python -m bench.soak [--seconds 600] [--submitters 2] [--readers 4] [--uploaders 1]
                         [--sample 5] [--out bench/results/soak.json]

Prints a table per endpoint (requests, errors by status, p50/p95/p99 ms) and the checks,
and writes bench/results/soak.json with the RSS series and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import platform
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import numpy as np

from bench.load import (
    CACHE,
    RESULTS,
    WORKSPACE,
    FeedbackWriter,
    build_base,
    free_port,
    fresh_copy,
    load_average,
    server_env,
    start_server,
    wait_ready,
)

RECORDS_PER_POST = 20
RECORDS_PER_UPLOAD = 10
PAUSE_S = {"submitter": 1.0, "reader": 0.25, "uploader": 8.0, "admin": 5.0}
"""Think time of each kind of client between two requests (jittered +-50 %)."""
SEARCHES = ("提现", "到账", "refund", "login", "客服", "crash", "手续费", "verification")
MEMORY_GROWTH_LIMIT = 0.10
MEMORY_SLACK_MB = 10.0


@dataclass
class Traffic:
    """Everything the clients saw, by endpoint (route template, never the raw path)."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)
    """external id -> record id the server gave, from submits."""
    upload_jobs: dict[str, list[str]] = field(default_factory=dict)
    """upload job id -> external ids in its file."""
    runs: Counter[str] = field(default_factory=Counter)

    async def call(
        self, client: httpx.AsyncClient, endpoint: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.transport_errors[f"{endpoint}: {type(exc).__name__}"] += 1
            self._note(f"{endpoint}: {type(exc).__name__}: {exc}")
            return None
        self.latencies[endpoint].append(time.perf_counter() - began)
        self.statuses[endpoint][response.status_code] += 1
        if response.status_code >= 500:
            self._note(f"{endpoint}: {response.status_code} {response.text[:300]}")
        return response

    def _note(self, error: str) -> None:
        if len(self.first_errors) < 20:
            self.first_errors.append(error)


def _pause(kind: str, rng: random.Random) -> float:
    return PAUSE_S[kind] * rng.uniform(0.5, 1.5)


async def submitter(
    client: httpx.AsyncClient, traffic: Traffic, writer: FeedbackWriter, tag: str, stop: float
) -> None:
    rng = random.Random()
    while time.monotonic() < stop:
        records = [writer.record(tag) for _ in range(RECORDS_PER_POST)]
        response = await traffic.call(
            client, "POST /feedback", "POST", "/feedback", json={"records": records}
        )
        if response is not None and response.status_code == 200:
            for record, item in zip(records, response.json()["items"], strict=True):
                if item["status"] == "accepted":
                    traffic.accepted[record["external_id"]] = item["record_id"]
        await asyncio.sleep(_pause("submitter", rng))


async def reader(client: httpx.AsyncClient, traffic: Traffic, stop: float, seed: int) -> None:
    rng = random.Random(seed)
    theme_ids: list[str] = []
    step = seed
    while time.monotonic() < stop:
        step += 1
        which = step % 4
        if which == 0:
            sort = rng.choice(("size", "recency", "growth", "priority"))
            response = await traffic.call(
                client, "GET /themes", "GET", "/themes", params={"sort": sort, "limit": 20}
            )
            if response is not None and response.status_code == 200:
                theme_ids = [t["theme_id"] for t in response.json()["data"]] or theme_ids
        elif which == 1 and theme_ids:
            await traffic.call(
                client, "GET /themes/{id}", "GET", f"/themes/{rng.choice(theme_ids)}"
            )
        elif which == 2:
            await traffic.call(
                client, "GET /trends", "GET", "/trends", params={"granularity": "week"}
            )
        else:
            await traffic.call(
                client, "GET /units", "GET", "/units", params={"q": rng.choice(SEARCHES)}
            )
        await asyncio.sleep(_pause("reader", rng))


def _upload_csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "description", "created_at", "product", "channel"])
    for r in records:
        writer.writerow(
            [r["external_id"], r["text"], r["created_at"], r["metadata"]["product"], "upload"]
        )
    return out.getvalue().encode("utf-8")


async def uploader(
    client: httpx.AsyncClient, traffic: Traffic, writer: FeedbackWriter, tag: str, stop: float
) -> None:
    rng = random.Random()
    while time.monotonic() < stop:
        records = [writer.record(f"{tag}-UP") for _ in range(RECORDS_PER_UPLOAD)]
        for r in records:
            r["source"] = "ticket"
        response = await traffic.call(
            client,
            "POST /uploads",
            "POST",
            "/uploads",
            params={"source": "ticket", "filename": "soak.csv"},
            content=_upload_csv(records),
        )
        if response is not None and response.status_code == 202:
            traffic.upload_jobs[response.json()["job_id"]] = [r["external_id"] for r in records]
        await asyncio.sleep(_pause("uploader", rng))


async def wait_job(
    client: httpx.AsyncClient, traffic: Traffic, job_id: str, until: float
) -> dict[str, Any] | None:
    while time.monotonic() < until:
        response = await traffic.call(client, "GET /jobs/{id}", "GET", f"/jobs/{job_id}")
        if response is not None and response.status_code == 200:
            job = response.json()
            if job["status"] in ("done", "failed"):
                return job
        await asyncio.sleep(1.0)
    return None


async def admin(client: httpx.AsyncClient, traffic: Traffic, stop: float) -> None:
    """Keeps one re-cluster going until `stop` (the last one may end after it)."""
    rng = random.Random()
    while time.monotonic() < stop:
        response = await traffic.call(client, "POST /runs", "POST", "/runs", json={"seed": 0})
        if response is not None and response.status_code == 202:
            job = await wait_job(client, traffic, response.json()["job_id"], time.monotonic() + 900)
            traffic.runs[job["status"] if job else "unfinished"] += 1
            if job and job["status"] == "failed":
                traffic._note(f"run failed: {job['error']}")
        elif response is not None and response.status_code == 409:
            traffic.runs["refused_409"] += 1
        await asyncio.sleep(_pause("admin", rng))


async def sample_memory(
    pid: int,
    every: float,
    stop: float,
    series: list[tuple[float, float]],
    children: list[tuple[float, float]],
) -> None:
    """(seconds since start, RSS in MB) every `every` seconds, of the server in `series` and of
    its child processes together in `children`."""
    started = time.monotonic()
    while time.monotonic() < stop:
        at = round(time.monotonic() - started, 1)
        series.append((at, rss_mb(pid)))
        children.append((at, round(sum(rss_mb(c, 0.0) for c in child_pids(pid)), 1)))
        await asyncio.sleep(every)


def rss_mb(pid: int, gone: float = float("nan")) -> float:
    """VmRSS of a process in MB; `gone` when it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return gone
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else gone


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started that still run (Linux: /proc/PID/task/*/children)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


async def drive(
    args: argparse.Namespace, base_url: str, tokens: dict[str, str], pid: int
) -> tuple[Traffic, list[tuple[float, float]], list[tuple[float, float]], dict[str, int]]:
    traffic = Traffic()
    series: list[tuple[float, float]] = []
    children: list[tuple[float, float]] = []
    tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"{base_url}/v1/workspaces/{WORKSPACE}"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    def client(scope: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {tokens[scope]}"}
        return httpx.AsyncClient(base_url=prefix, headers=headers, limits=limits, timeout=120.0)

    async with client("submit") as submit, client("read") as read, client("admin") as adm:
        stop = time.monotonic() + args.seconds
        writer = FeedbackWriter(args.seed)
        tasks = [
            *(submitter(submit, traffic, writer, tag, stop) for _ in range(args.submitters)),
            *(reader(read, traffic, stop, seed) for seed in range(args.readers)),
            *(uploader(submit, traffic, writer, tag, stop) for _ in range(args.uploaders)),
            admin(adm, traffic, stop),
            sample_memory(pid, args.sample, stop, series, children),
        ]
        await asyncio.gather(*tasks)
        # Settle: every upload job must finish for its records to count (or not).
        settled: Counter[str] = Counter()
        until = time.monotonic() + 300
        for job_id in list(traffic.upload_jobs):
            job = await wait_job(adm, traffic, job_id, until)
            status = job["status"] if job else "unfinished"
            settled[status] += 1
            if job is None or job["status"] != "done":
                traffic._note(f"upload job {job_id} {status}: {job and job['error']}")
                traffic.upload_jobs.pop(job_id)
    return traffic, series, children, dict(settled)


def verify_stored(data_dir: Path, traffic: Traffic) -> dict[str, int]:
    """Every accepted record (submits) and every record of a finished upload job is stored,
    a submitted one under the record id it was given."""
    from voc.settings import VocSettings
    from voc.store import Store

    store = Store.open(VocSettings(data_dir=data_dir, _env_file=None).resolved_database_url)
    uploaded = [e for ids in traffic.upload_jobs.values() for e in ids]
    try:
        found: dict[str, str] = {}
        for source in FeedbackWriter.SOURCES:
            found.update(store.records_by_external_id(WORKSPACE, source, list(traffic.accepted)))
        stored_uploads = store.records_by_external_id(WORKSPACE, "ticket", uploaded)
        records_total = store.count(WORKSPACE)
    finally:
        store.close()
    return {
        "accepted_by_submit": len(traffic.accepted),
        "missing_from_submit": sum(e not in found for e in traffic.accepted),
        "stored_under_another_id": sum(
            found.get(e) not in (None, rid) for e, rid in traffic.accepted.items()
        ),
        "in_finished_uploads": len(uploaded),
        "missing_from_uploads": sum(e not in stored_uploads for e in uploaded),
        "records_in_store": records_total,
    }


def memory_check(series: list[tuple[float, float]]) -> dict[str, Any]:
    values = [mb for _, mb in series]
    fifth = max(1, len(values) // 5)
    early = median(values[fifth : 2 * fifth]) if len(values) >= 5 else values[0]
    late = median(values[-fifth:])
    growth = (late - early) / early if early else 0.0
    return {
        "samples": len(values),
        "rss_start_mb": values[0] if values else None,
        "rss_early_median_mb": early,
        "rss_late_median_mb": late,
        "rss_max_mb": max(values) if values else None,
        "growth": round(growth, 3),
        "flat": late <= early * (1 + MEMORY_GROWTH_LIMIT) + MEMORY_SLACK_MB,
    }


def endpoint_rows(traffic: Traffic) -> list[dict[str, Any]]:
    rows = []
    for endpoint in sorted(traffic.statuses):
        ms = np.array(traffic.latencies[endpoint]) * 1000.0
        statuses = traffic.statuses[endpoint]
        errors = {str(s): n for s, n in sorted(statuses.items()) if s >= 400}
        p50, p95, p99 = (round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99))
        rows.append(
            {
                "endpoint": endpoint,
                "requests": int(sum(statuses.values())),
                "errors": errors,
                "5xx": sum(n for s, n in statuses.items() if s >= 500),
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
                "max_ms": round(float(ms.max()), 1),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["endpoint", "requests", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
    cells = [
        [str(r[c]) if c != "errors" else (str(r[c]) if r[c] else "-") for c in columns]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(columns, widths, strict=True))
        )
    )
    for row in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def create_tokens(data_dir: Path) -> dict[str, str]:
    from voc.keys import create_key
    from voc.settings import VocSettings
    from voc.store import Store

    store = Store.open(VocSettings(data_dir=data_dir, _env_file=None).resolved_database_url)
    try:
        return {
            scope: create_key(store, WORKSPACE, [scope], f"soak-{scope}")[1]
            for scope in ("read", "submit", "admin")
        }
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="How long traffic runs.")
    parser.add_argument("--submitters", type=int, default=2)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--uploaders", type=int, default=1)
    parser.add_argument("--sample", type=float, default=5.0, help="Seconds between RSS samples.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args()
    for name in ("submitters", "readers", "uploaders"):
        if not 0 <= getattr(args, name) <= 16:
            parser.error(f"--{name} must be between 0 and 16: the load is meant to be bounded")

    base = build_base(CACHE / "base")
    data_dir = fresh_copy(base, CACHE / "soak")
    tokens = create_tokens(data_dir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(data_dir, None)
    load_before = load_average()
    server = start_server(env, port, 1, CACHE / "soak-server.log")
    try:
        ready_s = wait_ready(base_url, server)
        started = time.monotonic()
        traffic, series, children, uploads = asyncio.run(drive(args, base_url, tokens, server.pid))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=120)
    stored = verify_stored(data_dir, traffic)
    rows = endpoint_rows(traffic)
    memory = memory_check(series)
    # Re-cluster jobs' processes come and go: their peak, and the server's plus theirs.
    memory["children_max_mb"] = max((mb for _, mb in children), default=None)
    memory["total_max_mb"] = max(
        (a + b for (_, a), (_, b) in zip(series, children, strict=True)), default=None
    )
    five_xx = sum(r["5xx"] for r in rows)
    lost = stored["missing_from_submit"] + stored["missing_from_uploads"]
    lost += stored["stored_under_another_id"]
    checks = {
        "zero_5xx": five_xx == 0 and not traffic.transport_errors,
        "zero_lost_records": lost == 0,
        "memory_flat": memory["flat"],
    }
    result = {
        "benchmark": "soak",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; clients and server share the machine",
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "server": "voc serve --workers 1",
        "server_env": {k: v for k, v in env.items() if k != "VOC_DATA_DIR"},
        "server_ready_s": round(ready_s, 1),
        "seconds": args.seconds,
        "elapsed_s": round(elapsed, 1),
        "clients": {
            "submitters": args.submitters,
            "readers": args.readers,
            "uploaders": args.uploaders,
            "admin": 1,
        },
        "records_per_post": RECORDS_PER_POST,
        "records_per_upload": RECORDS_PER_UPLOAD,
        "pause_s": PAUSE_S,
        "endpoints": rows,
        "transport_errors": dict(traffic.transport_errors),
        "runs": dict(traffic.runs),
        "upload_jobs": uploads,
        "stored_check": stored,
        "memory": memory,
        "rss_series_mb": series,
        "rss_children_series_mb": children,
        "checks": checks,
        "first_errors": traffic.first_errors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_table(rows)
    print(f"runs: {dict(traffic.runs)}; upload jobs: {uploads}")
    print(f"transport errors: {dict(traffic.transport_errors) or 'none'}")
    print(f"stored check: {stored}")
    print(f"memory: {memory}")
    print(f"checks: {checks}")
    print(f"load average before {load_before}, after {result['load_average_after']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
