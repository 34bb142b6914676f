"""The processor's acceptance rules in pure Python, for the audit: which messages are trades.

The rules and their order are :mod:`cryptopipe.trade_rules` (shared with the Spark transform).
What this module adds is how Spark reads a message: ``from_json`` (PERMISSIVE, Jackson with
Spark's options) has semantics a plain JSON parser does not share, and the audit must decide
exactly as the processor does, or rejected input shows up as lost trades. Measured against the
real Spark session (tests/integration/audit/test_rules_agree_with_spark.py), Spark:

- reads only the first JSON value: anything after the root object is ignored;
- accepts single-quoted strings and names, ``NaN``/``Infinity``/``+INF``/``-INF``, ``\\'``;
  refuses comments, trailing commas, leading zeros, ``+1``, ``.5``, ``5.``, control characters in
  strings, a BOM, nesting deeper than 1000, numbers longer than 1000 characters, names longer
  than 50000; replaces invalid UTF-8 by U+FFFD;
- turns any value into a STRING field: a number becomes Java's text of it (``100.50`` ->
  ``100.5``, ``1e2`` -> ``100.0``, ``0.00001`` -> ``1.0E-5``, NaN -> ``"NaN"`` with quotes),
  an object or array its JSON text, ``true`` ``true``;
- refuses (corrupt record) a float or string into INT/BIGINT, an integer out of range, anything
  but true/false into BOOLEAN; keeps converting the other fields (partial results), and a
  failed field keeps the value an earlier duplicate key gave it; the last duplicate key wins;
- a syntax error outside a STRING field's value makes the whole record corrupt (no fields); one
  inside it is caught like a wrong type, and reading goes on from where the error was.

The hot path (a message as the producer writes it) is one regular expression built from the
shared patterns; other compact JSON costs an ``orjson.loads`` and type tests; anything unusual
goes through :class:`_Jackson`, a tokenizer modelled on Jackson's, down to where it stops after
an error (which decides what Spark makes of the rest of a STRING field's structure). Not
modelled: Jackson's 4,000-character input chunks (an error straddling one could leave it
elsewhere: the message is rejected either way, only not_json vs wrong_type could differ).
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from cryptopipe.dlq import DlqReason
from cryptopipe.trade_rules import (
    DECIMAL_BODY,
    DECIMAL_FRACTION,
    EXCHANGE,
    FIELD_TYPES,
    MAX_NOTIONAL,
    MAX_TIME_US,
    MIN_TIME_US,
    NOTIONAL_PRICE_BOUND,
    NOTIONAL_QTY_BOUND,
    REASON_OF,
    REQUIRED_FIELDS,
    RULES,
    SCHEMA_VERSION,
    SPARK_BIGINT_MAX,
    SPARK_BIGINT_MIN,
    SPARK_INT_MAX,
    SPARK_INT_MIN,
    SYMBOL_BODY,
    Rule,
)

logger = logging.getLogger(__name__)

_DECIMAL = re.compile(DECIMAL_BODY)
_SYMBOL = re.compile(SYMBOL_BODY)


def _producer_form() -> re.Pattern[bytes]:
    """A trade exactly as the producer writes it (compact JSON, keys in schema order), every
    value within the rules by construction but the configured symbols and the upper time
    bound; ``symbol``, ``trade_id`` and ``time`` captured. Stricter than the rules (a positive
    price below NOTIONAL_PRICE_BOUND, a quantity below NOTIONAL_QTY_BOUND, ids and times that
    fit a BIGINT by their number of digits): whatever it does not match is judged in full."""
    bigint = "-?(?:0|[1-9][0-9]{0,17})"  # 18 digits at most: always a BIGINT
    price_digits = len(str(NOTIONAL_PRICE_BOUND)) - 1
    qty_digits = len(str(NOTIONAL_QTY_BOUND)) - 1
    parts = {
        "v": str(SCHEMA_VERSION),
        "exchange": f'"{EXCHANGE}"',
        "symbol": f'"(?P<symbol>{SYMBOL_BODY})"',
        "trade_id": "(?P<trade_id>0|[1-9][0-9]{0,17})",
        # (?=[0.]*[1-9]): not zero
        "price": f'"(?=[0.]*[1-9])[0-9]{{1,{price_digits}}}{DECIMAL_FRACTION}"',
        "quantity": f'"(?=[0.]*[1-9])[0-9]{{1,{qty_digits}}}{DECIMAL_FRACTION}"',
        "trade_time_us": f"(?P<time>[1-9][0-9]{{{len(str(MIN_TIME_US)) - 1}}})",
        "event_time_us": bigint,
        "ingest_time_us": bigint,
        "is_buyer_maker": "(?:true|false)",
    }
    assert list(parts) == list(REQUIRED_FIELDS)
    assert len(str(MIN_TIME_US)) == len(str(MAX_TIME_US))
    body = ",".join(f'"{name}":{value}' for name, value in parts.items())
    return re.compile(("{" + body + "}").encode())


_PRODUCER_FORM = _producer_form()
_TYPES = dict(FIELD_TYPES)
_N_FIELDS = len(REQUIRED_FIELDS)

# Jackson's StreamReadConstraints defaults (Spark does not change them)
MAX_DEPTH = 1000
MAX_NUMBER_DIGITS = 1000
MAX_NAME_CHARS = 50_000
_WS = " \t\n\r"
_WS_BYTES = tuple(c.encode() for c in _WS)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# the tokens a letter starts: (word, token kind, value)
_WORDS: dict[str, tuple[str, str, Any]] = {
    "t": ("true", "true", None),
    "f": ("false", "false", None),
    "n": ("null", "null", None),
    "N": ("NaN", "float", "NaN"),
    "I": ("Infinity", "float", "Infinity"),
}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPES["'"] = "'"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the processor's rules refuse a message, and whose symbol it carries (if known)."""

    rule: Rule
    reason: DlqReason
    symbol: str | None


class _JsonError(Exception):
    """A syntax error, as Jackson would raise it."""


class _TypeMismatchError(Exception):
    """A value Spark cannot convert to its field's type (a corrupt record)."""


# token kinds
_START_OBJ, _END_OBJ, _START_ARR, _END_ARR, _NAME = "{", "}", "[", "]", "name"
_STRING, _INT, _FLOAT, _TRUE, _FALSE, _NULL = "str", "int", "float", "true", "false", "null"


class _Jackson:
    """Jackson's streaming parser as Spark drives it (``ReaderBasedJsonParser``): the same
    tokens, the same points of failure, the same state after a failure."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        # contexts: [kind, entries so far]; kind "root" | "obj" | "arr"
        self.ctx: list[list[Any]] = [["root", 0]]
        self.token: str | None = None
        self.value: Any = None
        self._pending: tuple[str, Any] | None = None  # the value parsed with a field name
        self._lazy_string = False  # a string token whose text is not read yet

    # -- characters ------------------------------------------------------------------
    def _fail(self, what: str) -> _JsonError:
        return _JsonError(f"{what} at {self.i}")

    def _next_char(self) -> str | None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            self.i += 1
            if c > " ":
                if c == "/":
                    raise self._fail("comment")
                return c
            if c not in _WS:
                raise self._fail("illegal character")
        return None

    def _invalid_token(self, matched: int) -> _JsonError:
        # Jackson reads on over identifier characters to report the token (256 at most,
        # counting the ``matched`` ones before them)
        n = matched
        while self.i < len(self.s) and _identifier_part(self.s[self.i]) and n < 256:
            self.i += 1
            n += 1
        return self._fail("invalid token")

    # -- values ------------------------------------------------------------------------
    def _string(self, quote: str) -> str:
        s, n = self.s, len(self.s)
        out: list[str] = []
        while True:
            if self.i >= n:
                raise self._fail("end of input in string")
            c = s[self.i]
            self.i += 1
            if c == quote:
                return "".join(out)
            if c == "\\":
                if self.i >= n:
                    raise self._fail("end of input in escape")
                e = s[self.i]
                self.i += 1
                if e == "u":
                    digits = s[self.i : self.i + 4]
                    for d in digits:  # Jackson reads up to the first that is no hex digit
                        self.i += 1
                        if d not in "0123456789abcdefABCDEF":
                            raise self._fail("bad unicode escape")
                    if len(digits) < 4:
                        raise self._fail("end of input in escape")
                    out.append(chr(int(digits, 16)))
                elif e in _ESCAPES:
                    out.append(_ESCAPES[e])
                else:
                    raise self._fail("unrecognized escape")
            elif c < " ":
                raise self._fail("control character in string")
            else:
                out.append(c)

    def _number(self) -> tuple[str, str]:
        # where Jackson stops on a bad number matters: a STRING field's structure is read on
        # from there (measured against Spark, see the module docstring)
        m = _NUMBER.match(self.s, self.i)
        if m is None or m.end() == self.i:
            self.i += 2  # the minus sign and the character after it
            raise self._fail("bad number")
        end = m.end()
        nxt = self.s[end : end + 1]
        text = m.group(0)
        digits = text.lstrip("-")
        if digits.startswith("0") and nxt.isdigit() and nxt.isascii():
            self.i = end  # the second digit is left unread
            raise self._fail("leading zeroes")
        if nxt and nxt in ".eE":
            if digits.startswith("0"):
                # Jackson's slow path (a number starting with 0) reads the point, or the "e"
                # and its sign, and the character after them
                j = end + 1
                if nxt in "eE" and self.s[j : j + 1] in ("+", "-"):
                    j += 1
                self.i = j + 1
            else:
                # its fast path is left just after the point, or after the "e" if no point
                self.i = m.start(1) + 1 if m.group(1) else end + 1
            raise self._fail("no digit after the decimal point or exponent mark")
        self.i = end
        kind = _FLOAT if m.group(1) or m.group(2) else _INT
        # Jackson counts digits (of the integer, fraction and exponent parts)
        if sum(ch.isdigit() for ch in text) > MAX_NUMBER_DIGITS:
            raise self._fail("number too long")
        return kind, text

    def _match(self, word: str, k: int) -> None:
        """Jackson's ``_matchToken``: the rest of ``word`` from its ``k``-th character on."""
        s = self.s
        while k < len(word):
            if s[self.i : self.i + 1] != word[k]:
                raise self._invalid_token(k)
            self.i += 1
            k += 1
        nxt = s[self.i : self.i + 1]
        # Jackson checks the character after the word only from "0" up, "]" and "}" aside
        if nxt and nxt >= "0" and nxt not in "]}" and _identifier_part(nxt):
            raise self._invalid_token(k)

    def _bad_number_start(self, c: str, negative: bool) -> tuple[str, Any]:
        """Jackson's ``_handleInvalidNumberStart``: after a sign, only -INF, -Infinity, +INF,
        +Infinity are values (``c`` is the character after the sign, consumed)."""
        if c == "I" and self.i < len(self.s):
            c2 = self.s[self.i]
            self.i += 1
            sign = "-" if negative else "+"
            if c2 == "N":
                self._match(sign + "INF", 3)
                return _FLOAT, "-Infinity" if negative else "Infinity"
            if c2 == "n":
                self._match(sign + "Infinity", 3)
                return _FLOAT, "-Infinity" if negative else "Infinity"
        raise self._fail("bad number start")

    def _value_token(self, c: str) -> tuple[str, Any]:
        """The token of a value starting with ``c`` (already consumed); strings are lazy."""
        if c == '"':
            return _STRING, None
        if c in "{[":
            return c, None
        if c in _WORDS:
            word, kind, text = _WORDS[c]
            self._match(word, 1)
            return kind, text
        if c == "-":
            nxt = self.s[self.i : self.i + 1]
            if not nxt:
                raise self._fail("end of input after minus")
            if not (nxt.isdigit() and nxt.isascii()):
                self.i += 1
                return self._bad_number_start(nxt, negative=True)
            self.i -= 1
            return self._number()
        if c.isdigit() and c.isascii():
            self.i -= 1
            return self._number()
        if c == "'":
            return _STRING, self._string("'")
        if c == "+":
            if self.i >= len(self.s):
                raise self._fail("end of input after plus")
            self.i += 1
            return self._bad_number_start(self.s[self.i - 1], negative=False)
        if _identifier_start(c):
            raise self._invalid_token(1)
        raise self._fail("expected a value")

    # -- tokens ------------------------------------------------------------------------
    def next_token(self) -> str | None:
        if self.token == _NAME:
            # the value was parsed with its name; after a failure there, Jackson has none
            pending, self._pending = self._pending, None
            if pending is None:
                self.token = None
                return None
            return self._set(*pending)
        if self._lazy_string:
            self._lazy_string = False
            self._string('"')
        c = self._next_char()
        ctx = self.ctx[-1]
        if c is None:
            if ctx[0] != "root":
                raise self._fail("end of input in object or array")
            self.token = None
            return None
        if c in "}]":
            if ctx[0] != ("obj" if c == "}" else "arr"):
                raise self._fail("mismatched close marker")
            self.ctx.pop()
            self.token = c
            return c
        ctx[1] += 1
        if ctx[1] > 1 and ctx[0] != "root":
            if c != ",":
                raise self._fail("expected comma")
            c = self._next_char()
            if c is None:
                raise self._fail("end of input after comma")
        if ctx[0] == "obj":
            if c in "\"'":
                name = self._string(c)
            else:
                if _identifier_start(c):
                    raise self._invalid_token(1)
                raise self._fail("expected a field name")
            if len(name) > MAX_NAME_CHARS:
                raise self._fail("name too long")
            self.token, self.value, self._pending = _NAME, name, None
            if self._next_char() != ":":
                raise self._fail("expected colon")
            c = self._next_char()
            if c is None:
                raise self._fail("end of input after colon")
            self._pending = self._value_token(c)
            return _NAME
        return self._set(*self._value_token(c))

    def _set(self, kind: str, value: Any) -> str:
        if kind in "{[":
            if len(self.ctx) > MAX_DEPTH:  # the root object counts
                raise self._fail("nesting too deep")
            self.ctx.append(["obj" if kind == "{" else "arr", 0])
        self._lazy_string = kind == _STRING and value is None
        self.token, self.value = kind, value
        return kind

    def text(self) -> str:
        """The text of the current string token (reads it if lazy)."""
        if self._lazy_string:
            self._lazy_string = False
            self.value = self._string('"')
        return str(self.value)

    def skip_children(self) -> None:
        if self.token not in ("{", "["):
            return
        depth = 1
        while depth:
            t = self.next_token()
            if t is None:
                raise self._fail("end of input")
            if t in "{[":
                depth += 1
            elif t in "}]":
                depth -= 1

    def copy_structure(self) -> str:
        """JSON text of the current value (Spark's STRING field of a non-string token)."""
        t = self.token
        if t == _INT:
            return str(int(self.value))
        if t == _FLOAT:
            return _java_double_text(self.value)
        if t in (_TRUE, _FALSE, _NULL):
            return t
        if t == _STRING:  # (json, not orjson: a lone surrogate is a valid Java string)
            return json.dumps(self.text())
        if t == _NAME:
            return json.dumps(self.value) + ":"
        parts = [t or ""]
        depth = 1
        while depth:
            tok = self.next_token()
            if tok is None:
                raise self._fail("end of input")
            if tok in "{[":
                depth += 1
                parts.append(tok)
            elif tok in "}]":
                depth -= 1
                parts.append(tok)
            else:
                parts.append(self.copy_structure())
        return "".join(parts)


def _identifier_start(c: str) -> bool:
    """Java's ``Character.isJavaIdentifierStart`` (Jackson reads such a token on)."""
    return unicodedata.category(c) in _JAVA_ID_START


def _identifier_part(c: str) -> bool:
    """Java's ``Character.isJavaIdentifierPart``: also digits, marks and the "ignorable"
    control characters (U+0000-U+0008, U+000E-U+001B, U+007F-U+009F, format characters)."""
    o = ord(c)
    if o <= 0x08 or 0x0E <= o <= 0x1B or 0x7F <= o <= 0x9F:
        return True
    return unicodedata.category(c) in _JAVA_ID_PART


_JAVA_ID_START = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Sc", "Pc"})
_JAVA_ID_PART = _JAVA_ID_START | {"Nd", "Mn", "Mc", "Cf"}


def _java_double_text(text: str) -> str:
    """Java's ``Double.toString`` of a JSON float token, as Spark writes it into a STRING
    field (non-finite values come quoted, as Jackson writes them)."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return f'"{text}"'
    d = float(text)  # a finite token may still overflow to infinity
    if math.isinf(d):
        return '"Infinity"' if d > 0 else '"-Infinity"'
    a = abs(d)
    if a == 0 or 1e-3 <= a < 1e7:
        return repr(d)  # plain notation, shortest digits (Java 19+; Java 17 agrees here)
    sign, digits, exp = Decimal(repr(d)).as_tuple()
    assert isinstance(exp, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{len(digits) + exp - 1}"


def _convert(p: _Jackson, kind: str) -> Any:
    """Spark's converter of a field of Spark type ``kind``, the value token next."""
    t = p.next_token()
    if t is None or t == _NULL:
        return None
    if kind == "STRING":
        return p.text() if t == _STRING else p.copy_structure()
    if kind in ("INT", "BIGINT") and t == _INT:
        n = int(p.value)
        lo, hi = (
            (SPARK_INT_MIN, SPARK_INT_MAX)
            if kind == "INT"
            else (SPARK_BIGINT_MIN, SPARK_BIGINT_MAX)
        )
        if lo <= n <= hi:
            return n
    elif kind == "BOOLEAN" and t in (_TRUE, _FALSE):
        return t == _TRUE
    raise _TypeMismatchError(kind)


def spark_row(text: str) -> tuple[dict[str, Any], bool] | None:
    """What ``from_json`` (PERMISSIVE) gives for ``text``: the fields and whether the record is
    corrupt; None when it gives no row at all (empty input)."""
    p = _Jackson(text)
    fields: dict[str, Any] = {}
    corrupt = False
    try:
        first = p.next_token()
        if first is None:
            return None
        if first != _START_OBJ:
            return {}, True
        while True:
            t = p.next_token()
            if t is None or t == _END_OBJ:
                break
            name = str(p.value) if t == _NAME else ""
            kind = _TYPES.get(name) if t == _NAME else None
            if kind is None:
                p.skip_children()
                continue
            try:
                fields[name] = _convert(p, kind)
            except (_TypeMismatchError, _JsonError):
                corrupt = True
                p.skip_children()
    except _JsonError:
        return {}, True
    return fields, corrupt


class TradeValidator:
    """Decides, as the processor would, whether a Kafka message is a trade.

    :meth:`check` returns ``(symbol, trade_id, trade_time_us)`` of a valid trade, else the
    :class:`Rejection`. ``symbols`` are the processor's configured symbols (empty: any)."""

    def __init__(self, max_message_bytes: int, symbols: Iterable[str] = ()) -> None:
        self.max_message_bytes = max_message_bytes
        self.symbols = frozenset(symbols)

    def check(
        self, value: bytes | None, key: bytes | None = None
    ) -> tuple[str, int, int] | Rejection:
        if value is not None and len(value) <= self.max_message_bytes:
            m = _PRODUCER_FORM.fullmatch(value)
            if m is not None:
                sym, trade_id, time = m.group("symbol", "trade_id", "time")
                symbol, time_us = sym.decode(), int(time)
                if time_us <= MAX_TIME_US and (not self.symbols or symbol in self.symbols):
                    return symbol, int(trade_id), time_us
        fast = self._fast(value)
        if fast is not None:
            return fast
        return self._slow(value, key)

    def _fast(self, value: bytes | None) -> tuple[str, int, int] | None:
        """A compact JSON object of the ten fields, each of its type (any key order):
        valid, or None to look closer. (Arrays and objects cannot hide in it: ten keys and ten
        key-colons leave no room for another field, and each field's type is checked.)"""
        if not value or len(value) > self.max_message_bytes or value[0] != 0x7B:
            return None
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        # ten distinct keys, ten key-colons and no whitespace (which could stand between a key
        # and its colon): no duplicate keys, no other or nested fields
        if (
            type(doc) is not dict
            or len(doc) != _N_FIELDS
            or value.count(b'":') != _N_FIELDS
            or any(ws in value for ws in _WS_BYTES)
        ):
            return None
        try:
            v, symbol, trade_id = doc["v"], doc["symbol"], doc["trade_id"]
            price, qty, time_us = doc["price"], doc["quantity"], doc["trade_time_us"]
            event_us, ingest_us = doc["event_time_us"], doc["ingest_time_us"]
            maker, exchange = doc["is_buyer_maker"], doc["exchange"]
        except KeyError:
            return None
        if not (
            type(v) is int
            and v == SCHEMA_VERSION
            and exchange == EXCHANGE
            and type(symbol) is str
            and type(trade_id) is int
            and 0 <= trade_id <= SPARK_BIGINT_MAX
            and type(time_us) is int
            and MIN_TIME_US <= time_us <= MAX_TIME_US
            and type(event_us) is int
            and SPARK_BIGINT_MIN <= event_us <= SPARK_BIGINT_MAX
            and type(ingest_us) is int
            and SPARK_BIGINT_MIN <= ingest_us <= SPARK_BIGINT_MAX
            and type(maker) is bool
            and type(price) is str
            and type(qty) is str
            and _SYMBOL.fullmatch(symbol)
            and (not self.symbols or symbol in self.symbols)
            and _DECIMAL.fullmatch(price)
            and _DECIMAL.fullmatch(qty)
        ):
            return None
        p, q = Decimal(price), Decimal(qty)
        if p <= 0 or q <= 0:
            return None
        if not (p < NOTIONAL_PRICE_BOUND and q < NOTIONAL_QTY_BOUND) and p * q > MAX_NOTIONAL:
            return None
        return symbol, trade_id, time_us

    def _slow(self, value: bytes | None, key: bytes | None) -> tuple[str, int, int] | Rejection:
        if value is None:
            return self._reject(Rule.EMPTY, None, key)
        if len(value) > self.max_message_bytes:
            return self._reject(Rule.SIZE, None, key)
        try:
            row = spark_row(value.decode("utf-8", "replace"))
        except Exception:  # a gap in the model of Spark: say so, keep auditing
            logger.exception("could not judge a message like Spark; counted as not JSON")
            row = None
        fields, corrupt = row if row is not None else ({}, True)
        failed = self.first_failed_rule(fields, corrupt)
        if failed is None:
            return str(fields["symbol"]), int(fields["trade_id"]), int(fields["trade_time_us"])
        return self._reject(failed, fields.get("symbol"), key)

    def _reject(self, rule: Rule, symbol: Any, key: bytes | None) -> Rejection:
        known = symbol if isinstance(symbol, str) and _SYMBOL.fullmatch(symbol) else None
        return self.with_key(Rejection(rule, REASON_OF[rule], known), key)

    @staticmethod
    def with_key(rejection: Rejection, key: bytes | None) -> Rejection:
        """The rejection, its symbol taken from the Kafka key if the message had none."""
        if rejection.symbol is not None or not key:
            return rejection
        name = key.decode("utf-8", "replace")
        if not _SYMBOL.fullmatch(name):
            return rejection
        return Rejection(rejection.rule, rejection.reason, name)

    def first_failed_rule(self, f: dict[str, Any], corrupt: bool) -> Rule | None:
        """The first rule of :data:`RULES` (after the size rules) that fires, or None."""
        values = [f.get(name) for name in REQUIRED_FIELDS]
        price = _exact(f.get("price"))
        qty = _exact(f.get("quantity"))
        fired: dict[Rule, bool] = {
            Rule.EMPTY: False,
            Rule.SIZE: False,
            Rule.JSON: corrupt and all(x is None for x in values),
            Rule.TYPES: corrupt,
            Rule.REQUIRED: any(x is None for x in values),
        }
        for rule, _reason in RULES:
            if rule in fired:
                if fired[rule]:
                    return rule
                continue
            if self._fires(rule, f, price, qty):
                return rule
        return None

    def _fires(
        self, rule: Rule, f: dict[str, Any], price: Decimal | None, qty: Decimal | None
    ) -> bool:
        if rule is Rule.VERSION:
            return bool(f["v"] != SCHEMA_VERSION)
        if rule is Rule.EXCHANGE:
            return bool(f["exchange"] != EXCHANGE)
        if rule is Rule.SYMBOL:
            sym = f["symbol"]
            return not (_SYMBOL.fullmatch(sym) and (not self.symbols or sym in self.symbols))
        if rule is Rule.DECIMAL:
            return price is None or qty is None
        assert price is not None and qty is not None
        if rule is Rule.POSITIVE:
            return price <= 0 or qty <= 0
        if rule is Rule.NOTIONAL:
            small = price < NOTIONAL_PRICE_BOUND and qty < NOTIONAL_QTY_BOUND
            return not small and price * qty > MAX_NOTIONAL
        if rule is Rule.TRADE_ID:
            return bool(f["trade_id"] < 0)
        if rule is Rule.TIME:
            return not MIN_TIME_US <= f["trade_time_us"] <= MAX_TIME_US
        raise AssertionError(f"no check for rule {rule}")


def _exact(text: Any) -> Decimal | None:
    """A DECIMAL(20,8) exactly as written, else None (Spark: rlike, then try_cast)."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        return None
    return Decimal(text)
