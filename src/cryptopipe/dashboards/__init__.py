"""Grafana dashboards as code (grafana-foundation-sdk): SLO overview, pipeline internals, market.

`cryptopipe dashboards generate` writes them to dashboards/*.json; docs/dashboards.md."""
