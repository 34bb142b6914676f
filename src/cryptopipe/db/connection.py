"""How every service connects to MySQL as the app user (one place for the connection options)."""

from __future__ import annotations

from typing import Any

import pymysql

from cryptopipe.config import CommonSettings


def app_connection(
    settings: CommonSettings,
    *,
    autocommit: bool = False,
    connect_timeout_s: float = 10.0,
    **kwargs: Any,
) -> pymysql.connections.Connection[Any]:
    """A new connection as the app user (CRYPTOPIPE_MYSQL_* settings, utf8mb4)."""
    return pymysql.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_user,
        password=settings.mysql_app_password(),
        database=settings.mysql_database,
        autocommit=autocommit,
        connect_timeout=int(connect_timeout_s),
        charset="utf8mb4",
        **kwargs,
    )
