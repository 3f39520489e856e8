"""Store-wide counts (`curator stats`, the app's dashboard)."""

from __future__ import annotations

from curator.agreement import agreement
from curator.pairs import count_pairs
from curator.store import Store

STATUSES = ("pending", "accepted", "edited", "failed", "skipped")
TIMED_KINDS = ("accept", "edit", "fail", "skip", "compare")  # decisions a reviewer spends time on


def store_stats(store: Store) -> dict:
    by_status = dict(store.con.execute("SELECT status, count(*) FROM state GROUP BY status").fetchall())
    return {
        "trajectories": store.scalar("SELECT count(*) FROM trajectories"),
        "tasks": store.scalar("SELECT count(DISTINCT task_key) FROM trajectories"),
        **{status: by_status.get(status, 0) for status in STATUSES},
        "quarantined": store.scalar("SELECT count(*) FROM quarantine"),
        "pairs": count_pairs(store),
        "agreement": agreement(store),
    }


def failure_tag_counts(store: Store) -> list[dict]:
    """Standing failures per tag, most frequent first."""
    rows = store.con.execute(
        "SELECT tag, count(*) AS failures FROM failure_tags GROUP BY tag ORDER BY 2 DESC, 1"
    ).fetchall()
    return [{"tag": tag, "failures": n} for tag, n in rows]


def throughput(store: Store) -> list[dict]:
    """Standing decisions per reviewer and day, with the median seconds spent on an item."""
    rows = store.con.execute(
        """SELECT reviewer, strftime(date_trunc('day', created_at), '%Y-%m-%d') AS day,
                  count(*) AS decisions, round(median(seconds), 1) AS median_seconds
           FROM decisions WHERE list_contains(?, kind)
           GROUP BY ALL ORDER BY day, reviewer""",
        [list(TIMED_KINDS)],
    ).fetchall()
    return [dict(zip(("reviewer", "day", "decisions", "median_seconds"), r, strict=True)) for r in rows]
