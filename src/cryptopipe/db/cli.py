"""`cryptopipe db migrate`: apply the schema migrations to any MySQL/MariaDB (real clusters)."""

from __future__ import annotations

import logging

import click
import pymysql
from pydantic import Field, SecretStr

from cryptopipe.cli_settings import build_settings
from cryptopipe.config import CommonSettings
from cryptopipe.db import accounts
from cryptopipe.db.migrate import MigrationError, apply_migrations

logger = logging.getLogger(__name__)


class MigrateSettings(CommonSettings):
    """Admin credentials for schema changes (never the app user's)."""

    mysql_admin_user: str = Field("root", description="Account that may run DDL.")
    mysql_admin_password: SecretStr = SecretStr("")
    mysql_reader_user: str = Field(
        "cryptopipe_reader", description="SELECT-only account (Grafana, cryptopipe report)."
    )
    mysql_reader_password: SecretStr = SecretStr("")


def create_reader(conn: pymysql.connections.Connection, settings: MigrateSettings) -> None:
    """Create/reset the SELECT-only user on the market tables (they must exist: migrate first)."""
    password = settings.mysql_reader_password.get_secret_value()
    if not password:
        raise RuntimeError("--create-reader-user needs CRYPTOPIPE_MYSQL_READER_PASSWORD")
    with conn.cursor() as cur:
        for statement in accounts.reader_user_sql(
            settings.mysql_database,
            settings.mysql_reader_user,
            password,
            ["%"],
            accounts.READER_TABLES,
        ):
            cur.execute(statement)
    conn.commit()


def migrate(
    settings: MigrateSettings, *, create_app_user: bool, create_reader_user: bool = False
) -> list[int]:
    conn = pymysql.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_admin_user,
        password=settings.mysql_admin_password.get_secret_value(),
        autocommit=False,
        connect_timeout=10,
    )
    try:
        with conn.cursor() as cur:
            for statement in accounts.database_sql(settings.mysql_database):
                cur.execute(statement)
            if create_app_user:
                for statement in accounts.app_user_sql(
                    settings.mysql_database,
                    settings.mysql_user,
                    settings.mysql_app_password(),
                    ["%"],
                ):
                    cur.execute(statement)
        conn.commit()
        conn.select_db(settings.mysql_database)
        applied = apply_migrations(conn)
        if create_reader_user:
            create_reader(conn, settings)
        return applied
    finally:
        conn.close()


@click.group()
def db() -> None:
    """Database schema: versioned migrations."""


@db.command("migrate")
@click.option(
    "--create-app-user",
    is_flag=True,
    help="Also create/reset the app user (CRYPTOPIPE_MYSQL_USER/PASSWORD) with run-time grants.",
)
@click.option(
    "--create-reader-user",
    is_flag=True,
    help="Also create/reset the SELECT-only user (CRYPTOPIPE_MYSQL_READER_USER/PASSWORD).",
)
def migrate_command(create_app_user: bool, create_reader_user: bool) -> None:
    """Create the database if needed and apply pending migrations with the admin account.

    Reads CRYPTOPIPE_MYSQL_HOST/PORT/DATABASE and CRYPTOPIPE_MYSQL_ADMIN_USER/PASSWORD.
    """
    settings = build_settings(MigrateSettings)
    try:
        applied = migrate(
            settings, create_app_user=create_app_user, create_reader_user=create_reader_user
        )
    except (MigrationError, pymysql.err.MySQLError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"applied migrations: {applied}" if applied else "schema is up to date")
