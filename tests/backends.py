"""The two databases the suite runs on: SQLite in a temporary directory, and PostgreSQL in a
throw-away cluster that lives only as long as the test session.

The cluster is made with the distribution's own binaries: installed from Debian's packages
when missing and running as root (CI's fresh machine), started in a temporary directory as an
unprivileged user (initdb refuses root), reachable only through a unix socket in that
directory (never a network address), and removed when the session ends. Each test gets its own
database, copied from a template migrated once, so tests never see each other's rows and no
test pays for the migrations.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from voc.settings import VocSettings
from voc.store import Store

PG_ROOT = Path("/usr/lib/postgresql")
TEMPLATE = "voc_template"
PREFIX = "voc-pg-"
OWNER = "owner.pid"
"""File in the cluster's directory naming the test session's process."""
SUPERUSER = "voc"


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be had on this machine; the message says why and what to do."""


def find_bindir() -> Path | None:
    """The newest PostgreSQL's binaries: Debian keeps one directory per major version, so the
    version is found rather than assumed; elsewhere `initdb` on PATH is used."""
    versions = [p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()]
    numeric = [p for p in versions if p.parent.name.isdigit()]
    if numeric:
        return max(numeric, key=lambda p: int(p.parent.name))
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def install_postgres() -> Path:
    """Install PostgreSQL from the distribution's packages (as root, on a machine without it)
    and return its binaries' directory."""
    if os.geteuid() != 0:
        raise PostgresUnavailable(
            "PostgreSQL is not installed and this is not root, so it cannot be installed: "
            "`sudo apt-get install postgresql`, or set VOC_TEST_POSTGRES=0 to skip its tests"
        )
    if shutil.which("apt-get") is None:
        raise PostgresUnavailable("PostgreSQL is not installed and there is no apt-get here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    # Package lists another set-up step fetched are used as they are; update only if needed.
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        for command in (["apt-get", "update", "-q"], install):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(f"apt-get installed postgresql but no initdb is under {PG_ROOT}")
    return bindir


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: ourselves, unless we are root, whom initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and there is no `postgres` or `nobody` user")


@dataclass
class PostgresCluster:
    """A running throw-away cluster; `stop()` shuts it down and deletes every file of it."""

    bindir: Path
    base: Path
    user: pwd.struct_passwd | None
    _admin: psycopg.Connection[Any] | None = field(default=None, repr=False)
    _names: Iterator[int] = field(default_factory=itertools.count, repr=False)

    @classmethod
    def start(cls, bindir: Path) -> PostgresCluster:
        parent = _parent_dir()
        _remove_orphans(bindir, parent)
        base = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        (base / OWNER).write_text(str(os.getpid()))
        cluster = cls(bindir, base, _unprivileged_user())
        try:
            cluster._init_and_start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, *args: str) -> None:
        _run_as(self.user, self.bindir, self.base, *args)

    def _init_and_start(self) -> None:
        if self.user is not None:
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.base.chmod(0o700)
        data = self.base / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.start_server()
        self._admin = psycopg.connect(
            host=str(self.base), user=SUPERUSER, dbname="postgres", autocommit=True
        )
        self._admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        store = Store.open(self.url(TEMPLATE))
        store.close()

    def start_server(self) -> None:
        """Start the server on the cluster's data (again, after `stop_server`)."""
        # No TCP at all (listen_addresses empty): the socket sits in a directory only the
        # server's user (and root) may enter. Durability settings are off: the data is
        # thrown away, and fsync on a shared two-core CI machine is most of the cost.
        options = (
            "-c listen_addresses='' "
            f"-c unix_socket_directories='{self.base}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.base / "data"), "-l", str(self.base / "server.log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server, closing every connection, and keep its data: a database outage
        for fault tests (tests/api/test_api_faults.py), ended by `start_server`."""
        self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.base}"

    def create_database(self, empty: bool = False) -> str:
        """A new database: migrated to head (copied from the template), or `empty`."""
        name = f"voc_test_{next(self._names)}"
        template = "template0" if empty else TEMPLATE
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database, closing connections the test left open."""
        name = url.rsplit("/", 1)[1].split("?", 1)[0]
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        _stop_and_remove(self.user, self.bindir, self.base)


def _parent_dir() -> str | None:
    """Where clusters go: the temporary directory, unless its path is so long that a unix
    socket path in it would pass the 107-byte limit."""
    return None if len(tempfile.gettempdir()) < 60 else "/tmp"


def _run_as(user: pwd.struct_passwd | None, bindir: Path, base: Path, *args: str) -> None:
    command = [str(bindir / args[0]), *args[1:]]
    if user is not None:
        command = ["runuser", "-u", user.pw_name, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log = base / "server.log"
        server_log = log.read_text(errors="replace") if log.exists() else ""
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}\n{server_log}"
        )


def _stop_and_remove(user: pwd.struct_passwd | None, bindir: Path, base: Path) -> None:
    data = base / "data"
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(RuntimeError):
            _run_as(user, bindir, base, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    shutil.rmtree(base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans(bindir: Path, parent: str | None) -> None:
    """Stop and delete clusters whose test session died without its finaliser (killed by a
    timeout or SIGKILL); a live session's cluster, or one not ours to stop, is left alone."""
    for base in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((base / OWNER).read_text())
            server_user = pwd.getpwuid(base.stat().st_uid)
        except (OSError, ValueError, KeyError):
            continue
        if _alive(owner):
            continue
        if os.geteuid() == 0:
            _stop_and_remove(None if server_user.pw_uid == 0 else server_user, bindir, base)
        elif server_user.pw_uid == os.geteuid():
            _stop_and_remove(None, bindir, base)


@dataclass
class Backend:
    """One database kind the suite runs on; `cluster` is None for SQLite."""

    name: str
    cluster: PostgresCluster | None = None

    def url(self, directory: Path, empty: bool = False) -> str:
        """A fresh database for one test or one module, migrated unless `empty`. PostgreSQL
        databases made here live until the cluster goes; use `database()` to drop sooner."""
        if self.cluster is None:
            directory.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{(directory / 'voc.db').as_posix()}"
        return self.cluster.create_database(empty=empty)

    @contextlib.contextmanager
    def database(self, directory: Path, empty: bool = False) -> Iterator[str]:
        url = self.url(directory, empty)
        try:
            yield url
        finally:
            if self.cluster is not None:
                self.cluster.drop_database(url)

    def settings(self, directory: Path, **overrides: Any) -> VocSettings:
        """Settings whose data directory is `directory` and whose database is a fresh one."""
        return VocSettings(
            data_dir=directory, database_url=self.url(directory), _env_file=None, **overrides
        )

    def env(self, directory: Path) -> dict[str, str]:
        """The environment a `voc` subprocess needs to use a fresh database of this kind."""
        return {"VOC_DATA_DIR": str(directory), "VOC_DATABASE_URL": self.url(directory)}
