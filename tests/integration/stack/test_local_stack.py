"""The local stack against its real servers: Kafka, MariaDB, Prometheus, Alertmanager."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from cryptopipe.db.migrate import Migration, MigrationError, apply_migrations, load_migrations
from cryptopipe.stack.manager import Stack, StackError
from cryptopipe.trade_rules import PRICE_INT_DIGITS, PRICE_SCALE, SYMBOL_MAX_LEN
from tests.conftest import RunningStack, port_base, stack_settings_for


def cli(
    stack: RunningStack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptopipe.cli", *args],
        env=env or stack.env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.kafka
@pytest.mark.mysql
@pytest.mark.prometheus
def test_status_json_reports_every_service_healthy_with_endpoints(stack: RunningStack) -> None:
    proc = cli(stack, "stack", "status", "--json", "--state-dir", str(stack.settings.state_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["healthy"] is True
    states = {svc["name"]: svc["state"] for svc in report["services"]}
    # Toxiproxy runs once the chaos tests have added it to this stack: then it is listed too
    optional = {"toxiproxy": "healthy"} if "toxiproxy" in states else {}
    assert states == {
        "mariadb": "healthy",
        "kafka-1": "healthy",
        "alertmanager": "healthy",
        "prometheus": "healthy",
        **optional,
    }
    assert all(svc["pid"] for svc in report["services"])
    s = stack.settings
    assert report["endpoints"]["kafka_bootstrap_servers"] == f"127.0.0.1:{s.kafka_port}"
    assert report["endpoints"]["mysql_dsn"] == (
        f"mysql://cryptopipe@127.0.0.1:{s.mysql_port}/cryptopipe"
    )
    assert report["endpoints"]["prometheus_url"] == f"http://127.0.0.1:{s.prometheus_port}"
    assert s.mysql_app_password() not in proc.stdout, "the password is never printed"


@pytest.mark.kafka
def test_up_twice_is_harmless(stack: RunningStack) -> None:
    before = {svc.name: svc.pid for svc in stack.stack.status()}
    stack.stack.up()
    after = {svc.name: svc.pid for svc in stack.stack.status()}
    assert before == after


@pytest.mark.kafka
def test_produce_and_consume_on_the_real_broker(stack: RunningStack) -> None:
    bootstrap = stack.settings.bootstrap_servers()
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    marker = uuid.uuid4().hex
    delivered: list[Any] = []
    for i in range(20):
        producer.produce(
            stack.settings.topic_trades,
            key=b"BTCUSDT",
            value=f"{marker}-{i}".encode(),
            on_delivery=lambda err, msg: delivered.append(err or msg.offset()),
        )
    assert producer.flush(30) == 0
    assert len(delivered) == 20
    assert all(isinstance(d, int) for d in delivered), delivered

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{marker}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([stack.settings.topic_trades])
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while len(seen) < 20 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        value = (msg.value() or b"").decode()
        if value.startswith(marker):
            seen.append(value)
            assert msg.key() == b"BTCUSDT"
    consumer.close()
    assert seen == [f"{marker}-{i}" for i in range(20)], "same key keeps order on one partition"


@pytest.mark.kafka
def test_topics_exist_and_auto_creation_is_off(stack: RunningStack) -> None:
    admin = AdminClient({"bootstrap.servers": stack.settings.bootstrap_servers()})
    topics = admin.list_topics(timeout=10).topics
    for name in (stack.settings.topic_trades, stack.settings.topic_dlq):
        assert len(topics[name].partitions) == stack.settings.topic_partitions

    producer = Producer(
        {"bootstrap.servers": stack.settings.bootstrap_servers(), "message.timeout.ms": 3000}
    )
    errors: list[Any] = []
    producer.produce(
        f"not-a-topic-{uuid.uuid4().hex}", b"x", on_delivery=lambda e, m: errors.append(e)
    )
    producer.flush(10)
    assert errors and errors[0] is not None, "producing to an unknown topic must fail"
    assert "not-a-topic" not in str(admin.list_topics(timeout=10).topics)


@pytest.mark.mysql
def test_app_user_can_do_its_job_but_no_ddl(stack: RunningStack) -> None:
    conn = stack.app_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO candles (symbol, bar_interval, window_start, window_end, open, high,"
                " low, close, volume, quote_volume, trade_count, taker_buy_volume,"
                " first_trade_id, last_trade_id, open_trade_time_us, close_trade_time_us)"
                " VALUES ('TESTUSDT', '1m', '2026-01-01 00:00:00', '2026-01-01 00:01:00',"
                " 1.5, 2.25, 1.00000001, 2, 3, 5.5, 3, 1, 10, 12, 1, 2)"
            )
            cur.execute("SELECT high, low FROM candles WHERE symbol='TESTUSDT'")
            assert cur.fetchone() == (
                Decimal("2.25000000"),
                Decimal("1.00000001"),
            ), "DECIMAL columns keep exact values"
            cur.execute("UPDATE candles SET trade_count = 4 WHERE symbol='TESTUSDT'")
            cur.execute("DELETE FROM candles WHERE symbol='TESTUSDT'")
        conn.commit()
        for ddl in (
            "CREATE TABLE evil (x INT)",
            "DROP TABLE candles",
            "ALTER TABLE candles ADD COLUMN x INT",
            "TRUNCATE TABLE candles",
            "CREATE DATABASE evil",
        ):
            with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as err:
                cur.execute(ddl)
            assert err.value.args[0] in (1044, 1142), (ddl, err.value)
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT * FROM mysql.user")
    finally:
        conn.close()


@pytest.mark.mysql
def test_migrations_are_recorded_and_edits_are_refused(stack: RunningStack) -> None:
    conn = stack.admin_connection()
    try:
        assert apply_migrations(conn) == [], "up already applied every migration"
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [v for (v,) in cur.fetchall()] == [m.version for m in load_migrations()]
        first = load_migrations()[0]
        edited = Migration(first.version, first.name, first.sql + "\n-- edited")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(conn, [edited])
    finally:
        conn.close()


def test_the_live_schema_holds_what_the_trade_rules_accept(stack: RunningStack) -> None:
    """Every symbol column holds the longest symbol the producer, processor and audit accept,
    and every price column the price type they check against (cryptopipe.trade_rules)."""
    conn = stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name, character_maximum_length, numeric_precision,"
                " numeric_scale FROM information_schema.columns WHERE table_schema = %s",
                (stack.settings.mysql_database,),
            )
            columns = {(t, c): (length, p, sc) for t, c, length, p, sc in cur.fetchall()}
    finally:
        conn.close()
    symbols = {key: v[0] for key, v in columns.items() if key[1] == "symbol"}
    assert {t for t, _ in symbols} >= {"candles", "late_trades", "processor_symbol_watermarks"}
    assert set(symbols.values()) == {SYMBOL_MAX_LEN}, symbols
    precision = PRICE_INT_DIGITS + PRICE_SCALE
    for name in ("open", "high", "low", "close"):
        assert columns[("candles", name)][1:] == (precision, PRICE_SCALE), name


@pytest.mark.prometheus
def test_prometheus_scrapes_and_promtool_accepts_config_and_rules(stack: RunningStack) -> None:
    config = stack.settings.state_dir / "prometheus" / "prometheus.yml"
    check = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout + check.stderr

    query = urllib.parse.urlencode({"query": 'up{job="prometheus"}'})
    url = f"http://127.0.0.1:{stack.settings.prometheus_port}/api/v1/query?{query}"
    deadline = time.monotonic() + 30
    result: list[Any] = []
    while time.monotonic() < deadline and not result:
        with urllib.request.urlopen(url, timeout=5) as resp:
            result = json.load(resp)["data"]["result"]
        time.sleep(1)
    assert result and result[0]["value"][1] == "1"

    rules_url = f"http://127.0.0.1:{stack.settings.prometheus_port}/api/v1/rules"
    with urllib.request.urlopen(rules_url, timeout=5) as resp:
        groups = json.load(resp)["data"]["groups"]
    assert any(g["name"] == "cryptopipe-targets" for g in groups), "repo rules are loaded"


@pytest.mark.prometheus
def test_a_crashed_service_shows_as_crashed_and_up_restarts_it(stack: RunningStack) -> None:
    proc = stack.stack.process("alertmanager")
    old_pid = proc.pid()
    proc.kill()
    deadline = time.monotonic() + 20
    state = ""
    while time.monotonic() < deadline:
        state = {s.name: s.state for s in stack.stack.status()}["alertmanager"]
        if state == "crashed":
            break
        time.sleep(0.3)
    assert state == "crashed"
    out = cli(stack, "stack", "status", "--state-dir", str(stack.settings.state_dir))
    assert out.returncode == 1
    assert "crashed" in out.stdout

    stack.stack.up()
    status = {s.name: s for s in stack.stack.status()}["alertmanager"]
    assert status.state == "healthy"
    assert status.pid != old_pid


@pytest.mark.kafka
def test_a_port_held_by_another_program_is_named_with_the_fix(
    stack: RunningStack, tmp_path: Path
) -> None:
    other = Stack(stack_settings_for(tmp_path / "other", port_base()))
    with pytest.raises(StackError) as err:
        other.up()
    message = str(err.value)
    assert f"port {stack.settings.mysql_port} is in use" in message
    assert "CRYPTOPIPE_MYSQL_PORT" in message
    assert not (tmp_path / "other" / "mariadb").exists(), "nothing was started"


@pytest.mark.mysql
def test_db_migrate_command_for_real_clusters(stack: RunningStack) -> None:
    admin = json.loads((stack.settings.secrets_dir / "mysql-admin.json").read_text())
    env = {
        **stack.env(),
        "CRYPTOPIPE_MYSQL_ADMIN_USER": admin["user"],
        "CRYPTOPIPE_MYSQL_ADMIN_PASSWORD": admin["password"],
    }
    ok = cli(stack, "db", "migrate", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "schema is up to date" in ok.stdout
    assert admin["password"] not in ok.stdout + ok.stderr

    env["CRYPTOPIPE_MYSQL_ADMIN_PASSWORD"] = "wrong"
    bad = cli(stack, "db", "migrate", env=env)
    assert bad.returncode == 1
    assert "Access denied" in bad.stderr
