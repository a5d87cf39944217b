"""A throw-away PostgreSQL for the test run.

``SPENDTAG_TEST_PG=postgresql://...`` uses a server you already have (the URL's user must
be allowed to create databases). Otherwise the server binaries are found (``pg_config
--bindir``, then Debian's ``/usr/lib/postgresql/<version>/bin``), a cluster is made with
``initdb`` in a temporary directory and started on a free port on 127.0.0.1 (its socket in
that directory, durability off: it is thrown away), and stopped at the end. PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` system user.

Each test gets its own database, copied from a migrated template, so tests are independent.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_SERVER_SETTINGS = "-c max_connections=200 -c shared_buffers=128MB"
_NOT_DURABLE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class Unavailable(Exception):
    """No PostgreSQL to test against (the reason says why and what to install)."""


def _bindir() -> Path:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                             check=True).stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    for found in candidates:
        if (Path(found) / "initdb").exists() and (Path(found) / "pg_ctl").exists():
            return Path(found)
    raise Unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's `postgresql` "
                      "package or set SPENDTAG_TEST_PG=postgresql://...")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_url(url: str, database: str) -> str:
    """``url`` with its database replaced (the URL's own query string, if any, kept)."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{database}" + (f"?{query}" if query else "")


class Cluster:
    """A PostgreSQL server for tests: ``url(name)`` for a database, ``new_database()`` for a fresh one."""

    def __init__(self, url: str, *, stop: list[str] | None = None, workdir: Path | None = None) -> None:
        self.admin = url
        self._stop = stop
        self._workdir = workdir
        self._names = itertools.count(1)
        self._made: list[str] = []
        self._prefix = f"spendtag_t{os.getpid()}_"

    @classmethod
    def start(cls, *, durable: bool = False, url: str | None = None) -> Cluster:
        """A cluster for the run; ``durable`` keeps PostgreSQL's default fsync (benchmarks), tests do without."""
        url = url or os.environ.get("SPENDTAG_TEST_PG")
        cluster = cls(url) if url else cls._initdb(durable)
        cluster._make_template()
        return cluster

    @classmethod
    def _initdb(cls, durable: bool) -> Cluster:
        bindir = _bindir()
        workdir = Path(tempfile.mkdtemp(prefix="spendtag-pg-"))
        data, log = workdir / "data", workdir / "server.log"
        run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no `postgres` user to run the server as") from None
            run_as = ["runuser", "-u", "postgres", "--"]
            os.chown(workdir, user.pw_uid, user.pw_gid)
        workdir.chmod(0o755)
        port = _free_port()

        def run(*args: str) -> None:
            done = subprocess.run([*run_as, *args], capture_output=True, text=True)
            if done.returncode:
                log_text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise Unavailable(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}\n{log_text}")

        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--locale=C")
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 {_SERVER_SETTINGS}"
        if not durable:
            options += f" {_NOT_DURABLE}"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        stop = [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        return cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop=stop, workdir=workdir)

    def url(self, database: str) -> str:
        return _admin_url(self.admin, database)

    def _execute(self, sql: str) -> int:
        """Run one statement as the admin user; the server's version number (e.g. 150004)."""
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)
            return int(conn.info.server_version)

    def _make_template(self) -> None:
        from spendtag.ledger.postgres import PostgresStore

        self._template = self._prefix + "template"
        version = self._execute(f"DROP DATABASE IF EXISTS {self._template}")
        # FILE_COPY (PostgreSQL 15+) copies a small template faster than the default WAL_LOG.
        self._strategy = " STRATEGY FILE_COPY" if version >= 150000 else ""
        self._execute(f"CREATE DATABASE {self._template}")
        PostgresStore(self.url(self._template)).close()

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a new, empty database (with the ledger's schema unless ``migrated=False``)."""
        name = f"{self._prefix}{next(self._names)}"
        template = f" TEMPLATE {self._template}{self._strategy}" if migrated else ""
        self._execute(f"CREATE DATABASE {name}{template}")
        self._made.append(name)
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.partition("?")[0].rsplit("/", 1)[1]
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self._made:
            self._made.remove(name)

    def stop(self) -> None:
        if self._stop is None:
            for name in [*self._made, self._template]:
                self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        subprocess.run(self._stop, capture_output=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
