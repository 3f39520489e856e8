"""How far reviewers agree: Cohen's kappa over the items two reviewers decided (the blind second
reviews of `curator.queue`), for `curator stats` and the app's dashboard."""

from __future__ import annotations

from collections import Counter

from curator.queue import second_review_share
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


def agreement(store: Store) -> dict:
    """Kappa (None until two reviewers decided one item), over how many items, how many of them
    agreed, and the share of decided items routed to a blind second reviewer."""
    doubles = double_decisions(store)
    return {
        "kappa": cohen_kappa(doubles),
        "double_reviewed": len(doubles),
        "agreed": sum(a == b for a, b in doubles),
        "second_review_share": second_review_share(store),
    }


def kappa_text(figures: dict) -> str:
    """Kappa in words, from `agreement`'s figures (the dashboard and `curator stats` say it so)."""
    if figures["kappa"] is None:
        return "n/a (no item decided by two reviewers yet)"
    return f"{figures['kappa']:.2f} over {figures['double_reviewed']} items ({figures['agreed']} agreed)"
