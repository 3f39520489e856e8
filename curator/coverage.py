"""What the store covers: trajectories by task family, tool, tool sequence and failure tag, each
split by review status, and which tools and task families have few accepted examples (where
more data, or a closer look, is needed before training).

A task family is the source's task name without its trailing number (`weather-05` and
`weather-12` are `weather`); tasks without a name are `(unnamed)`. Tools count the current
revision's calls; a tool offered by a task's schemas but never called counts 0 everywhere, which
is exactly what a user needs to see; a called tool no schema offers is marked as not offered.
"""

from __future__ import annotations

from curator.store import Store

FEW = 3  # fewer accepted examples than this is "few"
TOP = 50  # tool sequences listed (the most frequent first)
NO_CALL = "(no tool call)"
UNNAMED = "(unnamed)"

# The task family of a `tasks k` row: the one rule, shared by the counts and `task_families`.
FAMILY = f"""coalesce(nullif(regexp_replace(coalesce(k.source_task_id, ''), '[-_ .]*[0-9]+$', ''), ''),
                      '{UNNAMED}')"""

_BASE = f"""
    WITH base AS (
        SELECT s.traj_id, s.status, {FAMILY} AS family,
               flatten(list_transform(r.messages, lambda m: coalesce(
                   json_extract_string(m, '$.tool_calls[*].function.name'), []))) AS calls
        FROM state s JOIN trajectories t USING (traj_id) JOIN tasks k USING (task_hash)
        JOIN revisions r ON r.rev_id = s.rev_id)"""

_COUNTS = """count(*) AS trajectories,
             count(*) FILTER (status IN ('accepted', 'edited')) AS accepted,
             count(*) FILTER (status = 'failed') AS failed,
             count(*) FILTER (status = 'pending') AS pending"""

_KEYS = ("name", "trajectories", "accepted", "failed", "pending")


def _rows(con, sql: str) -> list[dict]:
    return [dict(zip(_KEYS, row, strict=True)) for row in con.execute(sql).fetchall()]


def task_families(con) -> dict[str, str]:
    """task_key -> its task family."""
    return dict(
        con.execute(
            f"SELECT DISTINCT t.task_key, {FAMILY} FROM trajectories t JOIN tasks k USING (task_hash)"
        ).fetchall()
    )


def by_family(con) -> list[dict]:
    return _rows(con, f"{_BASE} SELECT family, {_COUNTS} FROM base GROUP BY family ORDER BY family")


def by_tool(con) -> list[dict]:
    """Every tool called or offered, called ones first; offered-only ones with zeros. `offered`
    is false for a tool no task's schemas name (a hallucinated tool)."""
    called = _rows(
        con,
        f"""{_BASE} SELECT tool, {_COUNTS}
            FROM (SELECT status, unnest(list_distinct(calls)) AS tool FROM base)
            GROUP BY tool ORDER BY tool""",
    )
    offered = con.execute(
        """SELECT DISTINCT unnest(json_extract_string(tools, '$[*].function.name')) AS tool
           FROM tasks ORDER BY tool"""
    ).fetchall()
    offered = {tool for (tool,) in offered if tool}
    for row in called:
        row["offered"] = row["name"] in offered
    seen = {row["name"] for row in called}
    return called + [
        {**dict(zip(_KEYS, (tool, 0, 0, 0, 0), strict=True)), "offered": True}
        for tool in sorted(offered - seen)
    ]


def by_tool_sequence(con, top: int = TOP) -> tuple[list[dict], int]:
    """The `top` most frequent tool sequences, and how many distinct sequences there are."""
    rows = _rows(
        con,
        f"""{_BASE} SELECT coalesce(nullif(array_to_string(calls, ' > '), ''), '{NO_CALL}') AS sequence,
                   {_COUNTS}
            FROM base GROUP BY sequence ORDER BY trajectories DESC, sequence""",
    )
    return rows[:top], len(rows)


def by_failure_tag(con) -> list[dict]:
    return [
        {"name": tag, "failed": n}
        for tag, n in con.execute(
            "SELECT tag, count(*) AS n FROM failure_tags GROUP BY tag ORDER BY n DESC, tag"
        ).fetchall()
    ]


def first_failure_tags(con) -> dict[int, str]:
    """traj_id -> the first (alphabetically) tag of its standing failure decision."""
    return dict(con.execute("SELECT traj_id, min(tag) FROM failure_tags GROUP BY traj_id").fetchall())


def coverage(store: Store, few: int = FEW, top: int = TOP) -> dict:
    """The `curator coverage --json` object."""
    con = store.con
    families, tools = by_family(con), by_tool(con)
    sequences, n_sequences = by_tool_sequence(con, top)
    return {
        "families": families,
        "tools": tools,
        "tool_sequences": sequences,
        "distinct_tool_sequences": n_sequences,
        "failure_tags": by_failure_tag(con),
        "few_accepted": {
            "below": few,
            "tools": [row["name"] for row in tools if row["offered"] and row["accepted"] < few],
            "families": [row["name"] for row in families if row["accepted"] < few],
        },
    }
