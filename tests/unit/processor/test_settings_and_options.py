from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cryptopipe.processor.settings import ProcessorSettings
from cryptopipe.processor.spark_session import kafka_source_options, spark_conf


def make(tmp_path: Path, **kw: object) -> ProcessorSettings:
    return ProcessorSettings(state_dir=tmp_path, cache_dir=tmp_path / "c", **kw)  # type: ignore[arg-type]


def test_defaults(tmp_path: Path) -> None:
    s = make(tmp_path)
    assert [i.label for i in s.interval_list()] == ["1s", "1m"]
    assert s.spark_master == "local[2]"
    assert s.trigger_interval_s == 1.0
    assert s.watermark_delay_us == 10_000_000
    assert s.resolved_checkpoint_dir() == str(tmp_path / "spark" / "checkpoints" / "candles")


def test_env_vars_reach_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTOPIPE_INTERVALS", "1m,5m,1h")
    monkeypatch.setenv("CRYPTOPIPE_SPARK_MASTER", "spark://m:7077")
    monkeypatch.setenv("CRYPTOPIPE_MAX_OFFSETS_PER_TRIGGER", "5000")
    s = make(tmp_path)
    assert [i.seconds for i in s.interval_list()] == [60, 300, 3600]
    assert spark_conf(s, [])["spark.master"] == "spark://m:7077"
    assert kafka_source_options(s)["maxOffsetsPerTrigger"] == "5000"


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        make(tmp_path, intervals="7s")
    with pytest.raises(ValidationError):
        make(tmp_path, spark_conf="[1]")


def test_exact_decimal_conf_and_overrides(tmp_path: Path) -> None:
    s = make(tmp_path, spark_conf='{"spark.executor.memory": "2g"}')
    conf = spark_conf(s, ["/a.jar", "/b.jar"])
    assert conf["spark.sql.decimalOperations.allowPrecisionLoss"] == "false"
    assert conf["spark.jars"] == "/a.jar,/b.jar"
    assert conf["spark.executor.memory"] == "2g"
    assert conf["spark.local.dir"].startswith(str(tmp_path))


def test_kafka_security_is_settings_only(tmp_path: Path) -> None:
    s = make(
        tmp_path,
        kafka_bootstrap_servers="b-1:9096,b-2:9096",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="app",
        kafka_sasl_password='p"w',
        kafka_ssl_ca_location="/etc/ca.pem",
    )
    o = kafka_source_options(s)
    assert o["kafka.bootstrap.servers"] == "b-1:9096,b-2:9096"
    assert o["kafka.security.protocol"] == "SASL_SSL"
    assert o["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert o["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="app" password="p\\"w";'
    )
    assert o["kafka.ssl.truststore.type"] == "PEM"
    assert o["includeHeaders"] == "true"
    assert o["subscribe"] == "crypto.trades"
    assert 'p"w' not in repr(s)


def test_the_kafka_source_jars_come_from_the_settings(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("b.jar", "a.jar", "notes.txt"):
        (lib / name).write_text("")
    extra = tmp_path / "extra.jar"
    s = make(tmp_path, spark_jars=f"{lib}, {extra}")
    assert s.spark_jar_files() == [str(lib / "a.jar"), str(lib / "b.jar"), str(extra)]
    assert "spark.jars.packages" not in spark_conf(s, s.spark_jar_files())
    coords = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1"
    conf = spark_conf(make(tmp_path, spark_jars_packages=coords), [])
    assert conf["spark.jars.packages"] == coords and conf["spark.jars"] == ""


def test_the_service_does_not_import_the_stack_tooling() -> None:
    """Jar resolution is deployment's job: the job and its Spark session never load the
    stack's Maven tooling, so an image with CRYPTOPIPE_SPARK_JARS needs no Maven."""
    code = (
        "import sys, cryptopipe.processor.job, cryptopipe.processor.spark_session, "
        "cryptopipe.processor.cli; "
        "print(sorted(m for m in sys.modules if m.startswith('cryptopipe.stack.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "['cryptopipe.stack.layout']", out.stdout + out.stderr
