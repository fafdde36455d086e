"""The production set-up (Dockerfile, docker-compose.yml, .dockerignore; docs/deployment.md)
keeps the properties it is documented with. The files are parsed, not built: no image is built
or run here. Where a Docker Compose v2 CLI is installed, `docker compose config` validates the
compose file too, and where hadolint is, it lints the Dockerfile; otherwise those two tests are
skipped with the reason."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML: installed with voc (transformers, through sentence-transformers, needs it)

from voc.settings import CORPORA_DIR, MODELS_DIR, VocSettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PASSWORD_REF = re.compile(r"^\$\{VOC_DB_PASSWORD:\?[^}]+\}$")
"""How the database password may appear: a required variable, never a value."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", path.read_text(encoding="utf-8"))
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            steps.append((keyword.upper(), " ".join(args.split())))
    return steps


def _args(instruction: str) -> list[str]:
    return [args for keyword, args in _instructions(DOCKERFILE) if keyword == instruction]


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", duration))


def _bytes(size: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)[bB]?", size).groups()
    return float(number) * 1024 ** " KMG".index(unit.upper() or " ")


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (key path, string value) in a parsed YAML document."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _strings(value, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


# ---- docker-compose.yml


def test_three_services_postgres_api_and_worker(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "api", "worker"}
    assert re.fullmatch(r"postgres:16(\.\d+)*(-\w+)?", services["postgres"]["image"])
    assert services["api"]["image"] == services["worker"]["image"]  # one image, built once


@pytest.mark.parametrize("name", ["api", "worker"])
def test_api_and_worker_wait_for_a_healthy_postgres(services: dict[str, Any], name: str) -> None:
    assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    test = services["postgres"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]


def test_no_password_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    strings = _strings(compose)
    passwords = [value for path, value in strings if "PASSWORD" in path.rsplit(".", 1)[-1]]
    assert passwords, "postgres gets its password from the environment"
    for value in passwords:
        assert PASSWORD_REF.match(value), value
    urls = [(path, value) for path, value in strings if "://" in value]
    assert any(path.endswith("VOC_DATABASE_URL") for path, _ in urls)
    for path, value in urls:
        userinfo = re.match(r"^[\w+.-]+://([^@/]*)@", value)
        if userinfo and ":" in userinfo.group(1):
            secret = userinfo.group(1).split(":", 1)[1]
            assert PASSWORD_REF.match(secret), f"{path} carries a password: {value}"


def test_the_api_serves_on_all_interfaces_inside_and_loopback_outside(
    services: dict[str, Any],
) -> None:
    api = services["api"]
    command = api["command"]
    assert command[:3] == ["serve", "--host", "0.0.0.0"]
    assert command[command.index("--port") + 1] == "8000"
    assert "--workers" in command
    assert api["ports"] == ["127.0.0.1:${VOC_API_PORT:-8000}:8000"]
    assert "ports" not in services["postgres"] and "ports" not in services["worker"]


def test_the_api_health_check_asks_readyz(services: dict[str, Any]) -> None:
    test = services["api"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "http://127.0.0.1:8000/readyz" in " ".join(test)
    # The image's own check (liveness, /healthz) means nothing for the worker: no HTTP there.
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_the_worker_runs_the_weekly_scheduler(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert worker["entrypoint"] == ["python", "-m", "pipelines.scheduler"]
    for option in ("--weekday", "--at", "--tz"):
        assert option in worker["command"]


def test_restart_policies_limits_and_rotated_logs(services: dict[str, Any]) -> None:
    memory = 0.0
    for name, service in services.items():
        assert service["restart"] in {"unless-stopped", "always"}, name
        limits = service["deploy"]["resources"]["limits"]
        assert 0 < float(limits["cpus"]) <= 2, name  # a 2-core machine
        memory += _bytes(limits["memory"])
        assert _bytes(limits["memory"]) <= 2 * 1024**3, name
        logging = service["logging"]
        assert logging["driver"] in {"json-file", "local"}, name
        assert _bytes(logging["options"]["max-size"]) <= 100 * 1024**2, name
        assert int(logging["options"]["max-file"]) >= 1, name
    # Limits are ceilings, not reservations: together they may exceed the 4 GB a little
    # (the worker's weekly run and the API's busy hours rarely meet), not by much.
    assert memory <= 5 * 1024**3


@pytest.mark.parametrize("name", ["api", "worker"])
def test_stop_grace_covers_the_servers_own_shutdown(services: dict[str, Any], name: str) -> None:
    """docker stop's SIGKILL must not come before voc's graceful shutdown is done: requests get
    VOC_SHUTDOWN_GRACE_S, then running jobs as long again."""
    grace = VocSettings.model_fields["shutdown_grace_s"].default
    assert _seconds(services[name]["stop_grace_period"]) > 2 * grace
    assert services[name]["init"] is True  # signals passed on, children reaped


@pytest.mark.parametrize("name", ["api", "worker"])
def test_voc_containers_keep_their_threads_to_their_cores(
    services: dict[str, Any], name: str
) -> None:
    environment = services[name]["environment"]
    cpus = float(services[name]["deploy"]["resources"]["limits"]["cpus"])
    threads = {
        environment[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    assert len(threads) == 1 and int(threads.pop()) <= cpus
    assert environment["VOC_DATA_DIR"] == "/data"
    assert "voc-data:/data" in services[name]["volumes"]
    assert services[name]["cap_drop"] == ["ALL"]


# ---- Dockerfile


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = _args("USER")
    assert users, "the Dockerfile has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert "--uid " + user in " ".join(_args("RUN")) or not user.isdigit()


def test_the_base_is_python_311_slim_on_debian_bookworm() -> None:
    for base in _args("FROM"):
        assert base.split()[0] == "python:3.11-slim-bookworm"


def test_torch_is_the_cpu_build_at_the_makefiles_version() -> None:
    makefile_pins = set(re.findall(r"torch==([\w.]+)", (ROOT / "Makefile").read_text()))
    assert len(makefile_pins) == 1
    (version,) = makefile_pins
    pyproject_pins = set(re.findall(r"torch==([\w.]+)", (ROOT / "pyproject.toml").read_text()))
    assert pyproject_pins <= {version}
    installs = [run for run in _args("RUN") if re.search(r"pip install torch\b", run)]
    assert len(installs) == 1
    assert (
        f"pip install torch=={version} --index-url https://download.pytorch.org/whl/cpu"
        in (installs[0])
    )
    # The build fails if the CPU torch was replaced while the other dependencies went in.
    assert any(f"torch.__version__ == '{version}+cpu'" in run for run in _args("RUN"))
    # And torch goes in before anything that depends on it.
    runs = _args("RUN")
    assert runs.index(installs[0]) < min(i for i, r in enumerate(runs) if "requirements" in r)


def test_voc_is_installed_without_dev_extras_with_its_data_directories() -> None:
    runs = " ".join(_args("RUN"))
    assert "pip install --no-deps -e ." in runs
    assert not re.search(r"\.\[[^\]]*\]", runs), "no extras in the image"
    copied = {args.split()[0] for args in _args("COPY") if not args.startswith("--from")}
    # What voc reads next to its source at run time, and the packages pyproject installs.
    assert {CORPORA_DIR.name, MODELS_DIR.name, "voc", "api", "pipelines"} <= copied
    assert {"pyproject.toml", "README.md"} <= copied


def test_the_image_serves_the_api_by_default_with_a_liveness_check() -> None:
    assert _args("ENTRYPOINT") == ['["voc"]']
    assert json.loads(_args("CMD")[-1])[:3] == ["serve", "--host", "0.0.0.0"]
    assert _args("EXPOSE") == ["8000"]
    (check,) = _args("HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in check and "python" in check


def test_the_image_keeps_data_on_a_volume_and_threads_to_voc_threads() -> None:
    env = " ".join(_args("ENV"))
    assert "VOC_DATA_DIR=/data" in env
    assert _args("VOLUME") == ['["/data"]']
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert f"{variable}=${{VOC_THREADS}}" in env
    assert "HF_HUB_OFFLINE=1" in env  # no model download at run time, ever


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", ".voc", "artifacts", "tests", "bench"} <= ignored
    copied = {args.split()[0] for args in _args("COPY") if not args.startswith("--from")}
    assert not copied & ignored, "the Dockerfile copies something .dockerignore leaves out"


# ---- the tools, where they are installed


def _compose_cli() -> list[str] | None:
    """`docker compose` (the plugin) or a standalone `docker-compose` of version 2 or later."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        out = subprocess.run([standalone, "version"], capture_output=True, text=True)
        major = re.search(r"version v?(\d+)\.", out.stdout)
        if out.returncode == 0 and major and int(major.group(1)) >= 2:
            return [standalone]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI here (`docker compose` or `docker-compose`)")
    env_file = tmp_path / "compose.env"  # not the checkout's own .env, if it has one
    env_file.write_text("")
    command = [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"]
    environment = {k: v for k, v in os.environ.items() if k != "VOC_DB_PASSWORD"}

    missing = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert missing.returncode != 0
    assert "VOC_DB_PASSWORD" in missing.stderr

    environment["VOC_DB_PASSWORD"] = "0123456789abcdef"
    done = subprocess.run(
        [*command, "--format", "json"], capture_output=True, text=True, env=environment
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)["services"]
    url = "postgresql+psycopg://voc:0123456789abcdef@postgres:5432/voc"
    assert resolved["api"]["environment"]["VOC_DATABASE_URL"] == url
    assert resolved["worker"]["environment"]["VOC_DATABASE_URL"] == url
    assert resolved["api"]["command"][-2:] == ["--workers", "1"]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed here")
    lint = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
