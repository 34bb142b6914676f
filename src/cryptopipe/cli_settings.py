"""CLI options become settings: the one step every command shares.

A command's options that were given (not None) override the ``CRYPTOPIPE_*`` environment; the
rest come from it. Settings that do not validate print a clear message and exit with
:data:`EXIT_CONFIG` (2), before anything starts. Imports fast (pydantic loads on first use), so
``--help`` stays quick.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2

if TYPE_CHECKING:  # keeps pydantic off the import path of --help
    from pydantic_settings import BaseSettings

S = TypeVar("S", bound="BaseSettings")


def given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that were given on the command line (click passes None for the others)."""
    return {k: v for k, v in options.items() if v is not None}


def invalid_settings(message: object) -> NoReturn:
    """Print why the settings are invalid and exit 2."""
    click.secho(f"error: invalid settings:\n{message}", fg="red", err=True)
    sys.exit(EXIT_CONFIG)


def build_settings(cls: type[S], **options: Any) -> S:
    """``cls`` from the given options over the environment; invalid settings exit 2."""
    from pydantic import ValidationError  # noqa: PLC0415 (fast --help)
    from pydantic_settings import SettingsError  # noqa: PLC0415

    try:
        return cls(**given(options))
    except (ValidationError, SettingsError) as exc:
        invalid_settings(exc)
