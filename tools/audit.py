"""Audit the installed dependencies for known vulnerabilities (`make audit`, run by `make test`).

Why a wrapper around pip-audit rather than `pip-audit --local` alone:

- pip-audit exits 0 when it could audit nothing: a package whose version the vulnerability
  service does not know is "skipped" with a note, and a mirror that serves only project pages
  (`/pypi/NAME/json`, not `/pypi/NAME/VERSION/json`) makes every package skipped. Here each
  skipped package is checked again against its project page, whose `vulnerabilities` list
  describes the newest release, which is the pinned one when the pin is current; a package
  still unaudited after that is listed by name, and a run that audited nothing fails.
- torch is installed from a local CPU wheel (`2.13.0+cpu`); its local version label is
  dropped so the upstream release of the same source is audited.
- Offline (PyPI unreachable) the audit is skipped with a message instead of failing, so
  `make test` still works on a machine without network; CI has network.

Known findings that cannot be fixed yet are listed in IGNORED with the reason, and in
docs/security.md. Exit status: 0 clean or offline, 1 a vulnerability or nothing audited,
2 pip-audit itself failed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PYPI = "https://pypi.org"
TIMEOUT_S = 20
IGNORED: dict[str, str] = {}
"""Vulnerability id -> why it is accepted for now (keep in step with docs/security.md)."""
NOT_ON_PYPI = frozenset({"voc"})
"""Installed distributions that are this project, not a dependency."""


def _online() -> str | None:
    """None when PyPI answers, else why not."""
    try:
        with urllib.request.urlopen(f"{PYPI}/simple/pip/", timeout=TIMEOUT_S):
            return None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def _frozen() -> dict[str, str]:
    """name -> version of every installed distribution, local labels (`+cpu`) dropped."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format", "json", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = {_canonical(p["name"]): p["version"].split("+", 1)[0] for p in json.loads(out)}
    return {n: v for n, v in sorted(pins.items()) if n not in NOT_ON_PYPI}


def _canonical(name: str) -> str:
    """PEP 503 names: pip list and pip-audit spell `typing_extensions` differently."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_audit(pins: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
        command = [sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps"]
        command += ["--disable-pip", "--format", "json", "--progress-spinner", "off"]
        for vuln in IGNORED:
            command += ["--ignore-vuln", vuln]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        sys.stderr.write(done.stderr)
        raise SystemExit(f"audit FAILED: pip-audit exited {done.returncode} (output above)")
    return json.loads(done.stdout)


def _project_vulns(name: str, version: str) -> list[dict[str, Any]] | None:
    """Vulnerabilities of `version` from the project page, or None when the page does not
    describe that version (not the newest release, or no page)."""
    try:
        with urllib.request.urlopen(f"{PYPI}/pypi/{name}/json", timeout=TIMEOUT_S) as response:
            page = json.load(response)
    except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError):
        return None
    if page.get("info", {}).get("version") != version:
        return None
    return [
        {"id": v["id"], "fix_versions": v.get("fixed_in", []), "aliases": v.get("aliases", [])}
        for v in page.get("vulnerabilities", [])
        if not v.get("withdrawn") and v["id"] not in IGNORED
    ]


def main() -> int:
    offline = _online()
    if offline is not None:
        print(f"audit SKIPPED: PyPI cannot be reached ({offline}); run `make audit` online.")
        return 0
    pins = _frozen()
    report = _pip_audit(pins)
    found: list[tuple[str, str, dict[str, Any]]] = []
    unaudited: list[str] = []
    audited = 0
    for dep in report.get("dependencies", []):
        name = _canonical(dep["name"])
        version = dep.get("version") or pins.get(name, "?")
        vulns = dep.get("vulns")
        if "skip_reason" in dep:
            vulns = _project_vulns(name, version)
            if vulns is None:
                unaudited.append(f"{name}=={version}")
                continue
        audited += 1
        found.extend((name, version, v) for v in vulns or [])
    print(f"audit: {audited} of {len(pins)} installed packages audited against PyPI")
    if unaudited:
        print(
            "audit WARNING: no vulnerability data for these pinned versions (not the newest "
            f"release, and the service does not know them): {', '.join(unaudited)}"
        )
    for vuln in IGNORED:
        print(f"audit: ignoring {vuln}: {IGNORED[vuln]}")
    if found:
        for name, version, vuln in found:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            print(f"audit FAILED: {name}=={version} has {vuln['id']} ({aliases}); fixed in {fixes}")
        print("Upgrade the pin in pyproject.toml, or accept it in tools/audit.py IGNORED with")
        print("the reason, and in docs/security.md.")
        return 1
    if audited == 0:
        print("audit FAILED: not a single package could be audited; see the lines above.")
        return 1
    print("audit: no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
