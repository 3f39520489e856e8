"""What the app does for a reviewer, over the one store connection the running app holds.

Gradio runs handlers on a thread pool; a DuckDB connection is not safe to share between threads
and `Store.transaction` works on the shared connection, so every store access here goes through
one lock. Each method is a short sequence of library calls (`review`, `queue`, `runs`, `window`,
`genjobs`): the app adds no rules of its own. The `importer` (entered by `curator serve`) brings generated
episodes in through the same lock.

`Shown` is what a browser session has on screen: the item, the revision and the state's event
id when it was shown (`seen`, passed back with the decision so a stale write is refused), and
when it was shown (the time spent on the item goes on the event).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from curator.generate import GenerateConfig
from curator.genjobs import Importer, cancel_job, list_jobs, start_job
from curator.model import Task, Turn
from curator.queue import Pick, QueueFilters, ReviewQueue, progress
from curator.review import (
    DEFAULT_LEASE_SECONDS,
    Loaded,
    decide,
    edit,
    event_trajectory,
    load,
    load_task,
    open_by_id,
    original_revision,
    record_comparison,
    release_lease,
    revision_number,
    timeline,
    undo,
)
from curator.runs import cancel_run, list_runs, start_run
from curator.similarity import embed_missing, redundant_pending, unembedded
from curator.store import Store
from curator.window import start_curve
from trainer.runfolder import Job


@dataclass
class Shown:
    traj_id: int
    rev_id: int
    seen: int | None
    shown_at: float
    second_review: bool = False

    def seconds(self) -> float:
        return round(time.monotonic() - self.shown_at, 3)


@dataclass
class ReviewPage:
    """Everything the review screen shows for one trajectory."""

    shown: Shown
    loaded: Loaded  # the revision shown, its state, check flags and provenance


class Workbench:
    def __init__(self, store: Store, lease_seconds: int = DEFAULT_LEASE_SECONDS):
        self.store = store
        self.lease_seconds = lease_seconds
        self.queue = ReviewQueue()
        self._lock = threading.RLock()
        self.importer = Importer(
            self.db
        )  # entered by `curator serve`: generated episodes come in while a job runs

    @contextmanager
    def db(self):
        with self._lock:
            yield self.store

    # -- showing ---------------------------------------------------------------------------

    def next_item(
        self, reviewer: str, filters: QueueFilters, passed: frozenset[int] = frozenset()
    ) -> ReviewPage | None:
        with self.db() as store:
            pick = self.queue.next(store, reviewer, filters, lease_seconds=self.lease_seconds, passed=passed)
            return self._item(store, pick) if pick else None

    def reopen(self, reviewer: str, traj_id: int) -> ReviewPage:
        """Show one item by id, whatever its status (after an undo, to look at it or decide it
        again); leased like any other."""
        with self.db() as store:
            open_by_id(store, traj_id, reviewer, self.lease_seconds)
            return self._item(store, Pick(traj_id, False))

    def _item(self, store: Store, pick: Pick) -> ReviewPage:
        current = load(store, pick.traj_id)
        rev_id = current.rev_id
        if pick.second_review:  # blind: the original, as the first reviewer saw it
            rev_id = original_revision(store, pick.traj_id)
        shown = Shown(pick.traj_id, rev_id, current.seen, time.monotonic(), pick.second_review)
        return self._build(store, shown, current if rev_id == current.rev_id else None)

    def load(self, traj_id: int) -> Loaded:
        """A trajectory at its current revision."""
        with self.db() as store:
            return load(store, traj_id)

    def task(self, traj_id: int) -> Task:
        with self.db() as store:
            return load_task(store, traj_id)

    def view(self, shown: Shown) -> ReviewPage:
        """What is on screen, rendered again (the markdown toggle, the edit's original)."""
        with self.db() as store:
            return self._build(store, shown)

    def _build(self, store: Store, shown: Shown, loaded=None) -> ReviewPage:
        loaded = loaded or load(store, shown.traj_id, shown.rev_id)
        return ReviewPage(shown, loaded)

    def release(self, shown: Shown | None, reviewer: str) -> None:
        if shown:
            with self.db() as store:
                release_lease(store, shown.traj_id, reviewer)

    def progress(self, reviewer: str, filters: QueueFilters) -> dict:
        with self.db() as store:
            return progress(store, reviewer, filters)

    def timeline(self, traj_id: int) -> list[dict]:
        with self.db() as store:
            return timeline(store, traj_id)

    def near_duplicates(self, embed: bool, progress=None) -> tuple[int, int]:
        """(reviews the queue's `skip_near_duplicates` option saves, trajectories not embedded
        yet); `embed`: embed those first (`progress(fraction, text)` while it does)."""
        with self.db() as store:
            if embed:
                embed_missing(store, progress)
            return len(redundant_pending(store.con)), unembedded(store.con)

    # -- deciding --------------------------------------------------------------------------

    def decide(self, shown: Shown, reviewer: str, kind: str, *, tags=(), first_step=None, note=None) -> int:
        with self.db() as store:
            return decide(
                store,
                shown.traj_id,
                kind,
                reviewer,
                seen=shown.seen,
                tags=list(tags),
                first_step=first_step,
                note=note or None,
                seconds=shown.seconds(),
            )

    def save_edit(self, shown: Shown, reviewer: str, turns: list[Turn], note=None) -> int:
        """Save `turns` as a new revision and accept it; returns the revision's number."""
        with self.db() as store:
            rev_id, _ = edit(
                store,
                shown.traj_id,
                reviewer,
                turns,
                seen=shown.seen,
                note=note or None,
                seconds=shown.seconds(),
            )
            return revision_number(store, rev_id)

    def undo(self, reviewer: str) -> int:
        """Undo the reviewer's last standing decision; returns the trajectory it was on."""
        with self.db() as store:
            event = undo(store, reviewer)
            traj_id = event_trajectory(store, event)
            self.queue.reopen(traj_id)
            return traj_id

    def record_comparison(
        self, reviewer: str, left: int, right: int, verdict: str, seconds: float | None
    ) -> int:
        with self.db() as store:
            return record_comparison(store, left, right, verdict, reviewer, seconds=seconds)

    # -- training runs (the export runs here, under the lock; the training in its own process)

    def start_run(self, job: Job, user: str, root: Path, progress=None) -> int:
        with self.db() as store:
            return start_run(store, job, user=user, root=root, progress=progress)

    def runs(self) -> list[dict]:
        """All runs, newest first, after recording the outcome of any that ended."""
        with self.db() as store:
            return list_runs(store)

    def cancel_run(self, run_id: int) -> None:
        with self.db() as store:
            cancel_run(store, run_id)

    def start_curve(self, root: Path, progress=None, **settings) -> Path:
        """The minimum-window curve: its subsets exported here, under the lock; the job in its own process."""
        with self.db() as store:
            return start_curve(store, root, progress=progress, **settings)

    # -- generation jobs (the teacher runs in its own process; its episodes are brought in here, under the lock)

    def start_generation(self, config: GenerateConfig, user: str, root: Path) -> int:
        with self.db() as store:
            job_id = start_job(store, config, user=user, root=root)
        self.importer.wake()
        return job_id

    def generation_jobs(self) -> list[dict]:
        """All generation jobs, newest first, after bringing in what the running ones finished."""
        with self.db() as store:
            return list_jobs(store)

    def cancel_generation(self, job_id: int) -> None:
        with self.db() as store:
            cancel_job(store, job_id)


def shown_state(shown: Shown | None) -> dict | None:
    """A Shown as plain data for a Gradio session State."""
    return asdict(shown) if shown else None
