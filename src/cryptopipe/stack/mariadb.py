"""MariaDB from the OS packages: own data dir, port and socket under the state dir.

Accounts, created at first start and kept in step on every `up`:
- ``<os user>@localhost`` (unix socket auth, made by mariadb-install-db): bootstrap only;
- ``cryptopipe_admin``: all privileges on the ``cryptopipe`` database, runs the migrations;
- ``cryptopipe`` (the app user): SELECT, INSERT, UPDATE, DELETE on ``cryptopipe.*`` and no DDL;
- ``cryptopipe_reader``: SELECT on the market tables only (``accounts.READER_TABLES``), for
  Grafana's MySQL datasource and ``cryptopipe report``; granted after the migrations made them.
Passwords are generated once and kept in ``<state>/secrets`` (mode 0600), never logged.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pymysql

from cryptopipe.db import accounts, connection
from cryptopipe.db.migrate import apply_migrations
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

ADMIN_USER = "cryptopipe_admin"
READER_USER = "cryptopipe_reader"
HOSTS = ("127.0.0.1", "localhost")


def data_dir(settings: StackSettings) -> Path:
    return settings.state_dir / "mariadb" / "data"


def socket_path(settings: StackSettings) -> Path:
    return settings.state_dir / "run" / "mariadb.sock"


def _secret(settings: StackSettings, name: str, user: str) -> dict[str, str]:
    """Load or create ``secrets/<name>.json`` holding a user and a password."""
    path = settings.secrets_dir / f"{name}.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        if data.get("user") == user:
            return data
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.secrets_dir, 0o700)
    data = {"user": user, "password": secrets.token_urlsafe(24)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def admin_secret(settings: StackSettings) -> dict[str, str]:
    return _secret(settings, "mysql-admin", ADMIN_USER)


def app_secret(settings: StackSettings) -> dict[str, str]:
    """The app user's credentials (``CommonSettings.mysql_app_password`` reads this file)."""
    return _secret(settings, "mysql-app", settings.mysql_user)


def reader_secret(settings: StackSettings) -> dict[str, str]:
    """The read-only user's credentials (``secrets/mysql-reader.json``, mode 0600)."""
    return _secret(settings, "mysql-reader", READER_USER)


def initialize(settings: StackSettings) -> bool:
    """Create the system tables in a fresh data dir; True if it did now."""
    ddir = data_dir(settings)
    if (ddir / "mysql").is_dir():
        return False
    ddir.mkdir(parents=True, exist_ok=True)
    installer = shutil.which("mariadb-install-db") or "mariadb-install-db"
    argv = [
        installer,
        "--no-defaults",
        f"--datadir={ddir}",
        f"--user={getpass.getuser()}",
        "--auth-root-authentication-method=socket",
        f"--auth-root-socket-user={getpass.getuser()}",
        "--skip-test-db",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        shutil.rmtree(ddir, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed:\n{proc.stdout}{proc.stderr}")
    logger.info("initialized MariaDB data dir %s", ddir)
    return True


def server_command(settings: StackSettings) -> list[str]:
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    run = settings.state_dir / "run"
    return [
        mariadbd,
        "--no-defaults",
        f"--datadir={data_dir(settings)}",
        f"--socket={socket_path(settings)}",
        f"--pid-file={run / 'mariadbd.pid'}",
        f"--port={settings.mysql_port}",
        "--bind-address=127.0.0.1",
        f"--user={getpass.getuser()}",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--default-time-zone=+00:00",
        "--innodb-buffer-pool-size=256M",
        "--innodb-flush-log-at-trx-commit=1",
        "--max-connections=200",
        "--skip-log-bin",
    ]


def _bootstrap_sql(settings: StackSettings) -> str:
    db = settings.mysql_database
    admin, app = admin_secret(settings), app_secret(settings)
    hosts = HOSTS
    statements = [
        *accounts.database_sql(db),
        *accounts.admin_user_sql(db, admin["user"], admin["password"], hosts),
        *accounts.app_user_sql(db, app["user"], app["password"], hosts),
        "FLUSH PRIVILEGES",
    ]
    return "".join(f"{s};\n" for s in statements)


def bootstrap(settings: StackSettings) -> None:
    """Create the database and accounts over the unix socket (SQL on stdin, not in argv)."""
    _socket_sql(settings, _bootstrap_sql(settings), "creating the cryptopipe database and users")


def grant_reader(settings: StackSettings) -> None:
    """Create or reset the read-only user; its tables must exist (run after the migrations)."""
    reader = reader_secret(settings)
    statements = accounts.reader_user_sql(
        settings.mysql_database, reader["user"], reader["password"], HOSTS, accounts.READER_TABLES
    )
    _socket_sql(settings, "".join(f"{s};\n" for s in statements), "creating the reader user")


def _scratch_sql(settings: StackSettings, name: str, create: bool) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == settings.mysql_database:
        raise ValueError(f"not a scratch database name: {name!r}")
    admin, app = admin_secret(settings)["user"], app_secret(settings)["user"]
    grants = [
        (f"ALL PRIVILEGES ON `{name}`.*", admin),
        (f"{accounts.APP_GRANTS} ON `{name}`.*", app),
    ]
    if create:
        out = [*accounts.database_sql(name)]
        out += [f"GRANT {what} TO '{user}'@'{host}'" for what, user in grants for host in HOSTS]
    else:
        out = [f"REVOKE {what} FROM '{user}'@'{host}'" for what, user in grants for host in HOSTS]
        out.append(f"DROP DATABASE IF EXISTS `{name}`")
    return "".join(f"{s};\n" for s in out)


def create_scratch_database(settings: StackSettings, name: str) -> None:
    """A database beside the pipeline's (``cryptopipe bench`` runs our processor into one, so a
    benchmark never touches the user's candles): the admin account gets all of it and the app
    user its run-time grants, as on the pipeline's database."""
    _socket_sql(settings, _scratch_sql(settings, name, create=True), f"creating database {name}")


def drop_scratch_database(settings: StackSettings, name: str) -> None:
    """Revoke what :func:`create_scratch_database` granted and drop the database."""
    _socket_sql(settings, _scratch_sql(settings, name, create=False), f"dropping database {name}")


def _socket_sql(settings: StackSettings, sql: str, what: str) -> None:
    client = shutil.which("mariadb") or "mariadb"
    argv = [client, "--no-defaults", f"--socket={socket_path(settings)}", "-u", getpass.getuser()]
    proc = subprocess.run(
        argv,
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr}")


def _connect(
    settings: StackSettings, secret: dict[str, str], **kwargs: Any
) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1",
        port=settings.mysql_port,
        user=secret["user"],
        password=secret["password"],
        database=settings.mysql_database,
        connect_timeout=5,
        **kwargs,
    )


def admin_connection(settings: StackSettings, **kwargs: Any) -> pymysql.connections.Connection:
    """A connection as the admin account (migrations, test clean-up)."""
    return _connect(settings, admin_secret(settings), autocommit=False, **kwargs)


def app_connection(settings: StackSettings, **kwargs: Any) -> pymysql.connections.Connection:
    """A connection as the app user, the way the services connect."""
    return connection.app_connection(settings, connect_timeout_s=5, **kwargs)


def reader_connection(settings: StackSettings, **kwargs: Any) -> pymysql.connections.Connection:
    """A connection as the read-only user (what Grafana's MySQL datasource and the report use)."""
    return _connect(settings, reader_secret(settings), **kwargs)


def migrate(settings: StackSettings) -> list[int]:
    """Apply the migrations, then (re)grant the reader its tables."""
    conn = admin_connection(settings)
    try:
        applied = apply_migrations(conn)
    finally:
        conn.close()
    grant_reader(settings)
    return applied


def is_healthy(settings: StackSettings) -> bool:
    conn = app_connection(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)
    finally:
        conn.close()


def dsn(settings: StackSettings, *, with_password: bool = False) -> str:
    password = f":{settings.mysql_app_password()}" if with_password else ""
    return (
        f"mysql://{settings.mysql_user}{password}@{settings.mysql_host}:{settings.mysql_port}"
        f"/{settings.mysql_database}"
    )
