"""`cryptopipe stack up|down|status`: the local stack of real servers on loopback."""

from __future__ import annotations

import functools
import logging
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptopipe.stack import kafka, mariadb, prereqs, prometheus, toxiproxy
from cryptopipe.stack.jars import resolve_maven
from cryptopipe.stack.layout import read_layout, write_layout
from cryptopipe.stack.process import ManagedProcess, StopResult, stop_together, wait_until
from cryptopipe.stack.settings import StackSettings

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


class StackError(RuntimeError):
    """A stack operation failed; the message says what to do next."""


@dataclass(slots=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | crashed | stopped
    pid: int | None
    port: int | None
    endpoint: str
    log: str
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _noop(_: str) -> None:
    return None


class Stack:
    """The servers of one state dir. Every method is safe to call in any state."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = _with_recorded_layout(settings)

    # processes --------------------------------------------------------------------------
    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.settings.state_dir / "run", self.settings.logs_dir)

    def service_names(self) -> list[str]:
        brokers = [b.service_name for b in kafka.broker_layouts(self.settings)]
        return ["mariadb", *brokers, *self._optional(), "alertmanager", "prometheus"]

    def _optional(self) -> list[str]:
        """Toxiproxy, when asked for or still running from an `up` that asked for it."""
        wanted = self.settings.toxiproxy or self.process(toxiproxy.SERVICE).is_running()
        return [toxiproxy.SERVICE] if wanted else []

    # up -----------------------------------------------------------------------------------
    def up(self, progress: Progress = _noop) -> list[ServiceStatus]:
        s = self.settings
        prereqs.require()
        self._check_layout()
        s.state_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        if not (s.cache_dir / "jars").exists():
            progress("resolving Kafka jars from Maven Central (first run only) ...")
            prereqs.require((prereqs.MAVEN,))
        lib = resolve_maven("kafka", s.cache_dir)
        self._check_ports()
        self._record_layout()

        progress("starting MariaDB ...")
        mariadb.initialize(s)
        self._start("mariadb", mariadb.server_command(s))

        layouts = kafka.write_configs(s)
        for broker in layouts:
            kafka.format_storage(s, lib, broker)
        progress(f"starting Kafka ({s.brokers} broker{'s' if s.brokers > 1 else ''}, KRaft) ...")
        for broker in layouts:
            self._start(
                broker.service_name,
                kafka.java_command(s, lib, kafka.MAIN_CLASS, str(broker.config_file)),
            )

        if self.settings.toxiproxy:
            progress("starting Toxiproxy ...")
            self._start(toxiproxy.SERVICE, toxiproxy.server_command(s))
            self._wait(toxiproxy.SERVICE, lambda: toxiproxy.is_ready(s))
            toxiproxy.populate(s)

        progress("starting Prometheus and Alertmanager ...")
        prom_cfg, am_cfg = prometheus.write_configs(s)
        self._reload_running({"alertmanager": s.alertmanager_port, "prometheus": s.prometheus_port})
        self._start("alertmanager", prometheus.alertmanager_command(s, am_cfg))
        self._start("prometheus", prometheus.prometheus_command(s, prom_cfg))

        self._wait("mariadb", lambda: _try(lambda: mariadb.bootstrap(s)))
        applied = mariadb.migrate(s)
        if applied:
            progress(f"applied migrations {applied}")
        self._wait(
            "kafka", lambda: kafka.live_broker_ids(s) == {b.node_id for b in layouts}, "kafka-1"
        )
        created = kafka.ensure_topics(s)
        if created:
            progress(f"created topics {', '.join(created)}")
        self._wait("kafka", lambda: kafka.topics_ready(s), "kafka-1")
        self._wait("alertmanager", lambda: prometheus.is_ready(s.alertmanager_port))
        self._wait("prometheus", lambda: prometheus.is_ready(s.prometheus_port))
        progress(f"stack is up in {time.monotonic() - t0:.1f}s")
        return self.status()

    def service_ports(self) -> dict[str, list[int]]:
        s = self.settings
        ports = {"mariadb": [s.mysql_port]}
        for broker in kafka.broker_layouts(s):
            ports[broker.service_name] = [broker.port, broker.controller_port, broker.chaos_port]
        if s.toxiproxy:
            proxied = [p.listen_port for p in toxiproxy.proxies(s)]
            ports[toxiproxy.SERVICE] = [s.toxiproxy_port, *proxied]
        ports["alertmanager"] = [s.alertmanager_port]
        ports["prometheus"] = [s.prometheus_port]
        return ports

    def _check_ports(self) -> None:
        """Refuse to start a service whose port another program already holds."""
        busy = [
            f"  - {name}: port {port} is in use by another program"
            for name, ports in self.service_ports().items()
            if not self.process(name).is_running()
            for port in ports
            if kafka.port_open(port, timeout_s=0.3)
        ]
        if busy:
            raise StackError(
                "cannot start the stack:\n"
                + "\n".join(busy)
                + "\nFix: stop that program (e.g. a system service: sudo systemctl disable --now "
                "prometheus), or move the stack with CRYPTOPIPE_<SERVICE>_PORT settings "
                "(CRYPTOPIPE_KAFKA_PORT, CRYPTOPIPE_MYSQL_PORT, CRYPTOPIPE_PROMETHEUS_PORT, "
                "CRYPTOPIPE_ALERTMANAGER_PORT)"
            )

    def _reload_running(self, ports: dict[str, int]) -> None:
        """A server `up` leaves running re-reads the config just written (rules, webhook URL)."""
        for name, port in ports.items():
            if self.process(name).is_running():
                try:
                    prometheus.reload(port)
                except OSError as exc:
                    logger.warning("could not reload %s's config: %s", name, exc)

    def _start(self, name: str, argv: list[str]) -> None:
        proc = self.process(name)
        if proc.is_running():
            logger.debug("%s already running", name)
            return
        proc.start(argv)

    def _wait(self, what: str, check: Callable[[], bool], proc_name: str | None = None) -> None:
        proc = self.process(proc_name or what)

        def ready() -> bool:
            if not proc.is_running():
                raise StackError(
                    f"{proc.name} exited during start-up; last lines of {proc.log_file}:\n"
                    + tail(proc.log_file, 20)
                )
            return check()

        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except StackError:
                raise
            except Exception:
                logger.debug("%s not ready", what, exc_info=True)
            time.sleep(0.5)
        raise StackError(
            f"{what} did not become healthy within {self.settings.start_timeout_s:.0f}s; "
            f"see {proc.log_file} or `cryptopipe stack logs {proc.name}`"
        )

    # down ---------------------------------------------------------------------------------
    def down(self, *, purge: bool = False, progress: Progress = _noop) -> list[StopResult]:
        """Stop every server, in the reverse order of `up`; how each stopped is returned and
        logged (SIGTERM is the normal case, SIGKILL the fallback after ``stop_timeout_s``).

        The Kafka nodes are signalled all at once: stopped one by one, the last node of a
        3-node KRaft cluster has no controller quorum left to approve its controlled shutdown
        and hangs until killed."""
        brokers = [b.service_name for b in kafka.broker_layouts(self.settings)]
        groups: list[list[str]] = []
        for name in reversed(self.service_names()):
            if name not in brokers:
                groups.append([name])
            elif name == brokers[-1]:
                groups.append(brokers)
        stopped: list[StopResult] = []
        for group in groups:
            results = stop_together([self.process(n) for n in group], self.settings.stop_timeout_s)
            for result in results:
                progress(str(result))
            stopped += results
        if purge and self.settings.state_dir.exists():
            shutil.rmtree(self.settings.state_dir)
            progress(f"removed {self.settings.state_dir}")
        return stopped

    # status -------------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        s = self.settings
        out = [
            self._status(
                "mariadb",
                s.mysql_port,
                mariadb.dsn(s),
                lambda: mariadb.is_healthy(s),
                {"password_file": str(s.secrets_dir / "mysql-app.json")},
            )
        ]
        live: set[int] | None = None
        for broker in kafka.broker_layouts(s):

            def broker_ok(node_id: int = broker.node_id) -> bool:
                nonlocal live
                if live is None:
                    live = kafka.live_broker_ids(s, timeout_s=3.0)
                return node_id in live

            out.append(
                self._status(
                    broker.service_name, broker.port, f"127.0.0.1:{broker.port}", broker_ok
                )
            )
        if toxiproxy.SERVICE in self._optional():
            url = toxiproxy.api_url(s)
            out.append(
                self._status(
                    toxiproxy.SERVICE, s.toxiproxy_port, url, lambda: toxiproxy.is_ready(s)
                )
            )
        out.append(
            self._status(
                "alertmanager",
                s.alertmanager_port,
                prometheus.url(s.alertmanager_port),
                lambda: prometheus.is_ready(s.alertmanager_port),
            )
        )
        out.append(
            self._status(
                "prometheus",
                s.prometheus_port,
                prometheus.url(s.prometheus_port),
                lambda: prometheus.is_ready(s.prometheus_port),
            )
        )
        return out

    def _status(
        self,
        name: str,
        port: int,
        endpoint: str,
        probe: Callable[[], bool],
        extra: dict[str, str] | None = None,
    ) -> ServiceStatus:
        proc = self.process(name)
        pid = proc.pid()
        log = str(proc.log_file)
        if pid is None:
            state = "crashed" if proc.has_record() else "stopped"
            detail = f"exited; see {log}" if state == "crashed" else ""
            return ServiceStatus(name, state, None, port, endpoint, log, detail, extra or {})
        try:
            healthy = probe()
            detail = "" if healthy else "running but not answering its health check"
        except Exception as exc:
            healthy, detail = False, f"health check failed: {exc}"
        state = "healthy" if healthy else "unhealthy"
        return ServiceStatus(name, state, pid, port, endpoint, log, detail, extra or {})

    def pipeline_ports(self) -> dict[str, int]:
        """The pipeline's own services (started by `cryptopipe run`) and their metrics ports."""
        s = self.settings
        return {
            "producer": s.producer_metrics_port,
            "processor": s.processor_metrics_port,
            "audit": s.audit_metrics_port,
        }

    def pipeline_status(self) -> list[ServiceStatus]:
        """Status of the pipeline services that were started here (absent ones are left out)."""
        out = []
        for name, port in self.pipeline_ports().items():
            if self.process(name).has_record():
                url = f"http://127.0.0.1:{port}/metrics"
                out.append(self._status(name, port, url, functools.partial(_http_ok, url)))
        return out

    def endpoints(self) -> dict[str, str]:
        s = self.settings
        return {
            "kafka_bootstrap_servers": s.bootstrap_servers(),
            "mysql_dsn": mariadb.dsn(s),
            "mysql_password_file": str(s.secrets_dir / "mysql-app.json"),
            "prometheus_url": prometheus.url(s.prometheus_port),
            "alertmanager_url": prometheus.url(s.alertmanager_port),
            "producer_metrics_url": f"http://127.0.0.1:{s.producer_metrics_port}/metrics",
            "processor_metrics_url": f"http://127.0.0.1:{s.processor_metrics_port}/metrics",
            **(
                {
                    "toxiproxy_url": toxiproxy.api_url(s),
                    "kafka_proxied_bootstrap_servers": s.proxied_bootstrap_servers(),
                    "mysql_proxied_port": str(s.mysql_proxy_port()),
                }
                if toxiproxy.SERVICE in self._optional()
                else {}
            ),
        }

    def status_json(self) -> dict[str, Any]:
        services = self.status() + self.pipeline_status()
        return {
            "state_dir": str(self.settings.state_dir),
            "brokers": self.settings.brokers,
            "healthy": all(svc.state == "healthy" for svc in services),
            "endpoints": self.endpoints(),
            "services": [asdict(svc) for svc in services],
        }

    # layout -------------------------------------------------------------------------------
    def _record_layout(self) -> None:
        """Every broker's port goes into the state dir: commands run without a bootstrap setting
        connect through all of them (cryptopipe.config), not through broker 1 only. So does
        Toxiproxy's port while it runs, for `status` and `down` run without its setting."""
        s = self.settings
        port: int | None = None
        if s.toxiproxy:
            port = s.toxiproxy_port
        elif toxiproxy.SERVICE in self._optional():  # running, started by another `up`
            recorded = read_layout(s.state_dir)
            port = recorded.toxiproxy_port if recorded else None
        write_layout(s.state_dir, s.brokers, s.broker_ports(), port or None)

    def _check_layout(self) -> None:
        recorded = read_layout(self.settings.state_dir)
        if recorded is not None and recorded.brokers != self.settings.brokers:
            raise StackError(
                f"{self.settings.state_dir} holds a {recorded.brokers}-broker cluster; to switch "
                f"to {self.settings.brokers}, run `cryptopipe stack down --purge` first"
            )


def _with_recorded_layout(settings: StackSettings) -> StackSettings:
    """`status` and `down` act on the cluster that `up` made, whatever --brokers says now, and
    reach the Toxiproxy it started on the port it was started on."""
    recorded = read_layout(settings.state_dir)
    if recorded is None:
        return settings
    update: dict[str, object] = {}
    if "brokers" not in settings.model_fields_set:
        update["brokers"] = recorded.brokers
    if recorded.toxiproxy_port is not None and "toxiproxy_port" not in settings.model_fields_set:
        update["toxiproxy_port"] = recorded.toxiproxy_port
    return settings.model_copy(update=update) if update else settings


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return int(resp.status) == 200


def _try(fn: Callable[[], None]) -> bool:
    fn()
    return True


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def wait_healthy(stack: Stack, timeout_s: float) -> bool:
    return wait_until(lambda: all(x.state == "healthy" for x in stack.status()), timeout_s)
