"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import re

RAW_LIBRDKAFKA = re.compile(r"^%\d+\|\d+\.\d+\|[A-Z_]+\|")
