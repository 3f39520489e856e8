"""Store-wide counts (`curator stats`, the app's dashboard)."""

from __future__ import annotations

from curator.pairs import count_pairs
from curator.store import Store

STATUSES = ("pending", "accepted", "edited", "failed", "skipped")


def store_stats(store: Store) -> dict:
    by_status = dict(store.con.execute("SELECT status, count(*) FROM state GROUP BY status").fetchall())
    return {
        "trajectories": store.scalar("SELECT count(*) FROM trajectories"),
        "tasks": store.scalar("SELECT count(DISTINCT task_key) FROM trajectories"),
        **{status: by_status.get(status, 0) for status in STATUSES},
        "quarantined": store.scalar("SELECT count(*) FROM quarantine"),
        "pairs": count_pairs(store),
    }
