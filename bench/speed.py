"""Speed and memory per stage, from files to themes, at 10k to 1M units (issue 10).

    python -m bench.speed --sizes 10000,50000,100000 [--out bench/results/speed.json]
        [--plot docs/img/speed.png] [--data-dir .voc/bench-speed] [--reuse]

For each size (a number of units), bench/feedgen.py writes a bilingual corpus of ticket and
review files once (Chinese and English, 12 weeks of dates) from the demo corpus and Banking77,
varied so every unit is a distinct text; `<data-dir>/<size>/corpus` keeps it for later runs.
Then a fresh Python process per size (so each size's memory peak is its own) measures:

1. **ingest**: the files into a fresh SQLite store (`<data-dir>/<size>/voc/voc.db`) with
   `voc.pipeline.Ingestor.ingest_paths`: adapters, redaction, ids, segmentation, writes.
2. **embed, raw vs cached**: the raw encoder and `voc.embed.CachedEmbedder` over an empty
   scratch store, on the same sample of unit texts (`--sample`, 5,000 by default), measured
   back to back batch by batch in alternating order; the overhead is the cached time over
   the raw time, minus one. Target: at most 15%.
3. **embed cold**: every unit's analysis text through `CachedEmbedder` into the store's empty
   cache, in the pipeline's batches of 2,000.
4. **re-cluster**: `voc.pipeline.recluster` with the cache now warm; its `run.timings` (load,
   embed, cluster, describe, needs, store, ... whatever keys the pipeline records) are listed
   under it, each with the peak RSS of its time window.

"files → themes" adds ingest, embed cold and the re-cluster less its warm embedding: what a
first `voc ingest` + `voc recluster` on an empty embedding cache costs (jieba's dictionary
cache, built from the installed package, lives in <data-dir>/cache for every size and is warm
after the first size ever run, as numba's machine-code cache is). Each stage reports seconds,
units/s, its own peak RSS (sampled every 20 ms from /proc/self/statm by a background thread)
and the process's peak so far (getrusage ru_maxrss).

Targets (issue 10, this 2-core machine): re-cluster of 100k cached units <= 60 s; 10k units
from files to themes with an empty cache <= 30 s; peak memory <= 2 GB (2e9 bytes) at 100k;
1M cached units re-clustered in <= 15 min; embedding overhead <= 15% over the raw encoder.

A size's store (and its embedding cache) stays in the data dir. `--reuse` keeps it when it
already holds the size's units, skipping ingest and cold embedding (1M units take about 17
minutes to embed on two cores) and reporting their numbers from the run that measured them.
Without `--reuse` the store is rebuilt. Results for every size measured so far are merged
into the JSON (`--out`), which the plot (`--plot`: seconds per stage against units, log-log,
and peak memory against units) draws.

Data: the demo corpus (corpora/demo, Apache-2.0 with this repository) and Banking77
(I. Casanueva, T. Temčinas, D. Gerz, M. Henderson, I. Vulić, "Efficient Intent Detection with
Dual Sentence Encoders", NLP4ConvAI 2020, arXiv:2003.04807; github.com/PolyAI-LDN/
task-specific-datasets), licensed CC-BY-4.0, read from ../shared/data/banking77/train.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKSPACE = "speed"
EMBED_BATCH = 2000
"""Texts per CachedEmbedder call, as the pipeline's engine batches (voc.engine)."""
MIB = 1024 * 1024
PEAK_LIMIT_BYTES = 2e9


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    text: str
    size: int | None
    """The size it applies to (None: every size)."""
    limit: float
    unit: str


TARGETS = (
    Target("recluster_100k", "re-cluster 100k cached units", 100_000, 60.0, "s"),
    Target("e2e_10k", "10k units files → themes, empty cache", 10_000, 30.0, "s"),
    Target(
        "peak_100k",
        "peak memory at 100k (with the needs reader)",
        100_000,
        PEAK_LIMIT_BYTES / MIB,
        "MiB",
    ),
    Target("recluster_1m", "re-cluster 1M cached units", 1_000_000, 900.0, "s"),
    Target("embed_overhead", "embedding overhead over the raw encoder", None, 15.0, "%"),
)


# -- memory and load sampling ------------------------------------------------------------------


class Sampler(threading.Thread):
    """Memory every `interval` s (and the 1-minute load average every second), kept as a
    timeline so any time window's peak can be read afterwards.

    Memory is this process's RSS (/proc/self/statm) plus the private memory of its children
    (/proc/<pid>/smaps_rollup): the re-cluster's needs reader is a fork, sharing most of its
    pages with this process, so its RSS would count them twice; what it adds to the machine
    is what it does not share."""

    def __init__(self, interval: float = 0.02) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.fd = os.open("/proc/self/statm", os.O_RDONLY)
        self.times: list[float] = []
        self.rss: list[int] = []
        self.load: list[float] = []
        self._halt = threading.Event()

    def read(self) -> int:
        return int(os.pread(self.fd, 128, 0).split()[1]) * self.page + children_private()

    def run(self) -> None:
        last_load = 0.0
        while not self._halt.is_set():
            now = time.perf_counter()
            value = self.read()
            if not self.rss or value != self.rss[-1] or now - self.times[-1] > 1.0:
                self.times.append(now)
                self.rss.append(value)
            if now - last_load >= 1.0:
                self.load.append(os.getloadavg()[0])
                last_load = now
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float, end: float) -> int:
        """Highest RSS in [start, end]: the samples inside it and the one in force when it
        began (a sample is kept only when the RSS changed, or once a second)."""
        best = 0
        for t, value in zip(self.times, self.rss, strict=True):
            if t <= start:
                best = value
            elif t <= end:
                best = max(best, value)
            else:
                break
        return best or self.read()


def process_peak() -> int:
    """This process's peak RSS so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak() -> int:
    """The largest peak RSS of this process's finished children, in bytes: the re-cluster's
    needs reader (voc.pipeline.NeedsReader), a fork whose RSS also counts the pages it still
    shares with this process (the sampler counts only its private ones)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def children_private() -> int:
    """Private (unshared) memory of this process's running children, in bytes."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children", encoding="ascii") as f:
            pids = f.read().split()
    except OSError:
        return 0
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                total += sum(
                    int(line.split()[1]) * 1024
                    for line in f
                    if line.startswith(("Private_Clean:", "Private_Dirty:"))
                )
        except OSError:
            continue  # ended between the two reads
    return total


@dataclass(slots=True)
class Stage:
    name: str
    seconds: float
    units: int
    peak: int
    process_peak: int
    level: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "level": self.level,
            "seconds": round(self.seconds, 3),
            "units": self.units,
            "units_per_s": round(self.units / self.seconds, 1) if self.seconds > 0 else None,
            "peak_mib": round(self.peak / MIB, 1),
            "process_peak_mib": round(self.process_peak / MIB, 1),
            "note": self.note,
            **self.extra,
        }


class Meter:
    """Times stages and reads their memory from the sampler."""

    def __init__(self, sampler: Sampler, label: str) -> None:
        self.sampler = sampler
        self.label = label
        self.stages: list[Stage] = []

    def stage(self, name: str, units: int, start: float, note: str = "", **extra: Any) -> Stage:
        end = time.perf_counter()
        s = Stage(
            name,
            end - start,
            units,
            self.sampler.peak(start, end),
            process_peak(),
            note=note,
            extra=extra,
        )
        self.stages.append(s)
        rate = f"{units / s.seconds:,.0f} units/s" if s.seconds > 0 else ""
        log(f"[{self.label}] {name}: {s.seconds:.2f} s, {rate}, peak {s.peak / MIB:,.0f} MiB")
        return s


def log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)


# -- one size, in its own process --------------------------------------------------------------


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _unit_texts(store: Any) -> list[str]:
    return [u.norm_text for u in store.iter_units(WORKSPACE)]


def compare_embedding(embedder: Any, texts: list[str], scratch: Path) -> dict[str, Any]:
    """Raw encoder against CachedEmbedder over an empty cache on the same texts, batch by
    batch, alternating which goes first so drifting machine load hits both alike."""
    from voc.embed import CachedEmbedder
    from voc.store import Store

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    store = Store.open(f"sqlite:///{(scratch / 'voc.db').as_posix()}")
    cached = CachedEmbedder(embedder, store)
    raw_s = cached_s = 0.0
    for i, batch in enumerate(_chunks(texts, EMBED_BATCH)):
        for which in ("raw", "cached") if i % 2 == 0 else ("cached", "raw"):
            t0 = time.perf_counter()
            (embedder if which == "raw" else cached).encode(batch)
            elapsed = time.perf_counter() - t0
            if which == "raw":
                raw_s += elapsed
            else:
                cached_s += elapsed
    store.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "sample": len(texts),
        "raw_seconds": raw_s,
        "cached_seconds": cached_s,
        "raw_units_per_s": round(len(texts) / raw_s, 1),
        "cached_units_per_s": round(len(texts) / cached_s, 1),
        "overhead_pct": round(100 * (cached_s / raw_s - 1), 2),
    }


def run_size(size: int, data_dir: Path, reuse: bool, sample: int, threads: int) -> dict[str, Any]:
    """Every stage for one size, in this (fresh) process; returns the size's result."""
    from voc.settings import VocSettings, apply_thread_limits

    apply_thread_limits(threads)
    import numpy as np

    from bench.feedgen import SOURCES
    from voc.embed import CachedEmbedder, load_embedder
    from voc.pipeline import Ingestor, recluster
    from voc.store import Store

    label = f"{size:,}"
    size_dir = data_dir / str(size)
    corpus = size_dir / "corpus"
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    store_dir = size_dir / "voc"
    saved_path = size_dir / "stages.json"
    saved = json.loads(saved_path.read_text(encoding="utf-8")) if saved_path.is_file() else {}
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    sampler = Sampler()
    sampler.start()
    meter = Meter(sampler, label)

    settings = VocSettings(
        data_dir=store_dir,
        database_url=f"sqlite:///{(store_dir / 'voc.db').as_posix()}",
        workspace=WORKSPACE,
        threads=threads,
        # Package-derived caches (jieba's dictionary) are shared by every size and warm, as
        # numba's machine-code cache is: "empty cache" in the targets means the embeddings.
        cache_dir=data_dir / "cache",
        _env_file=None,
    )
    # --reuse keeps what an earlier invocation finished: the ingested store, and the cold
    # embedding once complete (an interrupted one resumes, and is marked as not cold).
    ingested = (
        reuse
        and saved.get("manifest_created") == manifest["created"]
        and "ingest" in saved
        and (store_dir / "voc.db").is_file()
    )
    reusable = ingested and "embed_cold" in saved
    if not ingested:
        shutil.rmtree(store_dir, ignore_errors=True)
        saved = {"manifest_created": manifest["created"]}
    store_dir.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.resolved_database_url)

    def save() -> None:
        saved_path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")

    if ingested:
        units = store.count(WORKSPACE, "units")
        if units != saved["ingest"]["units"]:
            raise SystemExit(
                f"{store_dir}: {units} units stored, {saved['ingest']['units']} expected; "
                "run without --reuse"
            )
        what = "embeddings cached" if reusable else "resuming the cold embedding"
        log(f"[{label}] reusing the store: {units:,} units, {what}")
    else:
        ingestor = Ingestor(store, settings)
        t0 = time.perf_counter()
        counts = {"read": 0, "accepted": 0, "duplicate": 0, "rejected": 0, "units": 0}
        for folder, source in SOURCES.items():
            summary = ingestor.ingest_paths([corpus / folder], source, WORKSPACE)
            for key in counts:
                counts[key] += getattr(summary, key)
        ingest = meter.stage(
            "ingest",
            counts["units"],
            t0,
            note=f"{counts['read'] / (time.perf_counter() - t0):,.0f} records/s",
            **{k: v for k, v in counts.items() if k != "units"},
        )
        saved["ingest"] = {**ingest.as_dict(), "measured": started.isoformat(timespec="seconds")}
        save()

    # Loaded after ingesting, so the ingest stage's peak is ingestion's own.
    embedder = load_embedder(settings.model, threads=threads)
    texts = _unit_texts(store)
    # Warm the encoder (first calls build caches, fault in weights) on texts not measured.
    embedder.encode(texts[-200:])
    step = max(1, len(texts) // sample)
    picked = texts[::step][:sample]
    t0 = time.perf_counter()
    compare = compare_embedding(embedder, picked, size_dir / "scratch")
    window = sampler.peak(t0, time.perf_counter()), process_peak()
    meter.stages += [
        Stage("embed raw (sample)", compare["raw_seconds"], len(picked), *window),
        Stage(
            "embed cached (sample)",
            compare["cached_seconds"],
            len(picked),
            *window,
            note=f"overhead {compare['overhead_pct']:+.1f}%, empty cache, back to back",
        ),
    ]
    log(
        f"[{label}] embed sample of {len(picked):,}: raw {compare['raw_units_per_s']:,.0f}/s, "
        f"cached {compare['cached_units_per_s']:,.0f}/s, overhead {compare['overhead_pct']:+.1f}%"
    )

    if not reusable:
        t0 = time.perf_counter()
        cached = CachedEmbedder(embedder, store)
        done = 0
        next_log = time.perf_counter() + 60
        for batch in _chunks(texts, EMBED_BATCH):
            cached.encode(batch)
            done += len(batch)
            if time.perf_counter() >= next_log:
                rate = done / (time.perf_counter() - t0)
                log(f"[{label}] embed cold: {done:,}/{len(texts):,}, {rate:,.0f} units/s")
                next_log += 60
        note = f"all units; {cached.misses:,} embedded, {cached.hits:,} cache hits"
        if ingested:
            note += " (resumed: not a cold number)"
        cold = meter.stage(
            "embed cold",
            len(texts),
            t0,
            misses=cached.misses,
            hits=cached.hits,
            resumed=ingested,
            note=note,
        )
        saved["embed_cold"] = {**cold.as_dict(), "measured": started.isoformat(timespec="seconds")}
        save()
    del texts

    previous = store.current_run(WORKSPACE)
    t0 = time.perf_counter()
    run, _ = recluster(store, settings, WORKSPACE, embedder)
    end = time.perf_counter()
    rc = meter.stage(
        "re-cluster (warm cache)",
        run.n_units,
        t0,
        note=f"{run.n_themes} themes, {run.unassigned:,} unassigned"
        + (", previous run voting" if previous else ""),
    )
    # The run's own timings, in the order the pipeline recorded them; each top-level step's
    # window is placed by adding up the steps before it (the gaps between steps are small).
    clock = t0
    for key, seconds in run.timings.items():
        if "." in key:
            meter.stages.append(Stage(key, seconds, run.n_units, 0, 0, level=2))
            continue
        peak = sampler.peak(clock, min(clock + seconds, end))
        clock += seconds
        meter.stages.append(Stage(key, seconds, run.n_units, peak, 0, level=1))
    timings = {k: round(v, 3) for k, v in run.timings.items()}

    # A re-run on the same units: what a weekly job pays when nothing is new, every vector and
    # needs reading cached and the first run voting. The re-cluster targets are measured here.
    t0 = time.perf_counter()
    rerun, _ = recluster(store, settings, WORKSPACE, embedder)
    again = meter.stage(
        "re-cluster again (all cached)",
        rerun.n_units,
        t0,
        note=f"{rerun.n_themes} themes, the first run voting",
    )
    for key, seconds in rerun.timings.items():
        if "." not in key:
            meter.stages.append(Stage(f"again: {key}", seconds, rerun.n_units, 0, 0, level=1))

    sampler.stop()
    result: dict[str, Any] = {
        "size": size,
        "date": started.isoformat(timespec="seconds"),
        "units": run.n_units,
        "records": manifest["records"],
        "corpus": {k: manifest[k] for k in ("seed", "version", "by_kind", "units_by_lang")},
        "reused": ingested,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "load_1m_during": [round(min(sampler.load), 2), round(max(sampler.load), 2)]
        if sampler.load
        else [],
        "numpy": np.__version__,
        "model_id": embedder.model_id,
        "threads": threads,
        "peak_mib": round(process_peak() / MIB, 1),
        "reader_peak_mib": round(children_peak() / MIB, 1),
        "peak_with_reader_mib": round(sampler.peak(0.0, time.perf_counter()) / MIB, 1),
        "embed_compare": compare,
        "recluster": {
            "seconds": round(rc.seconds, 3),
            "timings": timings,
            "n_themes": run.n_themes,
            "unassigned": run.unassigned,
            "previous_run": previous.run_id if previous else None,
        },
        "rerun": {
            "seconds": round(again.seconds, 3),
            "timings": {k: round(v, 3) for k, v in rerun.timings.items()},
            "n_themes": rerun.n_themes,
            "peak_mib": round(again.peak / MIB, 1),
        },
        "stages": [s.as_dict() for s in meter.stages],
    }
    ingest_d, cold_d = saved["ingest"], saved["embed_cold"]
    if ingested:
        result["reused_stages"] = {"ingest": ingest_d}
        if reusable:
            result["reused_stages"]["embed_cold"] = cold_d
    encode_rate = cold_d["units_per_s"] or 0
    result["embed_cold_overhead_pct"] = (
        round(100 * (compare["raw_units_per_s"] / encode_rate - 1), 2) if encode_rate else None
    )
    # Only when this process did it all: a reused store's re-cluster finds the previous run
    # and the needs readings already there, and a resumed embedding is not cold.
    result["e2e_seconds"] = (
        None
        if ingested
        else round(
            ingest_d["seconds"] + cold_d["seconds"] + rc.seconds - run.timings.get("embed", 0.0),
            3,
        )
    )
    store.close()
    return result


# -- targets, tables, plot ---------------------------------------------------------------------


def check_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    size = result["size"]
    measured = {
        "recluster_100k": result["rerun"]["seconds"],
        "recluster_1m": result["rerun"]["seconds"],
        "e2e_10k": result["e2e_seconds"],
        "peak_100k": max(result["peak_mib"], result.get("peak_with_reader_mib", 0.0)),
        "embed_overhead": result["embed_compare"]["overhead_pct"],
    }
    out = []
    for t in TARGETS:
        if t.size is not None and t.size != size:
            continue
        value = measured[t.key]
        if value is None:
            out.append(
                {
                    "target": t.text,
                    "limit": round(t.limit, 1),
                    "unit": t.unit,
                    "measured": None,
                    "status": "n/a",
                    "note": "not measured with --reuse: run this size without it",
                }
            )
            continue
        note = ""
        if t.key == "peak_100k" and result.get("reused"):
            note = "ingest and cold embedding reused: their memory is not in this peak"
        out.append(
            {
                "target": t.text,
                "limit": round(t.limit, 1),
                "unit": t.unit,
                "measured": value,
                "status": "PASS" if value <= t.limit else "MISS",
                "note": note,
            }
        )
    return out


def print_size(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 140))
    if "error" in result:
        console.print(f"[bold red]{result['size']:,}: failed[/] {result['error']}")
        return
    load = result["load_1m_during"]
    table = Table(
        title=f"{result['units']:,} units ({result['records']:,} records), {result['date']}, "
        f"load average {result['load_average_start'][0]:.1f} at start"
        + (f", {load[0]:.1f}–{load[1]:.1f} while measuring" if load else ""),
        title_justify="left",
    )
    for col in ("stage", "seconds", "units/s", "peak MiB", "process peak MiB", "note"):
        table.add_column(col, justify="left" if col in ("stage", "note") else "right")

    def row(s: dict[str, Any], suffix: str = "") -> None:
        indent = "  " * s["level"] + ("· " if s["level"] else "")
        table.add_row(
            indent + s["stage"] + suffix,
            f"{s['seconds']:,.2f}",
            f"{s['units_per_s']:,.0f}" if s.get("units_per_s") and s["seconds"] >= 0.01 else "",
            f"{s['peak_mib']:,.0f}" if s["peak_mib"] else "",
            f"{s['process_peak_mib']:,.0f}" if s["process_peak_mib"] else "",
            s.get("note", ""),
            style="dim" if s["level"] == 2 else None,
        )

    for s in result.get("reused_stages", {}).values():
        row(s, f" (reused, measured {s.get('measured', '?')[:16]})")
    for s in result["stages"]:
        row(s)
    e2e = result["e2e_seconds"]
    table.add_row(
        "files → themes (empty cache)",
        f"{e2e:,.2f}" if e2e else "–",
        f"{result['units'] / e2e:,.0f}" if e2e else "",
        "",
        f"{result['peak_mib']:,.0f}",
        "ingest + embed cold + re-cluster less its warm embed"
        if e2e
        else "not with --reuse (previous run and needs readings already stored)",
        style="bold",
    )
    console.print(table)
    if result.get("peak_with_reader_mib"):
        console.print(
            f"Peak with the needs reader's private memory: {result['peak_with_reader_mib']:,.0f}"
            f" MiB (the reader's own RSS, shared pages included: "
            f"{result['reader_peak_mib']:,.0f} MiB)."
        )
    busy = max(result["load_average_start"][0], *(load or [0.0]))
    if busy > 0.75 * (os.cpu_count() or 2):
        console.print(
            f"[yellow]The machine was busy (load average up to {busy:.1f} on "
            f"{os.cpu_count()} cores): not comparable with a quiet machine's numbers. With "
            f"{result['threads']} BLAS thread(s) on busy cores the encoder waits on descheduled "
            "threads; measure when the machine is quiet.[/]"
        )
    targets = Table("target", "measured", "limit", "", "note", title_justify="left")
    for t in result["targets"]:
        colour = {"PASS": "green", "MISS": "red"}.get(t["status"], "yellow")
        targets.add_row(
            t["target"],
            "–" if t["measured"] is None else f"{t['measured']:,.1f} {t['unit']}",
            f"≤ {t['limit']:,.0f} {t['unit']}",
            f"[{colour}]{t['status']}[/]",
            t["note"],
        )
    console.print(targets)


PLOT_STAGES = (
    ("ingest", "ingest"),
    ("embed cold", "embed cold"),
    ("re-cluster (warm cache)", "re-cluster (first, reads needs)"),
    ("re-cluster again (all cached)", "re-run, all cached (the targets)"),
    ("load", "· load"),
    ("embed", "· embed (warm)"),
    ("cluster", "· cluster"),
    ("describe", "· describe"),
    ("needs", "· needs"),
    ("store", "· store"),
    ("assign", "· assign"),
)


def _stage_map(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stages = {s["stage"]: s for s in result["stages"] if s["level"] < 2 and not s.get("resumed")}
    for s in result.get("reused_stages", {}).values():
        stages.setdefault(s["stage"], s)
    return stages


def plot(results: list[dict[str, Any]], path: Path, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = sorted((r for r in results if "error" not in r), key=lambda r: r["units"])
    if not ok:
        return
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.2))
    for key, label in PLOT_STAGES:
        pts = [
            (r["units"], _stage_map(r)[key]["seconds"])
            for r in ok
            if key in _stage_map(r) and _stage_map(r)[key]["seconds"] >= 1e-3
        ]
        if pts:
            style = "--" if label.startswith("·") else "-"
            ax_t.plot(*zip(*pts, strict=True), style, marker="o", label=label)
    raw = [(r["units"], r["units"] / r["embed_compare"]["raw_units_per_s"]) for r in ok]
    ax_t.plot(*zip(*raw, strict=True), ":", color="grey", label="raw encoder (sample rate)")
    e2e = [(r["units"], r["e2e_seconds"]) for r in ok if r.get("e2e_seconds")]
    if e2e:
        ax_t.plot(*zip(*e2e, strict=True), "-", color="black", marker="s", label="files → themes")
    for x, y, text in ((100_000, 60, "≤ 60 s"), (1_000_000, 900, "≤ 15 min"), (10_000, 30, "")):
        ax_t.plot([x], [y], marker="v", color="red", markersize=9, linestyle="none")
        if text:
            ax_t.annotate(text, (x, y), textcoords="offset points", xytext=(6, 4), color="red")
    ax_t.annotate("e2e ≤ 30 s", (10_000, 30), textcoords="offset points", xytext=(6, 4), c="red")
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_t.set_xlabel("units")
    ax_t.set_ylabel("seconds")
    ax_t.set_title("time per stage (▼ targets)")
    ax_t.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=7, ncol=2)

    for key, label in PLOT_STAGES[:3]:
        pts = [(r["units"], _stage_map(r)[key]["peak_mib"]) for r in ok if key in _stage_map(r)]
        if pts:
            ax_m.plot(*zip(*pts, strict=True), marker="o", label=f"{label} (stage peak)")
    peaks = [(r["units"], r["peak_mib"]) for r in ok]
    ax_m.plot(*zip(*peaks, strict=True), "-", color="black", marker="s", label="process peak")
    ax_m.axhline(PEAK_LIMIT_BYTES / MIB, color="red", linestyle=":", label="2 GB")
    ax_m.plot([100_000], [PEAK_LIMIT_BYTES / MIB], marker="v", color="red", markersize=9)
    ax_m.annotate(
        "≤ 2 GB at 100k",
        (100_000, PEAK_LIMIT_BYTES / MIB),
        xytext=(6, -14),
        textcoords="offset points",
        color="red",
    )
    ax_m.set_ylim(bottom=0)
    ax_m.set_xscale("log")
    ax_m.set_xlabel("units")
    ax_m.set_ylabel("peak RSS, MiB")
    ax_m.set_title("peak memory (▼ target)")
    ax_m.grid(True, which="both", alpha=0.3)
    ax_m.legend(fontsize=7)
    dates = sorted({r["date"][:10] for r in ok})
    fig.suptitle(f"voc speed: {machine}; {', '.join(dates)}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="Units, comma-separated.")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "speed.png")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".voc" / "bench-speed")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep a size's ingested, embedded store."
    )
    parser.add_argument("--sample", type=int, default=5000, help="Texts for raw vs cached.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()

    if args.worker is not None:
        result = run_size(args.worker, data_dir, args.reuse, args.sample, args.threads)
        args.result.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return

    from bench.feedgen import write_corpus

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    machine = machine_info()
    merged: dict[str, Any] = {}
    if args.out.is_file():
        merged = json.loads(args.out.read_text(encoding="utf-8")).get("sizes", {})
    for size in sizes:
        size_dir = data_dir / str(size)
        t0 = time.perf_counter()
        manifest = write_corpus(size_dir / "corpus", size, args.seed)
        log(
            f"[{size:,}] corpus: {manifest['records']:,} records in {len(manifest['files'])} "
            f"files ({time.perf_counter() - t0:.1f} s; generated {manifest['created']})"
        )
        result_path = size_dir / "result.json"
        result_path.unlink(missing_ok=True)
        command = [sys.executable, "-m", "bench.speed", "--worker", str(size)]
        command += ["--data-dir", str(data_dir), "--result", str(result_path)]
        command += ["--sample", str(args.sample), "--threads", str(args.threads)]
        command += ["--reuse"] if args.reuse else []
        proc = subprocess.run(command, cwd=ROOT, check=False)
        if proc.returncode == 0 and result_path.is_file():
            result = json.loads(result_path.read_text(encoding="utf-8"))
            result["targets"] = check_targets(result)
        else:
            result = {
                "size": size,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "error": f"worker exited with {proc.returncode}",
            }
        result["machine"] = machine
        print_size(result)
        merged[str(size)] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "benchmark": "speed",
                    "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": machine,
                    "targets": [
                        {"target": t.text, "size": t.size, "limit": t.limit, "unit": t.unit}
                        for t in TARGETS
                    ],
                    "sizes": dict(sorted(merged.items(), key=lambda kv: int(kv[0]))),
                },
                indent=2,
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
    if args.plot:
        label = f"{machine['cpu'] or machine['machine']}, {machine['cpu_count']} cores"
        plot(list(merged.values()), args.plot, label)
        log(f"plot: {args.plot}")
    log(f"results: {args.out}")


if __name__ == "__main__":
    main()
