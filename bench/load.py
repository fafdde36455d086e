"""Load benchmark of the HTTP service: the real server on loopback, bounded concurrent clients.

Builds the demo workspace once (ingest corpora/demo, re-cluster; cached in .voc/bench-load/base
so reruns take seconds; delete it after changing the pipeline), copies it to a fresh database
for every run, creates a read key and a submit key, starts `voc serve` on 127.0.0.1 on a free
port, waits for /readyz and then drives each scenario for a fixed time with a fixed number of
clients, each sending its next request as soon as the last one answered (closed loop, so
latency includes queueing in the server):

- `GET /healthz` with 32 clients: no target; the ceiling of server and clients on this
  machine for a request that does no work, to read the others against;
- `GET /themes` (first page, default sort) with 32 clients; target p95 <= 30 ms;
- `POST /feedback` with 50 new records per request with 8 clients; target p95 <= 250 ms.

Submitted records are new customer feedback written from the demo corpus's sentence banks
(corpora/demo/bank, Chinese and English, slots filled) with an order reference, so their
units miss the embedding cache as real new feedback does; external ids are unique. After the
run every submitted record is looked up in the store by its external id. Rate limiting is
switched off for the server under test (VOC_API_RATE_LIMIT=0): the bench measures the service,
not the limiter.

    python -m bench.load [--duration 20] [--warmup 3] [--workers 1] [--threads 1]
                         [--scenario themes ...] [--themes-clients 32] [--out FILE]

`--threads` sets the server's VOC_THREADS, VOC_API_THREADS and BLAS pools (default: the
server's own, i.e. the shipped configuration). Prints a table and writes
bench/results/load.json (with the machine's load average before and after, because the
numbers mean little on a busy machine). A target is judged only at its own number of clients.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / ".voc" / "bench-load"
WORKSPACE = "demo"
TARGETS_P95_MS: dict[str, float | None] = {"healthz": None, "themes": 30.0, "feedback": 250.0}
"""`healthz` has no target: it is the reference, what server and clients reach on this machine
for a request that does no work."""
CLIENTS = {"healthz": 32, "themes": 32, "feedback": 8}
RECORDS_PER_POST = 50


def build_base(base: Path) -> Path:
    """The clustered demo workspace, built once; returns its data directory."""
    from voc.cli import DEMO_SOURCES
    from voc.embed import load_embedder
    from voc.pipeline import Ingestor, recluster
    from voc.settings import CORPORA_DIR, VocSettings, apply_thread_limits
    from voc.store import Store

    settings = VocSettings(data_dir=base, workspace=WORKSPACE, _env_file=None)
    db = base / "voc.db"
    if db.exists():
        store = Store.open(settings.resolved_database_url)
        try:
            if store.current_run(WORKSPACE) is not None:
                return base
        finally:
            store.close()
        shutil.rmtree(base)
    print(f"building the demo workspace in {base} (once) ...", flush=True)
    apply_thread_limits(settings.threads)
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    for folder, source in DEMO_SOURCES.items():
        ingestor.ingest_paths([CORPORA_DIR / "demo" / folder], source, WORKSPACE)
    recluster(store, settings, WORKSPACE, load_embedder(settings.model, settings.threads))
    store.close()
    return base


def fresh_copy(base: Path, target: Path) -> Path:
    """A private copy of the base database (the WAL folded in), so every run starts equal."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    src = sqlite3.connect(base / "voc.db")
    dst = sqlite3.connect(target / "voc.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def create_tokens(data_dir: Path) -> dict[str, str]:
    from voc.keys import create_key
    from voc.settings import VocSettings
    from voc.store import Store

    settings = VocSettings(data_dir=data_dir, _env_file=None)
    store = Store.open(settings.resolved_database_url)
    try:
        return {
            scope: create_key(store, WORKSPACE, [scope], f"bench-{scope}")[1]
            for scope in ("read", "submit")
        }
    finally:
        store.close()


def _load_sentences_module() -> ModuleType:
    """corpora/demo/sentences.py is a script directory, not a package: load it by path."""
    path = ROOT / "corpora" / "demo" / "sentences.py"
    spec = importlib.util.spec_from_file_location("demo_sentences", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class FeedbackWriter:
    """New tickets and reviews in the demo corpus's voice: 1-3 customer sentences from the
    sentence banks, the first carrying an order reference and the others a connective, so that
    their units are text the embedding cache has not seen, as real new feedback is."""

    SOURCES = ("ticket", "review")
    CONNECTIVES = {
        "zh": ("另外，", "还有，", "而且", "对了，", "顺便说一下，", "再就是", "最后，"),
        "en": ("Also, ", "Another thing: ", "And ", "Plus, ", "On top of that, ", "Oh and "),
    }

    def __init__(self, seed: int) -> None:
        self.demo = _load_sentences_module()
        self.rng = random.Random(seed)
        self.themes = self.demo.load_themes()
        self.theme_ids = sorted(self.themes)
        self.writer = self.demo.Writer(self.themes, self.rng)
        self.count = 0

    def _sentence(self, theme_id: str, lang: str, day: date) -> str:
        ctx = self.demo.Context(
            day=day,
            lang=lang,
            hant=False,
            platform=self.rng.choice(("android", "ios")),
            version=self.demo.app_version(day, self.rng),
        )
        return str(self.writer.sentence(theme_id, ctx).text)

    def record(self, run_tag: str) -> dict[str, Any]:
        self.count += 1
        lang = "zh" if self.rng.random() < 0.55 else "en"
        day = self.demo.START + timedelta(days=self.rng.randrange(7 * self.demo.WEEKS))
        themes = self.rng.sample(self.theme_ids, self.rng.randint(1, 3))
        sentences = [self._sentence(t, lang, day) for t in themes]
        for i in range(1, len(sentences)):
            lead = self.rng.choice(self.CONNECTIVES[lang])
            sentences[i] = lead + (sentences[i] if lang == "zh" else _lower_first(sentences[i]))
        order = f"{self.rng.randrange(10**6):06d}"
        if lang == "zh":
            sentences[0] = f"订单尾号{order}，{sentences[0]}"
            text = "".join(sentences)
        else:
            sentences[0] = f"Order {order}: {_lower_first(sentences[0])}"
            text = " ".join(sentences)
        created = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            minutes=self.rng.randrange(24 * 60)
        )
        return {
            "source": self.rng.choice(self.SOURCES),
            "external_id": f"LOAD-{run_tag}-{self.count:06d}",
            "text": text,
            "created_at": created.isoformat(),
            "metadata": {"channel": "bench", "product": self.rng.choice(("wallet", "mall"))},
        }


def _lower_first(sentence: str) -> str:
    """Lower-case a sentence's first letter to continue another one, but never the pronoun I."""
    if sentence.startswith(("I ", "I'")):
        return sentence
    return sentence[:1].lower() + sentence[1:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, threads: int | None) -> dict[str, str]:
    """The server's VOC_* settings; `threads` also pins the BLAS pools, which numpy sizes when
    it is imported, before the app's lifespan could."""
    env = {"VOC_DATA_DIR": str(data_dir), "VOC_WORKSPACE": WORKSPACE, "VOC_API_RATE_LIMIT": "0"}
    if threads is not None:
        env["VOC_THREADS"] = env["VOC_API_THREADS"] = str(threads)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    return env


def start_server(
    env: dict[str, str], port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "voc", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    """Seconds until /readyz answered 200; the server's own log explains a failed start."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready after {timeout:.0f} s")


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def drive(
    base_url: str, clients: int, duration: float, warmup: float, request: Request
) -> tuple[Outcome, float]:
    """`clients` closed-loop clients for warmup + duration seconds; only requests started
    after the warm-up count. Returns the outcome and the measured window in seconds."""
    outcome = Outcome()
    # Each client has its own httpx client and keep-alive connection. One client shared by all
    # (a pool of `clients` connections) cost this process about 12 ms of CPU per request at 32
    # clients, since httpcore's pool looks at every connection for every request: on two cores
    # shared with the server, the benchmark measured its own pool rather than the server.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = httpx.create_ssl_context()  # unused on http://, but each client would load its own
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, stop = start + warmup, start + warmup + duration

    async def one_client() -> None:
        async with httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=60.0, verify=tls
        ) as client:
            while (now := loop.time()) < stop:
                began = time.perf_counter()
                try:
                    response = await request(client)
                    ok = response.status_code == 200
                    error = "" if ok else f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - began
                if now >= measure_from:
                    outcome.latencies.append(elapsed)
                    if error:
                        outcome.errors.append(error)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    window = loop.time() - measure_from
    return outcome, window


def summarise(name: str, clients: int, outcome: Outcome, window: float) -> dict[str, Any]:
    ms = np.array(outcome.latencies) * 1000.0
    # A target holds at its own number of clients; other counts are measured, not judged.
    target = TARGETS_P95_MS[name] if clients == CLIENTS[name] else None
    p50, p95, p99 = (float(np.percentile(ms, q)) if len(ms) else float("nan") for q in (50, 95, 99))
    return {
        "scenario": name,
        "clients": clients,
        "requests": len(ms),
        "throughput_rps": round(len(ms) / window, 1) if window > 0 else 0.0,
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "p99_ms": round(p99, 1),
        "max_ms": round(float(ms.max()), 1) if len(ms) else None,
        "errors": len(outcome.errors),
        "first_errors": outcome.errors[:5],
        "target_p95_ms": target,
        "met": None if target is None else bool(len(ms)) and p95 <= target and not outcome.errors,
    }


def _healthz(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    return client.get("/healthz")


async def run_themes(
    base_url: str, token: str, clients: int, duration: float, warmup: float
) -> tuple[Outcome, float]:
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/workspaces/{WORKSPACE}/themes"
    return await drive(base_url, clients, duration, warmup, lambda c: c.get(path, headers=headers))


async def run_feedback(
    base_url: str,
    token: str,
    clients: int,
    duration: float,
    warmup: float,
    writer: FeedbackWriter,
    tag: str,
) -> tuple[Outcome, float, list[str], dict[str, str], int]:
    """Also returns the external ids sent, external id -> record id of every record the server
    accepted, and the number of units they made."""
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/v1/workspaces/{WORKSPACE}/feedback"
    accepted: dict[str, str] = {}
    sent: list[str] = []
    units = 0

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        records = [writer.record(tag) for _ in range(RECORDS_PER_POST)]
        sent.extend(r["external_id"] for r in records)
        response = await client.post(path, json={"records": records}, headers=headers)
        nonlocal units
        if response.status_code == 200:
            body = response.json()
            units += body["units"]
            for record, item in zip(records, body["items"], strict=True):
                if item["status"] == "accepted":
                    accepted[record["external_id"]] = item["record_id"]
        return response

    outcome, window = await drive(base_url, clients, duration, warmup, post)
    not_accepted = len(sent) - len(accepted)
    if not_accepted:
        outcome.errors.append(f"{not_accepted} of {len(sent)} submitted records not accepted")
    return outcome, window, sent, accepted, units


def verify_stored(data_dir: Path, sent: list[str], accepted: dict[str, str]) -> dict[str, int]:
    """Every submitted record is in the store under its external id (also those of a request
    that failed after storing them), and every accepted one under the record id it was given."""
    from voc.settings import VocSettings
    from voc.store import Store

    store = Store.open(VocSettings(data_dir=data_dir, _env_file=None).resolved_database_url)
    found: dict[str, str] = {}
    try:
        for source in FeedbackWriter.SOURCES:
            found.update(store.records_by_external_id(WORKSPACE, source, sent))
    finally:
        store.close()
    return {
        "submitted": len(sent),
        "accepted": len(accepted),
        "stored": sum(e in found for e in sent),
        "missing": sum(e not in found for e in sent),
        "accepted_with_other_id": sum(found.get(e) != rid for e, rid in accepted.items()),
    }


def cached_vectors(data_dir: Path) -> int:
    """Vectors in the embedding cache: how many submitted units were new text to the model."""
    with sqlite3.connect(data_dir / "voc.db") as conn:
        return int(conn.execute("SELECT count(*) FROM embeddings").fetchone()[0])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["scenario", "clients", "requests", "throughput_rps", "p50_ms", "p95_ms", "p99_ms"]
    columns += ["errors", "target_p95_ms", "met"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).rjust(widths[c]) for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="Measured seconds each.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Unmeasured seconds first.")
    parser.add_argument("--workers", type=int, default=1, help="`voc serve --workers`.")
    parser.add_argument(
        "--threads", type=int, default=None, help="Server's VOC_THREADS and BLAS threads."
    )
    for name, default in CLIENTS.items():
        parser.add_argument(f"--{name}-clients", type=int, default=default)
    parser.add_argument(
        "--scenario", choices=sorted(CLIENTS), action="append", help="Default: all."
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()
    scenarios = args.scenario or list(CLIENTS)

    base = build_base(CACHE / "base")
    data_dir = fresh_copy(base, CACHE / "run")
    tokens = create_tokens(data_dir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    load_before = load_average()
    env = server_env(data_dir, args.threads)
    server = start_server(env, port, args.workers, CACHE / "server.log")
    rows: list[dict[str, Any]] = []
    stored: dict[str, int] = {}
    try:
        ready_s = wait_ready(base_url, server)
        tag = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        clients = {name: getattr(args, f"{name}_clients") for name in CLIENTS}
        for name in scenarios:
            if name == "healthz":
                outcome, window = asyncio.run(
                    drive(base_url, clients[name], args.duration, args.warmup, _healthz)
                )
            elif name == "themes":
                outcome, window = asyncio.run(
                    run_themes(base_url, tokens["read"], clients[name], args.duration, args.warmup)
                )
            else:
                writer = FeedbackWriter(args.seed)
                vectors_before = cached_vectors(data_dir)
                outcome, window, sent, accepted, units = asyncio.run(
                    run_feedback(
                        base_url,
                        tokens["submit"],
                        clients[name],
                        args.duration,
                        args.warmup,
                        writer,
                        tag,
                    )
                )
                stored = verify_stored(data_dir, sent, accepted)
                stored["units"] = units
                stored["units_embedded"] = cached_vectors(data_dir) - vectors_before
                if stored["missing"] or stored["accepted_with_other_id"]:
                    outcome.errors.append(
                        f"{stored['missing']} submitted records not stored, "
                        f"{stored['accepted_with_other_id']} stored under another id"
                    )
            rows.append(summarise(name, clients[name], outcome, window))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "benchmark": "load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; clients and server share the machine",
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "server": f"voc serve --workers {args.workers}",
        "server_env": {k: v for k, v in env.items() if k != "VOC_DATA_DIR"},
        "server_ready_s": round(ready_s, 1),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "records_per_post": RECORDS_PER_POST,
        "scenarios": rows,
        "stored_check": stored,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_table(rows)
    if stored:
        print(f"stored check: {stored}")
    print(f"load average before {load_before}, after {result['load_average_after']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
