from __future__ import annotations

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
