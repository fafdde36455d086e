"""The `voc` command starts fast: help and argument errors need none of the heavy modules;
a command pins the numeric thread pools to VOC_THREADS before it loads them.

Importing voc.pipeline (spaCy, torch, scipy, numba, scikit-learn), the store (SQLAlchemy,
Alembic) and the settings (pydantic-settings) at the top of voc/cli.py made `voc --help` take
5-8 s on two cores; the commands import them when they run. (pydantic itself is not on the
list: typer imports it to describe a command's options.) The checks look at sys.modules in a
fresh interpreter rather than at the clock, which a busy machine would make flaky.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "torch",
    "numba",
    "sklearn",
    "scipy",
    "spacy",
    "numpy",
    "sqlalchemy",
    "alembic",
    "pydantic_settings",
    "voc.pipeline",
    "voc.store",
    "voc.settings",
    "voc.embed",
)

# Runs `voc ARGS` the way the console script does (python -m voc) and prints, after it exits,
# the heavy modules it imported and what it printed.
RUN_VOC = """
import contextlib, io, json, runpy, sys
heavy, args = json.loads(sys.argv[1])
sys.argv = ["voc", *args]
out, code = io.StringIO(), None
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("voc", run_name="__main__")
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(),
                  "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def _voc(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RUN_VOC, json.dumps([HEAVY, args])],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, voc.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [["--help"], ["ingest", "--help"], ["recluster", "--help"], ["keys", "create", "--help"]],
    ids=" ".join,
)
def test_help_is_printed_without_loading_heavy_modules(args: list[str]) -> None:
    ran = _voc(*args)

    assert ran["code"] in (0, None)
    assert "Usage: voc" in ran["out"]
    assert ran["loaded"] == []


def test_top_level_help_still_lists_every_command() -> None:
    out = _voc("--help")["out"]

    commands = ("ingest", "rejects", "demo", "recluster", "cluster", "themes", "keys")
    for command in (*commands, "report", "export", "serve"):
        assert f"│ {command} " in out, command


def test_a_command_pins_blas_to_voc_threads_before_numpy_loads() -> None:
    code = (
        "import voc.cli; voc.cli._settings(); import numpy, threadpoolctl; "
        "print(sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() "
        "if p['user_api'] == 'blas'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "VOC_THREADS": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1]"
