"""The metric names a registry exports (a histogram family as its _bucket/_count/_sum series)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names
