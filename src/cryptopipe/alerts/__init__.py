"""`cryptopipe alerts`: what fires now, from the live Alertmanager (or Prometheus)."""
