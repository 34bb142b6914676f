"""SLOs as code: spec loading, rule generation, promtool checks and live status."""
