"""Turning a file into records, whatever its shape: JSONL, a JSON list, a JSON object (one record,
or id -> record), or plain text.

A record that cannot be read becomes a `Bad` item with where and why, never an exception, so the
good records beside it still import. Problems with the file as a whole (missing, a folder, empty,
not UTF-8 where the whole file must be decoded) raise `FileError` with a one-line reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from curator.errors import CuratorError

MAX_RECORD_BYTES = 32 * 1024 * 1024  # one trajectory larger than this is a mistake, not data
MAX_DEPTH = 1024  # orjson's nesting limit; no trajectory nests nearly this deep
BOM = b"\xef\xbb\xbf"
RAW_KEEP_BYTES = 64 * 1024  # how much of a bad record the quarantine keeps


class FileError(CuratorError):
    """A whole file cannot be read; the message is one line naming the file."""


@dataclass(frozen=True)
class Record:
    where: str  # "line 12", "record 3", "key 'webthink_simple'", "file"
    value: Any  # parsed JSON value, or str for plain text
    key: str | None = None  # the object key when the file maps id -> record
    raw: bytes | None = None  # source bytes where cheap to keep (JSONL lines)


@dataclass(frozen=True)
class Bad:
    where: str
    reason: str
    raw: str


def raw_excerpt(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    text = data[:RAW_KEEP_BYTES].decode("utf-8", "replace")
    if len(data) > RAW_KEEP_BYTES:
        text += f"\n... [{len(data) - RAW_KEEP_BYTES} more bytes not kept]"
    return text


def check_path(path: Path) -> None:
    if not path.exists():
        raise FileError(f"{path}: no such file")
    if path.is_dir():
        raise FileError(f"{path}: is a folder; give the files inside it (e.g. {path}/*.jsonl)")
    if not os.access(path, os.R_OK):
        raise FileError(f"{path}: not readable")
    if path.stat().st_size == 0:
        raise FileError(f"{path}: empty file")


def read_records(path: Path, is_single_record, part: tuple[int, int] = (0, 1)) -> Iterator[Record | Bad]:
    """Yield the records of a file. `is_single_record(obj)` tells whether a top-level JSON object
    is itself one record (as opposed to a mapping of id -> record); the importers answer it.

    `part` (k, n): the k-th of n contiguous stretches of a JSON Lines file's lines, so that n
    processes can read one file (`ingest`); a file of any other shape is all in part 0."""
    check_path(path)
    data = path.read_bytes()
    data = data.removeprefix(BOM)  # Windows tools write one; it is not part of the JSON
    stripped = data.lstrip()
    if not stripped:
        raise FileError(f"{path}: holds only whitespace")
    if stripped[:1] == b"[":
        yield from _json_array(path, data, part)
    elif stripped[:1] == b"{":
        if _looks_like_jsonl(data):
            yield from _jsonl(data, part)
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if reason := _hostile(exc):
                raise FileError(f"{path}: {reason}") from None
            # several objects, one a line, the first broken (or a broken single object)
            yield from _jsonl(data, part)
            return
        if part[0] == 0:
            yield from _json_object(path, obj, is_single_record)
    elif part[0] == 0:
        yield from _text(path, data)


def _looks_like_jsonl(data: bytes) -> bool:
    """A first line that is a JSON value with more after it, or one line over the record limit
    (reported, not parsed): JSON Lines, known without a pass over the whole file (parsing all of
    it as one document fails only after reading all of it)."""
    end = data.find(b"\n", 0, MAX_RECORD_BYTES)
    if end == -1:
        return len(data) > MAX_RECORD_BYTES
    try:
        orjson.loads(data[:end])
    except orjson.JSONDecodeError as exc:
        if not _hostile(exc):  # a first line too deep to read is still a line of JSON Lines
            return False
    return _NON_SPACE.search(data, end) is not None


_NON_SPACE = re.compile(rb"\S")


def _jsonl(data: bytes, part: tuple[int, int]) -> Iterator[Record | Bad]:
    k, n = part
    start, end = _part_start(data, k, n), _part_start(data, k + 1, n)
    lines_before = (
        data.count(b"\n", 0, start) + data.count(b"\r", 0, start) - data.count(b"\r\n", 0, start)
    )  # as `splitlines` counts them
    for number, line in enumerate(data[start:end].splitlines(), start=lines_before + 1):
        if not line.strip():
            continue
        where = f"line {number}"
        if len(line) > MAX_RECORD_BYTES:
            yield Bad(
                where,
                f"line is {len(line) / 1e6:.0f} MB, over the {MAX_RECORD_BYTES // 2**20} MiB record limit",
                raw_excerpt(line),
            )
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Bad(where, _json_reason(line, exc), raw_excerpt(line))
            continue
        yield Record(where, value, raw=line)


def _part_start(data: bytes, k: int, n: int) -> int:
    """Where part k of n of a JSON Lines file starts: after the first newline at or past k/n of
    its bytes, so that each part holds whole lines."""
    if k == 0:
        return 0
    cut = data.find(b"\n", len(data) * k // n) if k < n else -1
    return len(data) if cut == -1 else cut + 1


def _json_reason(data: bytes, exc: Exception) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return f"invalid UTF-8 at byte {err.start}"
    return _hostile(exc) or f"invalid JSON: {str(exc).splitlines()[0]}"


def _hostile(exc: Exception) -> str | None:
    """The one-line reason for JSON that is valid but beyond what a parser should follow (it
    would blow the stack or the number range), or None for ordinary bad JSON."""
    message = str(exc)
    if "depth limit" in message or isinstance(exc, RecursionError):
        return f"nested deeper than {MAX_DEPTH} levels"
    if "infinity" in message or "digits" in message:
        return "a number too large to read"
    return None


def _json_array(path: Path, data: bytes, part: tuple[int, int]) -> Iterator[Record | Bad]:
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if reason := _hostile(exc):
            raise FileError(f"{path}: {reason}") from None
        if _first_line_is_json(data):
            yield from _jsonl(data, part)  # JSONL whose lines are lists (bare message lists)
        elif part[0] == 0:
            # Salvage the complete elements before the damage (a truncated download, say).
            yield from _salvage_array(path, data, exc)
        return
    if not isinstance(items, list):
        raise FileError(f"{path}: top-level JSON is not a list")
    if part[0] != 0:
        return
    for index, value in enumerate(items):
        yield Record(f"record {index}", value)


def _first_line_is_json(data: bytes) -> bool:
    first, _, rest = data.strip().partition(b"\n")
    if not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


def _salvage_array(path: Path, data: bytes, exc: Exception) -> Iterator[Record | Bad]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileError(f"{path}: invalid UTF-8 at byte {err.start}") from None
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    index = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            value, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
            reason = _hostile(err) or f"invalid JSON: {getattr(err, 'msg', err)}"
            yield Bad(
                f"record {index} (byte {len(text[:pos].encode())})",
                f"{reason} (the file is cut off or damaged from here)",
                raw_excerpt(text[pos:]),
            )
            return
        yield Record(f"record {index}", value)
        index += 1
        pos = end


def _json_object(path: Path, obj: dict, is_single_record) -> Iterator[Record | Bad]:
    if is_single_record(obj):
        yield Record("file", obj)
        return
    for key, value in obj.items():
        yield Record(f"key {key!r}", value, key=str(key))


def _text(path: Path, data: bytes) -> Iterator[Record | Bad]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileError(
            f"{path}: invalid UTF-8 at byte {err.start} (not a JSON, JSONL or text file?)"
        ) from None
    if text.lstrip().startswith('"'):  # a JSON document that is one string (a ReAct prompt)
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, str):
            text = value
    yield Record("file", text)
