"""Which two trajectories of one task the Compare tab shows next, and in which order.

Pairs this reviewer has not judged yet, lowest ids first; left and right are shuffled so a
position on screen says nothing about which came first (or which a teacher labelled a success).
"""

from __future__ import annotations

import random

from curator.store import Store


def next_pair(
    store: Store, reviewer: str, passed=(), rng: random.Random | None = None
) -> tuple[int, int] | None:
    """(left, right) or None when every same-task pair has been judged or passed."""
    passed = {tuple(sorted(p)) for p in passed}
    rows = store.con.execute(
        """SELECT a.traj_id, b.traj_id FROM trajectories a JOIN trajectories b
             ON a.task_key = b.task_key AND a.traj_id < b.traj_id
           WHERE NOT EXISTS (
               SELECT 1 FROM events e WHERE e.kind = 'compare' AND e.reviewer = ?
                 AND least(e.traj_id, e.other_traj_id) = a.traj_id
                 AND greatest(e.traj_id, e.other_traj_id) = b.traj_id)
           ORDER BY a.traj_id, b.traj_id LIMIT ?""",
        [reviewer, len(passed) + 1],
    ).fetchall()
    for pair in rows:
        if pair not in passed:
            return pair if (rng or random).random() < 0.5 else (pair[1], pair[0])
    return None
