"""Importers: one small module per source family, chosen from the content (never the file name).

Each family module has `NAME`, `sniff(value) -> bool` (does this parsed record look like mine?) and
`parse(value, ctx, where, key) -> list[Trajectory]` (raises `RecordError` for a bad record).
A family whose trajectories span many records (an event log, one event a line: Claude Code,
Codex, span exports) has `groups(records) -> list[(where, records)]` instead, and `parse` takes
one group's records. `parse_file` reads a file into records, picks the family, and yields
trajectories and `Bad` items; it never stops at a bad record.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from curator.importers import (
    alfworld,
    alpaca,
    atif,
    claudecode,
    cline,
    codex,
    fireact,
    multiagent,
    openai_chat,
    openinference,
    otel,
    react,
    sharegpt,
    sweagent,
    tau2,
    toolbench,
)
from curator.importers.base import Context, RecordError, kind
from curator.importers.files import Bad, FileError, Record, raw_excerpt, read_records
from curator.model import Trajectory

# Most specific first: a SWE-agent or ToolBench file also has lists of messages somewhere inside.
FAMILIES = (
    sweagent,
    toolbench,
    tau2,
    atif,
    otel,
    openinference,
    multiagent,
    claudecode,
    codex,
    fireact,
    sharegpt,
    openai_chat,
    cline,
    alpaca,
    alfworld,
    react,
)
FAMILY_BY_NAME = {family.NAME: family for family in FAMILIES}
SNIFF_SAMPLE = 20
UNREADABLE = "unreadable"  # a file whose first records are all bad: each is reported as such

__all__ = ["FAMILY_BY_NAME", "Bad", "FileError", "ParsedFile", "RecordError", "parse_file"]


@dataclass
class ParsedFile:
    path: str
    format: str
    items: Iterator[Trajectory | Bad]


def is_single_record(obj: dict) -> bool:
    return any(family.sniff(obj) for family in FAMILIES)


def detect(values: list) -> str | None:
    """The family that recognises most of the sampled records (ties go to the more specific)."""
    best, best_hits = None, 0
    for family in FAMILIES:
        hits = sum(1 for v in values if family.sniff(v))
        if hits > best_hits:
            best, best_hits = family.NAME, hits
    return best


def parse_file(
    path: str | Path, family: str = "auto", teacher: str | None = None, part: tuple[int, int] = (0, 1)
) -> ParsedFile:
    """Open a file and say its format; iterate `.items` for trajectories and bad records.

    `part`: read only that part of the file (see `read_records`); give the other parts the
    format that part 0 found (`UNREADABLE` included), as their own first records may differ."""
    path = Path(path)
    if family not in ("auto", UNREADABLE, *FAMILY_BY_NAME):
        raise FileError(f"unknown format {family!r}; known: auto, {', '.join(FAMILY_BY_NAME)}")
    records = read_records(path, is_single_record, part)
    head = list(itertools.islice(records, SNIFF_SAMPLE))
    if family == "auto":
        family = detect([r.value for r in head if isinstance(r, Record)])
        if family is None:
            if head and all(isinstance(r, Bad) for r in head):
                family = UNREADABLE
            else:
                raise FileError(
                    f"{path}: unknown format (none of {', '.join(FAMILY_BY_NAME)} "
                    f"recognises its records); try --format NAME"
                )
    ctx = Context(path=str(path), format=family, teacher=teacher)
    reader = FAMILY_BY_NAME.get(family)
    records = itertools.chain(head, records)
    if hasattr(reader, "groups"):
        records = _whole(path, records, part)
        return ParsedFile(str(path), family, _group_items(reader, ctx, records))
    return ParsedFile(str(path), family, _items(reader, ctx, records))


def _whole(path: Path, records, part: tuple[int, int]):
    """An event log's trajectories span the whole file: part 0 reads all of it, the others none."""
    if part == (0, 1):
        return records
    return read_records(path, is_single_record) if part[0] == 0 else iter(())


def _items(family, ctx: Context, records) -> Iterator[Trajectory | Bad]:
    for record in records:
        if isinstance(record, Bad):
            yield record
            continue
        if family is None:
            yield Bad(record.where, "not a trajectory record of any known format", _raw(record))
            continue
        yield from _parsed(family, ctx, record.where, _raw(record), record.value, record.key)


def _group_items(family, ctx: Context, records) -> Iterator[Trajectory | Bad]:
    good = []
    for record in records:
        if isinstance(record, Bad):
            yield record
        elif not isinstance(record.value, dict):  # an event log's lines are objects
            yield Bad(record.where, f"expected an event object, got {kind(record.value)}", _raw(record))
        else:
            good.append(record)
    for where, group in family.groups(good):
        raw = raw_excerpt(b"\n".join(r.raw or orjson.dumps(r.value, default=str) for r in group[:50]))
        yield from _parsed(family, ctx, where, raw, group, None)


def _parsed(family, ctx: Context, where: str, raw: str, value, key) -> Iterator[Trajectory | Bad]:
    """One record's (or one group's) trajectories, or the Bad item saying why there are none."""
    try:
        trajectories = family.parse(value, ctx, where, key)
    except RecordError as exc:
        yield Bad(where, str(exc), raw)
        return
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        yield Bad(where, f"unexpected shape for {family.NAME}: {type(exc).__name__}: {exc}", raw)
        return
    if not trajectories:
        yield Bad(where, f"no trajectory found in this {family.NAME} record", raw)
    yield from trajectories  # a file of many runs (tau2) may hold Bad items for its bad runs


def _raw(record: Record) -> str:
    if record.raw is not None:
        return raw_excerpt(record.raw)
    if isinstance(record.value, str):
        return raw_excerpt(record.value)
    return raw_excerpt(orjson.dumps(record.value, default=str))
