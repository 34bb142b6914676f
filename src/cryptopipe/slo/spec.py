"""SLO specs: Sloth ``prometheus/v1``, OpenSLO v1 ``kind: SLO`` and our helper recordings.

Each YAML document in a spec file is read into a typed pydantic model (unknown fields are
refused) and normalised into :class:`SLO`, the one shape the generator works on. Errors name the
file and the field (``slo/cryptopipe.yaml: slos[1].objective: ...``).

Documents, told apart by ``version`` / ``apiVersion``:
- ``version: prometheus/v1`` — a Sloth spec (service, labels, slos[]).
- ``apiVersion: openslo/v1``, ``kind: SLO`` — an OpenSLO SLO with an inline ``ratioMetric``
  indicator whose sources are Prometheus queries.
- ``version: cryptopipe/v1``, ``kind: RecordingRules`` — helper recording rules a time-slice SLI
  needs (e.g. one 0/1 sample per evaluation); generated into the same rule file as the SLOs.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

logger = logging.getLogger(__name__)

WINDOW_TEMPLATE = "{{.window}}"
WINDOW_RE = re.compile(r"\{\{\s*\.window\s*\}\}")
PERIODS = ("7d", "28d", "30d")
DEFAULT_PERIOD = "30d"
SPEC_SUFFIXES = (".yaml", ".yml")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_RE = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_ALERT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SpecError(ValueError):
    """A spec that cannot be used; ``problems`` are ``"<file>: <field>: <message>"`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _LABEL_RE.match(key):
            raise ValueError(f"{key!r} is not a valid Prometheus label name")
    return value


def _check_window(query: str) -> str:
    if not WINDOW_RE.search(query):
        raise ValueError(f"the query must contain {WINDOW_TEMPLATE} (the window placeholder)")
    return query


# --- Sloth prometheus/v1 ------------------------------------------------------------------


class SlothEvents(_Strict):
    error_query: str
    total_query: str

    _window = field_validator("error_query", "total_query")(_check_window)


class SlothRaw(_Strict):
    error_ratio_query: str

    _window = field_validator("error_ratio_query")(_check_window)


class SlothSLI(_Strict):
    events: SlothEvents | None = None
    raw: SlothRaw | None = None


class SlothAlert(_Strict):
    disable: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels")(_check_labels)


class SlothAlerting(_Strict):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: SlothAlert = SlothAlert()
    ticket_alert: SlothAlert = SlothAlert()

    _labels = field_validator("labels")(_check_labels)

    @field_validator("name")
    @classmethod
    def _alert_name(cls, value: str) -> str:
        if not _ALERT_RE.match(value):
            raise ValueError(f"{value!r} is not a valid Prometheus alert name")
        return value


class SlothSLO(_Strict):
    name: str
    objective: float
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: SlothSLI
    alerting: SlothAlerting

    _labels = field_validator("labels")(_check_labels)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class SlothSpec(_Strict):
    version: Literal["prometheus/v1"]
    service: str
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SlothSLO] = Field(min_length=1)

    _labels = field_validator("labels")(_check_labels)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        return _check_name(value)


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(f"{value!r}: use letters, digits, '-', '_' and '.'")
    return value


# --- OpenSLO v1 -----------------------------------------------------------------------------


class OpenSLOMetadata(_Strict):
    name: str
    displayName: str | None = None  # noqa: N815 - OpenSLO's field name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class OpenSLOPrometheusQuery(_Strict):
    query: str

    _window = field_validator("query")(_check_window)


class OpenSLOMetricSource(_Strict):
    type: Literal["Prometheus", "prometheus"]
    spec: OpenSLOPrometheusQuery


class OpenSLOMetric(_Strict):
    metricSource: OpenSLOMetricSource  # noqa: N815


class OpenSLORatioMetric(_Strict):
    counter: bool = True
    good: OpenSLOMetric | None = None
    bad: OpenSLOMetric | None = None
    total: OpenSLOMetric


class OpenSLOIndicatorSpec(_Strict):
    description: str = ""
    ratioMetric: OpenSLORatioMetric  # noqa: N815


class OpenSLOIndicator(_Strict):
    metadata: OpenSLOMetadata
    spec: OpenSLOIndicatorSpec


class OpenSLOTimeWindow(_Strict):
    duration: str
    isRolling: bool = True  # noqa: N815


class OpenSLOObjective(_Strict):
    displayName: str | None = None  # noqa: N815
    target: float | None = None
    targetPercent: float | None = None  # noqa: N815


class OpenSLOSpecBody(_Strict):
    description: str = ""
    service: str
    indicator: OpenSLOIndicator
    timeWindow: list[OpenSLOTimeWindow] = Field(min_length=1, max_length=1)  # noqa: N815
    budgetingMethod: Literal["Occurrences", "Timeslices"] = "Occurrences"  # noqa: N815
    objectives: list[OpenSLOObjective] = Field(min_length=1, max_length=1)


class OpenSLOSpec(_Strict):
    apiVersion: Literal["openslo/v1"]  # noqa: N815
    kind: Literal["SLO"]
    metadata: OpenSLOMetadata
    spec: OpenSLOSpecBody


# --- cryptopipe/v1 helper recordings ----------------------------------------------------------


class HelperRule(_Strict):
    record: str
    expr: str
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("record")
    @classmethod
    def _record(cls, value: str) -> str:
        if not _METRIC_RE.match(value):
            raise ValueError(f"{value!r} is not a valid metric name")
        return value


class HelperGroup(_Strict):
    name: str
    interval: str | None = None
    rules: list[HelperRule] = Field(min_length=1)


class RecordingRulesSpec(_Strict):
    version: Literal["cryptopipe/v1"]
    kind: Literal["RecordingRules"]
    service: str
    description: str = ""
    groups: list[HelperGroup] = Field(min_length=1)


# --- normalised form ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertLevel:
    enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alerting:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    page: AlertLevel = field(default_factory=AlertLevel)
    ticket: AlertLevel = field(default_factory=AlertLevel)


@dataclass(frozen=True)
class SLO:
    """One SLO, whatever spec format it came from. ``objective`` is a percentage."""

    service: str
    name: str
    objective: float
    period: str
    alerting: Alerting
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    error_query: str | None = None
    total_query: str | None = None
    error_ratio_query: str | None = None
    spec_format: str = "prometheus/v1"
    source: str = ""
    where: str = ""  # the field path of the SLO inside its file, e.g. "slos[0]"
    # (query attribute, field path in the file) for error messages
    query_fields: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def is_events(self) -> bool:
        return self.total_query is not None


@dataclass(frozen=True)
class HelperRules:
    service: str
    groups: tuple[HelperGroup, ...]
    source: str = ""
    where: str = ""


@dataclass
class SpecSet:
    """Everything read from the spec files, in file order."""

    slos: list[SLO] = field(default_factory=list)
    helpers: list[HelperRules] = field(default_factory=list)

    def services(self) -> list[str]:
        seen: dict[str, None] = {}
        items: list[SLO | HelperRules] = [*self.helpers, *self.slos]
        for item in items:
            seen.setdefault(item.service, None)
        return list(seen)


@dataclass(frozen=True)
class Query:
    """A query of a spec with where it came from, for error messages and the PromQL check."""

    text: str
    source: str
    where: str


def queries(spec_set: SpecSet) -> Iterator[Query]:
    """Every PromQL expression the specs hold, with its file and field."""
    for slo in spec_set.slos:
        for attr, where in slo.query_fields:
            text = getattr(slo, attr)
            if text is not None:
                yield Query(text, slo.source, where)
    for helper in spec_set.helpers:
        for gi, group in enumerate(helper.groups):
            for ri, rule in enumerate(group.rules):
                yield Query(rule.expr, helper.source, f"groups[{gi}].rules[{ri}].expr")


# --- loading ------------------------------------------------------------------------------------


def _loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before", "function-wrap"}:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def _validation_problems(source: str, prefix: str, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = _loc(item["loc"])
        where = f"{prefix}{loc}" if prefix else loc
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{source}: {where}: {message}")
    return problems


def check_objective(objective: float) -> str | None:
    """Why an objective (a percentage) cannot be used, or None."""
    if math.isnan(objective) or objective <= 0 or objective > 100:
        return f"objective {objective:g} is outside (0, 100)"
    if objective == 100:
        return (
            "objective 100 leaves no error budget: every burn rate would be infinite and the "
            "alerts could never be quiet; use e.g. 99.99"
        )
    return None


def _period(duration: str) -> str:
    if duration not in PERIODS:
        raise ValueError(f"period {duration!r} is not supported (use one of {', '.join(PERIODS)})")
    return duration


def _from_sloth(doc: SlothSpec, source: str, prefix: str, period: str) -> list[SLO]:
    out = []
    problems = []
    for i, slo in enumerate(doc.slos):
        where = f"{prefix}slos[{i}]"
        why = check_objective(slo.objective)
        if why:
            problems.append(f"{source}: {where}.objective: {why}")
        sli = slo.sli
        if (sli.events is None) == (sli.raw is None):
            problems.append(f"{source}: {where}.sli: give exactly one of 'events' or 'raw'")
            continue
        a = slo.alerting
        out.append(
            SLO(
                service=doc.service,
                name=slo.name,
                objective=slo.objective,
                period=period,
                description=slo.description,
                labels={**doc.labels, **slo.labels},
                error_query=sli.events.error_query if sli.events else None,
                total_query=sli.events.total_query if sli.events else None,
                error_ratio_query=sli.raw.error_ratio_query if sli.raw else None,
                alerting=Alerting(
                    name=a.name,
                    labels=dict(a.labels),
                    annotations=dict(a.annotations),
                    page=AlertLevel(
                        not a.page_alert.disable,
                        dict(a.page_alert.labels),
                        dict(a.page_alert.annotations),
                    ),
                    ticket=AlertLevel(
                        not a.ticket_alert.disable,
                        dict(a.ticket_alert.labels),
                        dict(a.ticket_alert.annotations),
                    ),
                ),
                spec_format="prometheus/v1",
                source=source,
                where=where,
                query_fields=(
                    ("error_query", f"{where}.sli.events.error_query"),
                    ("total_query", f"{where}.sli.events.total_query"),
                    ("error_ratio_query", f"{where}.sli.raw.error_ratio_query"),
                ),
            )
        )
    if problems:
        raise SpecError(problems)
    return out


def _camel(*parts: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", " ".join(parts))
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def _from_openslo(doc: OpenSLOSpec, source: str, prefix: str) -> SLO:
    body = doc.spec
    problems = []
    objective = body.objectives[0]
    if (objective.target is None) == (objective.targetPercent is None):
        problems.append(f"{source}: {prefix}spec.objectives[0]: give one of target, targetPercent")
        percent = 0.0
    else:
        percent = (
            objective.targetPercent
            if objective.targetPercent is not None
            else (objective.target or 0.0) * 100
        )
        why = check_objective(percent)
        if why:
            problems.append(f"{source}: {prefix}spec.objectives[0]: {why}")
    window = body.timeWindow[0]
    try:
        period = _period(window.duration)
    except ValueError as exc:
        problems.append(f"{source}: {prefix}spec.timeWindow[0].duration: {exc}")
        period = DEFAULT_PERIOD
    if not window.isRolling:
        problems.append(
            f"{source}: {prefix}spec.timeWindow[0].isRolling: only rolling windows are supported"
        )
    ratio = body.indicator.spec.ratioMetric
    ratio_where = f"{prefix}spec.indicator.spec.ratioMetric"
    if (ratio.good is None) == (ratio.bad is None):
        problems.append(f"{source}: {ratio_where}: give exactly one of 'good' or 'bad'")
    if problems:
        raise SpecError(problems)
    total = ratio.total.metricSource.spec.query
    query_at = ".metricSource.spec.query"
    if ratio.bad is not None:
        error = ratio.bad.metricSource.spec.query
        error_where = f"{ratio_where}.bad{query_at}"
    else:
        assert ratio.good is not None
        error = f"({total}) - ({ratio.good.metricSource.spec.query})"
        error_where = f"{ratio_where}.good{query_at}"
    annotations = dict(doc.metadata.annotations)
    alert_name = annotations.pop("cryptopipe.io/alert-name", None) or _camel(
        body.service, doc.metadata.name, "budget burn"
    )
    return SLO(
        service=body.service,
        name=doc.metadata.name,
        objective=percent,
        period=period,
        description=body.description or doc.metadata.displayName or "",
        labels=dict(doc.metadata.labels),
        error_query=error,
        total_query=total,
        alerting=Alerting(name=alert_name, annotations=annotations),
        spec_format="openslo/v1",
        source=source,
        where=f"{prefix}metadata",
        query_fields=(
            ("error_query", error_where),
            ("total_query", f"{ratio_where}.total{query_at}"),
        ),
    )


def _documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise SpecError([f"{path}: not valid YAML: {exc}"]) from exc
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror}"]) from exc


def load_file(path: Path, period: str = DEFAULT_PERIOD) -> SpecSet:
    """Read one spec file (one or more YAML documents). Raises :class:`SpecError`."""
    source = str(path)
    docs = _documents(path)
    out = SpecSet()
    problems: list[str] = []
    if not docs:
        raise SpecError([f"{source}: holds no spec"])
    for n, doc in enumerate(docs):
        prefix = f"document {n + 1}: " if len(docs) > 1 else ""
        if not isinstance(doc, dict):
            problems.append(f"{source}: {prefix}(document): a spec must be a mapping")
            continue
        kind = doc.get("version") or doc.get("apiVersion")
        try:
            if kind == "prometheus/v1":
                out.slos.extend(_from_sloth(SlothSpec.model_validate(doc), source, prefix, period))
            elif kind == "openslo/v1":
                if doc.get("kind") != "SLO":
                    problems.append(
                        f"{source}: {prefix}kind: only OpenSLO 'kind: SLO' documents are read"
                    )
                    continue
                out.slos.append(_from_openslo(OpenSLOSpec.model_validate(doc), source, prefix))
            elif kind == "cryptopipe/v1":
                rr = RecordingRulesSpec.model_validate(doc)
                out.helpers.append(HelperRules(rr.service, tuple(rr.groups), source, prefix))
            else:
                problems.append(
                    f"{source}: {prefix}version: {kind!r} is not a known spec "
                    "(prometheus/v1, apiVersion openslo/v1, cryptopipe/v1)"
                )
        except ValidationError as exc:
            problems.extend(_validation_problems(source, prefix, exc))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return out


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """The spec files under ``paths`` (files as given, directories searched recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
            )
        else:
            found.append(path)
    return found


def load(paths: Iterable[Path], period: str = DEFAULT_PERIOD) -> SpecSet:
    """Read every spec under ``paths``; all problems of all files in one :class:`SpecError`."""
    _period(period)
    out = SpecSet()
    problems: list[str] = []
    paths = list(paths)
    files = spec_files(paths)
    if not files:
        where = ", ".join(str(p) for p in paths)
        raise SpecError([f"no spec files (*.yaml, *.yml) in {where}"])
    for path in files:
        try:
            one = load_file(path, period)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        out.slos.extend(one.slos)
        out.helpers.extend(one.helpers)
    seen: dict[str, str] = {}
    for slo in out.slos:
        if slo.id in seen:
            problems.append(
                f"{slo.source}: {slo.where}.name: SLO {slo.id!r} is also in {seen[slo.id]}"
            )
        seen[slo.id] = slo.source
    if problems:
        raise SpecError(problems)
    return out
