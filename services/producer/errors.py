"""Errors a source raises that the command turns into an exit code (no imports of the wiring)."""

from __future__ import annotations


class StartupError(RuntimeError):
    """Bad configuration found at start (e.g. a symbol Binance does not list)."""
