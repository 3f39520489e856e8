"""The built-in SQL analytics environment (`--env sql`): questions about a small shop database answered with SQL.

The database is built once per process from `curator/assets/sql/shop.sql` (customers, products, orders, order
items; written by the seeded `python -m curator.sqlgen`) into a temporary DuckDB file opened read-only; each
instance queries it through its own cursor (cheap), and no episode can change what another one sees (a write is an
SQL error like any other). The tools list the tables, describe one, and run a query, returning its rows or the SQL
error as the result. A task's `answer` holds the gold values (from its `gold_sql`, computed when the tasks were
written); `get_reward(final_answer=...)` is 1.0 when the final answer states every one of them (numbers to the
cent, names case-insensitively).
"""

from __future__ import annotations

import atexit
import datetime
import decimal
import shutil
import tempfile
from pathlib import Path

import duckdb

from curator.envs.answers import mentions
from curator.paths import SQL_DIR

SYSTEM_PROMPT = (
    "You are a data analyst. Answer the question about the shop database with the tools: look at the "
    "tables, run SQL (DuckDB dialect), then state the answer."
)
MAX_ROWS = 20
_DATABASES: dict[Path, duckdb.DuckDBPyConnection] = {}


def database(script: Path = SQL_DIR / "shop.sql") -> duckdb.DuckDBPyConnection:
    """The read-only database a script builds, made once per process (removed at exit)."""
    if script not in _DATABASES:
        folder = tempfile.mkdtemp(prefix="curator-sql-")
        atexit.register(shutil.rmtree, folder, True)
        path = str(Path(folder) / "shop.duckdb")
        with duckdb.connect(path) as con:
            con.execute(script.read_text(encoding="utf-8"))
        _DATABASES[script] = duckdb.connect(path, read_only=True)
    return _DATABASES[script]


def _plain(value):
    """A cell as JSON can hold it (dates as ISO text, decimals as numbers)."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


class SqlEnv:
    """One episode's database and the gold answer of its task."""

    def __init__(self, script: Path = SQL_DIR / "shop.sql"):
        self.con = database(script).cursor()
        self.answer: list = []
        self.queries = 0

    def reset(self, answer: list | None = None, **_fields) -> None:
        """Start a task whose gold values are `answer`."""
        self.answer = list(answer or [])
        self.queries = 0

    def get_reward(self, final_answer: str | None = None) -> float:
        """1.0 when the final answer states every gold value, else 0.0."""
        if not final_answer or not self.answer:
            return 0.0
        return float(all(mentions(final_answer, value) for value in self.answer))

    def list_tables(self):
        """The tables and their row counts."""
        names = [
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        ]
        return {
            "tables": [
                {"table": n, "rows": self.con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]}
                for n in names
            ]
        }

    def describe_table(self, table: str):
        """The columns of a table and their types.

        Args:
            table: Table name.
        """
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
            [table.strip().lower()],
        ).fetchall()
        if not rows:
            return {"error": f"no table {table}; call list_tables"}
        return {"table": table.strip().lower(), "columns": [{"name": n, "type": t} for n, t in rows]}

    def run_sql(self, query: str):
        """Run one SQL query; returns the rows (at most 20) or the error.

        Args:
            query: A DuckDB SQL query.
        """
        self.queries += 1
        try:
            cursor = self.con.execute(query)
            if cursor.description is None:
                return {"columns": [], "rows": [], "row_count": 0}
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except duckdb.Error as exc:
            return {"error": str(exc).splitlines()[0]}
        result = {"columns": columns, "rows": [[_plain(v) for v in row] for row in rows[:MAX_ROWS]]}
        if len(rows) > MAX_ROWS:
            result["truncated"] = True
        return result


def task_rows() -> list[dict]:
    """The built-in tasks (`curator/assets/sql/tasks.jsonl`), each with the system prompt."""
    import json

    lines = (SQL_DIR / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    return [{**json.loads(line), "system": SYSTEM_PROMPT} for line in lines if line.strip()]
