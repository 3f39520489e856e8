"""Importing files into the store: parse, check, deduplicate, write, one transaction per file.

A file's records commit together or not at all, so a killed import leaves the store as it was
before that file. Bad records go to the quarantine table with where, why and their raw text; a
file that cannot be read at all is reported (and, where it exists, quarantined) without stopping
the other files.

A large JSON Lines file is read by two processes, each parsing, checking and rendering one half
of its lines (the work is per record, and Python runs one core a process); the later half is
merged after the first, so the store gets exactly what one process would write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa

from curator.checks import run_checks
from curator.fork import beside, can_fork
from curator.importers import Bad, FileError, parse_file
from curator.importers.files import raw_excerpt
from curator.messages import rendered
from curator.model import Trajectory, canonical_json
from curator.store import Store


@dataclass
class FileSummary:
    path: str
    format: str | None = None
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    errors: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Batch:
    """One file's rows, inserted through Arrow in a few statements (fast at 100k)."""

    tasks: dict = field(default_factory=dict)
    columns: _Columns = field(default_factory=lambda: _Columns())
    flags: list = field(default_factory=list)
    seen: set = field(default_factory=set)
    bad: list = field(default_factory=list)
    in_file_duplicates: int = 0

    def merge(self, later: _Batch) -> None:
        """Add the batch of the file's next part: its trajectories already in this one are
        duplicates within the file, as they would have been in one pass."""
        rows = later.columns.table()
        new = [h not in self.seen for h in rows.column("traj_hash").to_pylist()]
        self.columns.extend(rows if all(new) else rows.filter(pa.array(new, pa.bool_())))
        self.flags.extend(f for f in later.flags if f[0] not in self.seen)
        for task_hash, task in later.tasks.items():
            self.tasks.setdefault(task_hash, task)
        self.bad.extend(later.bad)
        self.in_file_duplicates += later.in_file_duplicates + new.count(False)
        self.seen |= later.seen


TRAJ_SCHEMA = pa.schema(
    [
        *(
            (k, pa.string())
            for k in (
                "traj_hash",
                "task_hash",
                "task_key",
                "source_format",
                "source_file",
                "source_record",
                "teacher",
                "source_label",
            )
        ),
        ("source_reward", pa.float64()),
        ("meta", pa.string()),
        ("n_steps", pa.int32()),
        ("tools_used", pa.list_(pa.string())),
        ("turns", pa.string()),
        ("messages", pa.list_(pa.string())),
        ("turn_keys", pa.list_(pa.string())),
    ]
)
CHUNK = 8192
SPLIT_BYTES = 16 << 20  # below this a second process costs about what it saves


class _Columns:
    """The trajectory rows of one file (TRAJ_SCHEMA), moved into Arrow every CHUNK rows.

    A chunk's Python objects are then freed and their memory reused: keeping every row's
    strings and lists to the end (gigabytes at 100k trajectories) cost fresh memory and the
    cyclic collector's rescans, more than making them did."""

    def __init__(self):
        self.rows, self.batches = [], []

    def append(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) == CHUNK:
            self.flush()

    def flush(self) -> None:
        """Move the rows still in Python into Arrow."""
        if self.rows:
            self.batches.append(
                pa.record_batch(
                    [
                        pa.array(values, field.type)
                        for values, field in zip(zip(*self.rows, strict=True), TRAJ_SCHEMA, strict=True)
                    ],
                    schema=TRAJ_SCHEMA,
                )
            )
            self.rows = []

    def table(self) -> pa.Table:
        self.flush()
        return pa.Table.from_batches(self.batches, schema=TRAJ_SCHEMA)

    def extend(self, rows: pa.Table) -> None:
        """Rows after those added so far."""
        self.flush()
        self.batches.extend(rows.to_batches())


def import_file(store: Store, path: str, family: str = "auto", teacher: str | None = None) -> FileSummary:
    summary = FileSummary(path=str(path))
    try:
        parts = 2 if _can_split(path) else 1
        parsed = parse_file(path, family, teacher, part=(0, parts))
        summary.format = parsed.format
        if parts == 1:
            batch = _batch(parsed.items)
        else:
            with beside(
                _part_batch, path, parsed.format, teacher, (1, 2), what=f"the second process reading {path}"
            ) as later:
                batch = _batch(parsed.items)
                batch.merge(later())
        _write(store, summary, batch, teacher)
    except FileError as exc:
        summary.errors.append({"where": "file", "reason": str(exc)})
        if Path(path).is_file():
            _quarantine_file(store, summary, str(exc))
    return summary


def store_items(
    store: Store,
    summary: FileSummary,
    items: Iterable[Trajectory | Bad],
    teacher: str | None = None,
    also: Callable[[], None] | None = None,
) -> FileSummary:
    """Check, deduplicate and write trajectories (and quarantine bad items) as one transaction.
    Items are consumed fully before anything is written, so a file commits whole or not at all;
    `also` writes more in the same transaction (e.g. the record of a generated episode)."""
    _write(store, summary, _batch(items), teacher, also)
    return summary


def _can_split(path: str) -> bool:
    """Two processes for a file this large, where forking is safe (`curator.fork`)."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return False  # parse_file says why
    return size >= SPLIT_BYTES and can_fork()


def _batch(items: Iterable[Trajectory | Bad]) -> _Batch:
    batch = _Batch()
    for item in items:
        if isinstance(item, Bad):
            batch.bad.append(item)
        else:
            _add(batch, item)
    return batch


def _part_batch(path: str, family: str, teacher: str | None, part: tuple[int, int]) -> _Batch:
    """The batch of one part of a file (run in the second process)."""
    batch = _batch(parse_file(path, family, teacher, part).items)
    batch.columns.flush()  # rows into Arrow: what crosses back is a few large buffers
    return batch


def _add(batch: _Batch, traj) -> None:
    h = traj.traj_hash
    if h in batch.seen:
        batch.in_file_duplicates += 1
        return
    batch.seen.add(h)
    task = traj.task
    th = task.task_hash
    if th not in batch.tasks:
        batch.tasks[th] = (
            th,
            task.source_task_id,
            task.instruction,
            task.system,
            task.context,
            task.tools_json.decode(),
        )
    turns = traj.turn_dicts
    source = traj.source
    batch.columns.append(
        (
            h,
            th,
            task.task_key,
            source.format,
            source.file,
            source.record,
            traj.teacher,
            traj.source_label,
            traj.source_reward,
            orjson.dumps(traj.meta) if traj.meta else None,
            sum(1 for t in traj.turns if t.role == "assistant"),
            sorted({call.name for t in traj.turns for call in t.tool_calls}),
            canonical_json(turns),
            *rendered(turns),
        )
    )
    for flag in run_checks(task, traj.turns):
        batch.flags.append((h, flag.check, flag.step, flag.message))


def _write(
    store: Store,
    summary: FileSummary,
    batch: _Batch,
    teacher: str | None,
    also: Callable[[], None] | None = None,
) -> None:
    con = store.con
    incoming = batch.columns.table()
    tasks = pa.table(
        list(zip(*batch.tasks.values(), strict=True)) or [[]] * 6,
        names=["task_hash", "source_task_id", "instruction", "system", "context", "tools"],
    )
    flags = pa.table(
        list(zip(*batch.flags, strict=True)) or [[], [], [], []],
        schema=pa.schema(
            [
                ("traj_hash", pa.string()),
                ("check", pa.string()),
                ("step", pa.int32()),
                ("message", pa.string()),
            ]
        ),
    )
    with store.transaction():
        import_id = store.scalar("SELECT nextval('import_ids')")
        con.register("incoming", incoming)
        con.register("incoming_tasks", tasks)
        con.register("incoming_flags", flags)
        try:
            con.execute("""INSERT INTO tasks SELECT i.* FROM incoming_tasks i
                           ANTI JOIN tasks t USING (task_hash)""")
            con.execute(
                """
                INSERT INTO trajectories
                SELECT nextval('traj_ids'), i.traj_hash, i.task_hash, i.task_key, i.source_format,
                       i.source_file, i.source_record, i.teacher, i.source_label,
                       i.source_reward, i.meta, ?, i.n_steps, i.tools_used
                FROM incoming i ANTI JOIN trajectories t USING (traj_hash)""",
                [import_id],
            )
            con.execute(
                """
                INSERT INTO revisions
                SELECT nextval('rev_ids'), t.traj_id, 0, NULL, i.turns, 'import', now(),
                       i.messages, i.turn_keys
                FROM incoming i JOIN trajectories t USING (traj_hash)
                WHERE t.import_id = ?""",
                [import_id],
            )
            con.execute(
                """
                INSERT INTO state
                SELECT r.traj_id, 'pending', r.rev_id, NULL, NULL, NULL
                FROM revisions r JOIN trajectories t USING (traj_id)
                WHERE t.import_id = ? AND r.number = 0""",
                [import_id],
            )
            con.execute(
                """
                INSERT INTO checks
                SELECT t.traj_id, s.rev_id, f."check", f.step, f.message
                FROM incoming_flags f JOIN trajectories t USING (traj_hash)
                JOIN state s USING (traj_id) WHERE t.import_id = ?""",
                [import_id],
            )
            summary.imported = store.scalar(
                "SELECT count(*) FROM trajectories WHERE import_id = ?", [import_id]
            )
            summary.duplicates = batch.in_file_duplicates + incoming.num_rows - summary.imported
            for bad in batch.bad:
                _insert_quarantine(store, import_id, summary.path, bad.where, bad.reason, bad.raw)
            summary.quarantined = len(batch.bad)
            summary.errors.extend({"where": b.where, "reason": b.reason} for b in batch.bad)
            con.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, now(), ?, ?, ?)",
                [
                    import_id,
                    summary.path,
                    summary.format,
                    teacher,
                    summary.imported,
                    summary.duplicates,
                    summary.quarantined,
                ],
            )
            if also is not None:
                also()
        finally:
            for name in ("incoming", "incoming_tasks", "incoming_flags"):
                con.unregister(name)


def _insert_quarantine(store: Store, import_id, path: str, where: str, reason: str, raw: str):
    """Re-importing a file does not quarantine the same bad record twice."""
    store.con.execute(
        """INSERT INTO quarantine SELECT nextval('quarantine_ids'), ?, ?, ?, ?, ?, now()
           WHERE NOT EXISTS (SELECT 1 FROM quarantine
                             WHERE source_file = ? AND location = ? AND reason = ?)""",
        [import_id, path, where, reason, raw, path, where, reason],
    )


def _quarantine_file(store: Store, summary: FileSummary, reason: str) -> None:
    """A file that could not be read at all still leaves a trace with its first bytes."""
    with open(summary.path, "rb") as fh:
        head = fh.read(64 * 1024 + 1)
    with store.transaction():
        _insert_quarantine(store, None, summary.path, "file", reason, raw_excerpt(head))
    summary.quarantined = 1
