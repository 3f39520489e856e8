"""Choosing a budget of accepted trajectories to train on (SPEC 12, `curator select`).

- `diverse`: coverage first (greedily, the trajectory that calls the most tools not yet covered,
  until every tool the accepted set calls is covered; then likewise every task family), then
  farthest-point (k-center) over the embeddings: each next pick is the trajectory least like
  everything picked so far. Never two near-duplicates (`curator.similarity`): once one member of
  a cluster is picked the rest are out, so the result can fall short of the budget.
- `random`: a seeded uniform sample (the baseline `diverse` is measured against).
- `all`: every accepted trajectory.

Ties are broken by a seeded order, so the same seed and store give the same choice. The choice
is written by the exporter itself (`ExportFilters.traj_ids`), so the folder is an export like any
other and the manifest records the strategy, the seed and the ids.
"""

from __future__ import annotations

import numpy as np

from curator.coverage import UNNAMED, task_families
from curator.errors import JobError
from curator.export import ExportFilters, export_store
from curator.pairs import ACCEPTED
from curator.similarity import DEFAULT_THRESHOLD, Corpus, Progress, cluster_labels, corpus
from curator.store import Store

STRATEGIES = ("diverse", "random", "all")


class SelectError(JobError):
    """A selection that cannot be made as asked; one line."""


def _tools(c: Corpus, i: int) -> set[str]:
    return set(filter(None, c.tool_sequences[i].split(" > ")))


class _Picks:
    """The picks so far, in order, and the near-duplicate clusters they already speak for."""

    def __init__(self, labels: np.ndarray):
        self.labels, self.order, self.taken = labels, [], set()

    def add(self, i: int) -> None:
        self.order.append(int(i))
        self.taken.add(int(self.labels[i]))

    def blocked(self, i: int) -> bool:
        return int(self.labels[i]) in self.taken

    def blocked_mask(self) -> np.ndarray:
        return np.isin(self.labels, list(self.taken))


def _cover(features: list[set], order: np.ndarray, budget: int, picks: _Picks) -> None:
    """Greedy set cover in seeded order: add the candidate with the most uncovered features."""
    uncovered = set().union(*features) - set().union(*(features[i] for i in picks.order))
    while uncovered and len(picks.order) < budget:
        best, gain = None, 0
        for i in order:
            if (new := len(features[i] & uncovered)) > gain and not picks.blocked(i):
                best, gain = i, new
        if best is None:
            return
        picks.add(best)
        uncovered -= features[best]


def _farthest(vectors: np.ndarray, order: np.ndarray, budget: int, picks: _Picks) -> None:
    """k-center: add the candidate least like (cosine) its most alike pick, until the budget."""
    nearest = np.full(len(vectors), -np.inf, dtype=np.float32)
    for i in picks.order:
        nearest = np.maximum(nearest, vectors @ vectors[i])
    vectors, nearest = vectors[order], nearest[order]  # seeded order: argmin takes the first tie
    out = picks.blocked_mask()[order]
    while len(picks.order) < budget and not out.all():
        best = int(np.argmin(np.where(out, np.inf, nearest)))
        picks.add(order[best])
        out |= picks.labels[order] == picks.labels[order[best]]
        nearest = np.maximum(nearest, vectors @ vectors[best])


def diverse(c: Corpus, budget: int, seed: int, families: dict, threshold: float) -> list[int]:
    """Indices into `c` chosen by coverage, then farthest-point, in the order picked."""
    order = np.random.default_rng(seed).permutation(len(c))
    picks = _Picks(cluster_labels(c, threshold))
    _cover([_tools(c, i) for i in range(len(c))], order, budget, picks)
    _cover([{families.get(key, UNNAMED)} for key in c.task_keys], order, budget, picks)
    _farthest(c.vectors(), order, budget, picks)
    return picks.order


def choose(c: Corpus, budget: int, strategy: str, seed: int, families: dict, threshold: float) -> list[int]:
    """Trajectory ids chosen from `c` (sorted), at most `budget` (all of them for `all`)."""
    if strategy == "all":
        index = range(len(c))
    elif strategy == "random":
        index = np.random.default_rng(seed).permutation(len(c))[:budget]
    elif strategy == "diverse":
        index = diverse(c, budget, seed, families, threshold)
    else:
        raise SelectError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    return sorted(int(c.traj_ids[i]) for i in index)


def select_store(
    store: Store,
    out_dir,
    *,
    budget: int | None,
    strategy: str = "diverse",
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    file_format: str = "jsonl",
    eval_fraction: float = 0.1,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Choose trajectories and write them as an export folder; returns the export's summary
    with `selection` (strategy, seed, budget, chosen, ids) added."""
    if strategy != "all" and (budget is None or budget < 1):
        raise SelectError(f"--budget must be a positive number of trajectories for --strategy {strategy}")
    accepted = corpus(store, ACCEPTED, progress)
    if not len(accepted):
        raise SelectError("nothing to select: no accepted or edited trajectory; review some first")
    ids = choose(accepted, budget or len(accepted), strategy, seed, task_families(store.con), threshold)
    selection = {
        "strategy": strategy,
        "seed": seed,
        "budget": budget,
        "threshold": threshold,
        "accepted": len(accepted),
        "chosen": len(ids),
        "ids": ids,
    }
    summary = export_store(
        store,
        out_dir,
        file_format=file_format,
        eval_fraction=eval_fraction,
        seed=seed,
        filters=ExportFilters(traj_ids=tuple(ids)),
        overwrite=overwrite,
        progress=progress,
        selection=selection,
    )
    return {**summary, "selection": selection}
