"""Peer implementations `cryptopipe bench` runs beside ours (scripts for the peers' venv)."""
