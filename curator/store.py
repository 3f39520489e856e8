"""The DuckDB store: one plain file a user can also query with DuckDB directly.

The code creates and migrates the schema (`meta.schema_version`). Originals are immutable:
imported turns are revision 0 of a trajectory and an edit adds a revision. Review decisions are
append-only events; `state` is a cache derived from them (kept in the same transaction as each
event, rebuildable with `review.rebuild_state`) so the queue stays fast at a million rows.

DuckDB allows one writing process per file. While `curator serve` runs it is the only writer;
other commands get `StoreBusy` with a one-line reason instead of DuckDB's lock error.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import duckdb
import orjson

from curator.errors import CuratorError
from curator.messages import rendered
from curator.paths import TAXONOMY_FILE

SCHEMA_VERSION = 3
DEFAULT_DB = "curator.duckdb"


class StoreError(CuratorError):
    """A store problem a user can act on; the message is one line."""


class StoreBusy(StoreError):
    """Another process holds the store file (DuckDB: one writer per file)."""


SCHEMA = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE import_ids START 1",
    "CREATE SEQUENCE traj_ids START 1",
    "CREATE SEQUENCE rev_ids START 1",
    "CREATE SEQUENCE event_ids START 1",
    "CREATE SEQUENCE quarantine_ids START 1",
    """CREATE TABLE imports (
        import_id BIGINT PRIMARY KEY, path VARCHAR, format VARCHAR, teacher VARCHAR,
        imported_at TIMESTAMP, imported INTEGER, duplicates INTEGER, quarantined INTEGER)""",
    # Keyed by content: runs of one named task can differ in their first user message.
    """CREATE TABLE tasks (
        task_hash VARCHAR PRIMARY KEY, source_task_id VARCHAR, instruction VARCHAR,
        system VARCHAR, context VARCHAR, tools JSON)""",
    """CREATE TABLE trajectories (
        traj_id BIGINT PRIMARY KEY, traj_hash VARCHAR UNIQUE, task_hash VARCHAR, task_key VARCHAR,
        source_format VARCHAR, source_file VARCHAR, source_record VARCHAR, teacher VARCHAR,
        source_label VARCHAR, source_reward DOUBLE, meta JSON, import_id BIGINT,
        n_steps INTEGER, tools_used VARCHAR[])""",
    """CREATE TABLE revisions (
        rev_id BIGINT PRIMARY KEY, traj_id BIGINT, number INTEGER, parent_rev BIGINT,
        turns JSON, author VARCHAR, created_at TIMESTAMP)""",
    """CREATE TABLE events (
        event_id BIGINT PRIMARY KEY, traj_id BIGINT, rev_id BIGINT, reviewer VARCHAR,
        created_at TIMESTAMP, kind VARCHAR, tags VARCHAR[], first_step INTEGER, note VARCHAR,
        seconds DOUBLE, taxonomy_version INTEGER, undoes BIGINT,
        other_traj_id BIGINT, other_rev_id BIGINT, verdict VARCHAR)""",
    """CREATE TABLE state (
        traj_id BIGINT PRIMARY KEY, status VARCHAR, rev_id BIGINT, event_id BIGINT,
        reviewer VARCHAR, decided_at TIMESTAMP)""",
    """CREATE TABLE taxonomy (
        version INTEGER, tag VARCHAR, description VARCHAR, created_at TIMESTAMP,
        PRIMARY KEY (version, tag))""",
    """CREATE TABLE checks (
        traj_id BIGINT, rev_id BIGINT, "check" VARCHAR, step INTEGER, message VARCHAR)""",
    "CREATE TABLE leases (traj_id BIGINT PRIMARY KEY, reviewer VARCHAR, expires_at TIMESTAMP)",
    """CREATE TABLE quarantine (
        q_id BIGINT PRIMARY KEY, import_id BIGINT, source_file VARCHAR, location VARCHAR,
        reason VARCHAR, raw VARCHAR, created_at TIMESTAMP)""",
]

# Tables added after version 3, created where missing on every writable open (no version bump).
TABLES_IF_MISSING = [
    # One row per episode `curator generate` finished (stored or not): what a re-run skips.
    """CREATE TABLE IF NOT EXISTS generated_episodes (
        run_key VARCHAR, task_id VARCHAR, sample INTEGER, env VARCHAR, teacher VARCHAR,
        label VARCHAR, reward DOUBLE, kept BOOLEAN, traj_hash VARCHAR, created_at TIMESTAMP,
        PRIMARY KEY (run_key, task_id, sample))""",
    # Generation jobs started from the app (curator.genjobs): config, folder, process, outcome, and how much
    # of the job's episodes file is in the store (`brought_in`, bytes) with what that stored.
    """CREATE TABLE IF NOT EXISTS generation_jobs (
        job_id BIGINT PRIMARY KEY, created_at TIMESTAMP, created_by VARCHAR, config JSON, run_key VARCHAR,
        folder VARCHAR, pid INTEGER, status VARCHAR, finished_at TIMESTAMP, summary JSON, error VARCHAR,
        brought_in BIGINT, stored INTEGER, duplicates INTEGER)""",
]

MIGRATION_BATCH = 20_000


def _render_revisions(con) -> None:
    """Fill `messages` and `turn_keys` of the revisions an older store holds, a batch at a time
    so memory stays flat on a large store (pyarrow is loaded only then, not at every open)."""
    import pyarrow as pa

    last = -1
    while rows := con.execute(
        """SELECT rev_id, turns FROM revisions WHERE rev_id > ?
                                 ORDER BY rev_id LIMIT ?""",
        [last, MIGRATION_BATCH],
    ).fetchall():
        columns = list(zip(*(rendered(orjson.loads(turns)) for _, turns in rows), strict=True))
        con.register(
            "rendered",
            pa.table(
                {
                    "rev_id": [r for r, _ in rows],
                    "turn_keys": columns[1],
                    "messages": pa.array(columns[0], pa.list_(pa.string())),
                }
            ),
        )
        try:
            con.execute("""UPDATE revisions SET messages = n.messages, turn_keys = n.turn_keys
                           FROM rendered n WHERE revisions.rev_id = n.rev_id""")
        finally:
            con.unregister("rendered")
        last = rows[-1][0]


# Steps (SQL, or a function of the connection) that take a store from version N-1 to N,
# applied in order on open, in one transaction.
MIGRATIONS = {
    2: [
        "CREATE SEQUENCE run_ids START 1",
        # Training runs started from the app (curator.runs): config, folder, process, outcome.
        """CREATE TABLE runs (
            run_id BIGINT PRIMARY KEY, created_at TIMESTAMP, created_by VARCHAR, base VARCHAR,
            preset VARCHAR, stages VARCHAR, config JSON, folder VARCHAR, pid INTEGER,
            status VARCHAR, finished_at TIMESTAMP, result JSON, evaluation JSON, error VARCHAR)""",
    ],
    # Each revision's exported messages and pairing keys, stored when it is written
    # (curator.messages): an export joins them instead of rendering every turn.
    3: [
        "ALTER TABLE revisions ADD COLUMN messages VARCHAR[]",
        "ALTER TABLE revisions ADD COLUMN turn_keys VARCHAR[]",
        _render_revisions,
    ],
}


# Derived tables added without a schema version: created, if missing, on every writable open.
# Embeddings (curator.similarity) of each task's instruction and of each revision's actions and
# final answer, with the revision's structural signatures; a row is never stale: tasks and revisions are immutable.
DERIVED_TABLES = [
    """CREATE TABLE IF NOT EXISTS instruction_embeddings (
        task_hash VARCHAR PRIMARY KEY, model VARCHAR, vector FLOAT[384])""",
    """CREATE TABLE IF NOT EXISTS action_embeddings (
        rev_id BIGINT PRIMARY KEY, traj_id BIGINT, model VARCHAR, tool_sequence VARCHAR,
        arg_shapes VARCHAR, literals VARCHAR, vector FLOAT[384], answer FLOAT[384])""",
]


# Documented views for users of plain DuckDB (see ARCHITECTURE.md).
VIEWS = [
    # One row per trajectory with its task and current review state.
    """CREATE OR REPLACE VIEW trajectory_overview AS
        SELECT t.traj_id, t.task_key, k.instruction, t.source_format, t.source_file,
               t.source_record, t.teacher, t.source_label, t.source_reward, t.n_steps,
               t.tools_used, s.status, s.rev_id AS current_rev_id, s.reviewer AS decided_by,
               s.decided_at
        FROM trajectories t JOIN tasks k USING (task_hash) JOIN state s USING (traj_id)""",
    # Every decision that still counts (not undone, not an undo itself).
    """CREATE OR REPLACE VIEW decisions AS
        SELECT e.* FROM events e
        WHERE e.kind <> 'undo'
          AND e.event_id NOT IN (SELECT undoes FROM events WHERE kind = 'undo')""",
    # Failure tags, one row per tag of each standing failure decision.
    """CREATE OR REPLACE VIEW failure_tags AS
        SELECT d.traj_id, d.event_id, d.reviewer, d.first_step, unnest(d.tags) AS tag
        FROM decisions d JOIN state s ON s.event_id = d.event_id WHERE d.kind = 'fail'""",
]


def db_path(path: str | os.PathLike | None) -> Path:
    return Path(path or os.environ.get("CURATOR_DB") or DEFAULT_DB)


class Store:
    """An open store. Use as a context manager; `transaction()` groups writes atomically."""

    def __init__(
        self, path: str | os.PathLike | None = None, read_only: bool = False, keep_empty: bool = True
    ):
        """`keep_empty=False`: a store file this open creates is removed again at close if
        nothing was written to it (a command that failed before writing leaves no file)."""
        self.path = db_path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no such store (run `curator import` first)")
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a store file")
        self.created = not read_only and not self.path.exists()
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise _busy_or_error(self.path, exc) from None
        except duckdb.Error as exc:
            raise StoreError(
                f"{self.path}: cannot open as a DuckDB store: {str(exc).splitlines()[0]}"
            ) from None
        self.keep_empty = keep_empty
        if not read_only:
            self._migrate()
            for statement in TABLES_IF_MISSING:
                self.con.execute(statement)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        discard = self.created and not self.keep_empty and not self._holds_anything()
        self.con.close()
        if discard:
            self.path.unlink(missing_ok=True)
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)

    def _holds_anything(self) -> bool:
        """Anything beyond the fresh schema: a row in a table other than `meta`, or a taxonomy
        version after the default one."""
        tables = self.column(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' AND table_name <> 'meta'"
        )
        return self.taxonomy_version() > 1 or any(
            self.scalar(f'SELECT count(*) FROM "{t}"') for t in tables if t != "taxonomy"
        )

    @contextmanager
    def transaction(self):
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def _migrate(self) -> None:
        tables = set(
            self.column("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
        )
        if "meta" in tables:
            version = int(self.scalar("SELECT value FROM meta WHERE key = 'schema_version'"))
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: schema version {version} is newer than this "
                    f"curator ({SCHEMA_VERSION}); upgrade curator"
                )
        elif tables:
            raise StoreError(
                f"{self.path}: a DuckDB file that is not a curator store "
                f"(tables: {', '.join(sorted(tables))})"
            )
        else:
            version = 0
        if version == SCHEMA_VERSION:
            self._create_derived()
            return
        with self.transaction() as con:
            if version == 0:
                self._create(con)
                version = 1
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for step in MIGRATIONS[target]:
                    if callable(step):
                        step(con)
                    else:
                        con.execute(step)
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        self._create_derived()

    def _create_derived(self) -> None:
        for statement in DERIVED_TABLES:
            self.con.execute(statement)

    def _create(self, con) -> None:
        """The version-1 schema; later versions come from MIGRATIONS like any old store."""
        for statement in SCHEMA:
            con.execute(statement)
        for statement in VIEWS:
            con.execute(statement)
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        tags = orjson.loads(TAXONOMY_FILE.read_bytes())
        con.executemany(
            "INSERT INTO taxonomy VALUES (1, ?, ?, now())", [(t["tag"], t["description"]) for t in tags]
        )

    # -- small shared queries ---------------------------------------------------------------

    def column(self, sql: str, params=()) -> list:
        """The first column of a query's rows, as a list."""
        return [row[0] for row in self.con.execute(sql, params).fetchall()]

    def records(self, sql: str, params=()) -> list[dict]:
        """A query's rows as dicts keyed by column name."""
        cursor = self.con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params=()) -> tuple | None:
        """The first row, or None. DuckDB 2 refuses new work on a connection whose last result
        was not read to the end, so this always fetches everything (queries here return a row)."""
        rows = self.con.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def scalar(self, sql: str, params=()):
        row = self.one(sql, params)
        return row[0] if row else None

    def taxonomy_version(self) -> int:
        return self.scalar("SELECT max(version) FROM taxonomy")

    def check_tags(
        self, tags, version: int | None = None, *, error: type[CuratorError] = StoreError, where=""
    ):
        """The one tag check: raise `error` naming every tag not in taxonomy `version` (None: in
        any version, as old decisions keep their tags); `where` prefixes the message."""
        sql = "SELECT DISTINCT tag FROM taxonomy" + (" WHERE version = ?" if version else "")
        known = set(self.column(sql, [version] if version else []))
        unknown = [t for t in tags if t not in known]
        if unknown:
            of = f"taxonomy v{version}" if version else "the taxonomy"
            raise error(
                f"{where}unknown failure tag(s) {', '.join(unknown)}; {of} has: {', '.join(sorted(known))}"
            )

    def taxonomy(self, version: int | None = None) -> list[dict]:
        version = version or self.taxonomy_version()
        rows = self.con.execute(
            "SELECT tag, description FROM taxonomy WHERE version = ? ORDER BY rowid", [version]
        ).fetchall()
        return [{"tag": t, "description": d} for t, d in rows]


def _busy_or_error(path: Path, exc: Exception) -> StoreError:
    message = str(exc)
    if "lock" in message.lower():
        holder = re.search(r"PID (\d+)", message)
        who = f" (PID {holder.group(1)})" if holder else ""
        return StoreBusy(
            f"{path}: the store is open in another process{who}, probably `curator serve`; "
            f"DuckDB allows one writer per file: use the app (its Import tab) or stop it first"
        )
    return StoreError(f"{path}: {message.splitlines()[0]}")
