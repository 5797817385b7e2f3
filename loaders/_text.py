"""Strict line reading shared by the loaders: every problem becomes an InputError naming the file and the line.

Loaders parse whole files before returning (the ingest stage writes only after a loader returned), so these helpers
read a file at once, decode it strictly and hand back numbered lines. Line numbers are 1-based, as an editor shows them.
Legitimate files are not rejected: CRLF endings, a UTF-8 byte-order mark and blank lines (often trailing) are accepted.
"""

from __future__ import annotations

import math
from pathlib import Path

from graphrec.errors import InputError

Line = tuple[int, str]  # (1-based line number, text without its line ending)


Encoding = str | tuple[str, ...]  # one encoding, or several tried in order (the last one's failure is reported)


def read_text(path: Path, encoding: Encoding = "utf-8") -> str:
    """The whole file decoded strictly; a missing file, a folder or a bad byte is an InputError."""
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_dir():
        raise InputError(path, "expected a file, found a folder")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read the file: {exc.strerror or exc}") from None
    encodings = (encoding,) if isinstance(encoding, str) else encoding
    if b"\x00" in data and not any(e.lower().replace("_", "-").startswith(("utf-16", "utf-32")) for e in encodings):
        _refuse_nul(path, data)
    for candidate in encodings:
        try:
            text = data.decode(candidate)
            return text[1:] if text.startswith("\ufeff") else text
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            error = InputError(path, f"not valid {candidate} text (byte 0x{data[exc.start]:02x}); "
                                     f"convert the file to {candidate}", line=line)
    raise error


def _refuse_nul(path: Path, data: bytes) -> None:
    """A NUL byte belongs in no id or text field; many of them at every other byte mean UTF-16 without a BOM."""
    first = data.index(b"\x00")
    line = data.count(b"\n", 0, first) + 1
    head = data[:4000]
    if head.count(b"\x00") * 3 >= len(head):
        order = "le" if head[1:2] == b"\x00" else "be"
        raise InputError(path, f"holds NUL bytes at every other position: it looks like UTF-16 text without a "
                               f"byte-order mark; convert it to UTF-8, or pass -o encoding=utf-16-{order}", line=line)
    raise InputError(path, "holds a NUL byte (0x00), which no id or value may contain", line=line)


def read_lines(path: Path, encoding: Encoding = "utf-8", header: str | None = None,
               sep: str | None = None) -> list[Line]:
    """Non-blank lines of ``path`` with their numbers; an empty file is an InputError.

    ``header``: the exact first line the format requires (compared field by field with ``sep``); it is checked,
    then dropped. A file holding nothing else counts as empty.
    """
    lines = [(number, text.rstrip("\r"))
             for number, text in enumerate(read_text(path, encoding).split("\n"), start=1) if text.strip()]
    if header is not None and lines:
        number, first = lines[0]
        if first.split(sep) != header.split(sep):
            raise InputError(path, f"expected the header {header!r}, found {first[:120]!r}", line=number)
        lines = lines[1:]
    if not lines:
        raise InputError(path, "the file is empty" if header is None else "the file holds a header but no data")
    return lines


def fields(path: Path, number: int, text: str, count: int, sep: str | None = None) -> list[str]:
    """``text`` split by ``sep`` (None: any whitespace) into exactly ``count`` fields."""
    parts = text.split(sep)
    if len(parts) != count:
        how = "whitespace" if sep is None else repr(sep)
        raise InputError(path, f"expected {count} fields separated by {how}, found {len(parts)}: {text[:120]!r}",
                         line=number)
    return parts


def int_id(path: Path, number: int, token: str, what: str) -> str:
    """``token`` unchanged, after checking it is a non-negative integer (formats with integer ids)."""
    if not (token.isascii() and token.isdigit()):
        raise InputError(path, f"{what} must be a non-negative integer, found {token!r}", line=number)
    return token


def check_int_ids(path: Path, number: int, tokens: list[str], what: str) -> None:
    """Fast check of many integer ids at once (one call per line, not per token)."""
    joined = "".join(tokens)
    if not (joined.isascii() and joined.isdigit()):
        bad = next(t for t in tokens if not (t.isascii() and t.isdigit()))
        int_id(path, number, bad, what)


def number_value(path: Path, number: int, token: str, what: str) -> float:
    """A finite float (a weight or a rating)."""
    try:
        value = float(token.replace("_", "?"))  # float() would accept "1_0"
    except ValueError:
        raise InputError(path, f"{what} must be a number, found {token!r}", line=number) from None
    if not math.isfinite(value):
        raise InputError(path, f"{what} must be a finite number, found {token!r}", line=number)
    return value


def int_value(path: Path, number: int, token: str, what: str) -> int:
    """An integer such as a Unix timestamp or an age."""
    digits = token[1:] if token[:1] in ("-", "+") else token
    if not (digits.isascii() and digits.isdigit()):  # int() would accept " 7", "1_0" and non-ASCII digits
        raise InputError(path, f"{what} must be an integer, found {token!r}", line=number)
    return int(token)
