"""A private PostgreSQL cluster: initdb and pg_ctl in a temporary folder, on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

from harness.helpers import free_port


def postgres_bin(name: str) -> str:
    """A PostgreSQL program of the newest installed version (Debian keeps them out of
    PATH), else the one on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for directory in reversed(versions):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} was not found (apt-get install postgresql)")
    return found


class PrivatePostgres:
    """A throw-away cluster with trust authentication. PostgreSQL refuses to run as
    root, so as root it runs as the `postgres` user.

    It listens on `addresses` (loopback by default) and trusts TCP clients from
    loopback and from `trusted_clients` (host addresses); `url_for` names a database
    on its loopback address."""

    def __init__(
        self, addresses: Sequence[str] = ("127.0.0.1",), trusted_clients: Sequence[str] = ()
    ) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="private-postgres-"))
        self.data = self.folder / "data"
        self.addresses = list(addresses)
        self.port = free_port(range(5450, 5460))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth", "trust", "--no-sync")  # fmt: skip
        with (self.data / "pg_hba.conf").open("a") as hba:
            for client in trusted_clients:
                hba.write(f"host all all {client}/32 trust\n")
        self.start()
        self.url = self.url_for("postgres")  # the database query() uses

    def url_for(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def has_database(self, name: str) -> bool:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return found.fetchone() is not None

    def create_database(self, name: str, template: str = "template1") -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (f"-p {self.port} -k {self.folder} -c fsync=off"
                   f" -c listen_addresses='{','.join(self.addresses)}'")  # fmt: skip
        self._run(postgres_bin("pg_ctl"), action, "-D", str(self.data), "-w",
                  "-l", str(self.folder / "postgres.log"), "-o", options, *extra)  # fmt: skip

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every connection is cut) and start again."""
        self._pg_ctl("restart", "-m", "fast")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql: str, *parameters) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

    def value(self, sql: str, *parameters):
        return self.query(sql, *parameters)[0][0]
