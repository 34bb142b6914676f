"""SQL that creates the database and the accounts the pipeline uses (MariaDB and MySQL 8).

The app user gets only what the services need at run time: rows in, rows out, no DDL. Schema
changes go through migrations, run by the admin account. The reader (Grafana's MySQL datasource,
`cryptopipe report`) may only SELECT the market tables.
"""

from __future__ import annotations

from collections.abc import Iterable

APP_GRANTS = "SELECT, INSERT, UPDATE, DELETE"
READER_TABLES = ("candles",)  # what the Market dashboard and the report read


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def database_sql(database: str) -> list[str]:
    return [f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4"]


def _account_sql(user: str, password: str, host: str) -> tuple[str, list[str]]:
    """The quoted account name, and SQL creating it or resetting its password."""
    account = f"'{_quote(user)}'@'{_quote(host)}'"
    return account, [
        f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{_quote(password)}'",
        f"ALTER USER {account} IDENTIFIED BY '{_quote(password)}'",
    ]


def app_user_sql(database: str, user: str, password: str, hosts: Iterable[str]) -> list[str]:
    """Create or reset the app user with exactly the run-time grants."""
    out: list[str] = []
    for host in hosts:
        account, create = _account_sql(user, password, host)
        out += [
            *create,
            f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}",
            f"GRANT {APP_GRANTS} ON `{database}`.* TO {account}",
        ]
    return out


def admin_user_sql(database: str, user: str, password: str, hosts: Iterable[str]) -> list[str]:
    """Create or reset the admin user: everything on the pipeline's database, nothing else."""
    out: list[str] = []
    for host in hosts:
        account, create = _account_sql(user, password, host)
        out += [*create, f"GRANT ALL PRIVILEGES ON `{database}`.* TO {account}"]
    return out


def reader_user_sql(
    database: str, user: str, password: str, hosts: Iterable[str], tables: Iterable[str]
) -> list[str]:
    """Create or reset the read-only user: SELECT on ``tables`` (which must exist), nothing else."""
    out: list[str] = []
    for host in hosts:
        account, create = _account_sql(user, password, host)
        out += [*create, f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}"]
        out += [f"GRANT SELECT ON `{database}`.`{t}` TO {account}" for t in tables]
    return out
