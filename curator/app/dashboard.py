"""The dashboard's figures: where the review stands, what fails, who decides how fast, and how
far reviewers agree (Cohen's kappa on items two reviewers decided)."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from curator.stats import STATUSES, store_stats
from curator.store import Store


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Agreement of two raters beyond chance; None without pairs (1.0 when both always agree
    on a single category, where chance agreement is total too)."""
    n = len(pairs)
    if not n:
        return None
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    observed = sum(a == b for a, b in pairs) / n
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def double_decisions(store: Store) -> list[tuple[str, str]]:
    """(first reviewer's verdict, second reviewer's verdict) per item two reviewers decided:
    each reviewer's first standing accept / edit / fail on it, in the order they were made."""
    return [
        tuple(r)
        for r in store.con.execute(
            """WITH own AS (
               SELECT traj_id, reviewer, kind, event_id,
                      row_number() OVER (PARTITION BY traj_id, reviewer ORDER BY event_id) AS n
               FROM decisions WHERE kind IN ('accept', 'edit', 'fail')),
           ranked AS (
               SELECT traj_id, kind,
                      row_number() OVER (PARTITION BY traj_id ORDER BY event_id) AS k
               FROM own WHERE n = 1)
           SELECT a.kind, b.kind FROM ranked a JOIN ranked b USING (traj_id)
           WHERE a.k = 1 AND b.k = 2 ORDER BY traj_id"""
        ).fetchall()
    ]


def figures(store: Store) -> dict:
    stats = store_stats(store)
    status = pd.DataFrame({"status": list(STATUSES), "trajectories": [stats[s] for s in STATUSES]})
    tags = store.con.execute(
        "SELECT tag, count(*) AS failures FROM failure_tags GROUP BY tag ORDER BY 2 DESC, 1"
    ).df()
    pairs = pd.DataFrame({"source": list(stats["pairs"]), "pairs": list(stats["pairs"].values())})
    throughput = store.con.execute(
        """SELECT reviewer, strftime(date_trunc('day', created_at), '%Y-%m-%d') AS day,
                  count(*) AS decisions, round(median(seconds), 1) AS median_seconds
           FROM decisions WHERE kind IN ('accept', 'edit', 'fail', 'skip', 'compare')
           GROUP BY ALL ORDER BY day, reviewer"""
    ).df()
    doubles = double_decisions(store)
    return {
        "stats": stats,
        "status": status,
        "tags": tags,
        "pairs": pairs,
        "throughput": throughput,
        "kappa": cohen_kappa(doubles),
        "double_reviewed": len(doubles),
        "agreed": sum(a == b for a, b in doubles),
    }
