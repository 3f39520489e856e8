"""What the app shows is library behaviour, tested here without Gradio: the review queue and its
blind second reviews, compare pairing, reviewer agreement (also in `curator stats`), a
trajectory's timeline, and the quarantine listing."""

from __future__ import annotations

import pytest
from conftest import chat_record, cli_json, run_cli, write_jsonl

from curator import review
from curator.agreement import agreement
from curator.errors import CuratorError
from curator.ingest import import_file
from curator.quarantine import quarantined, quarantined_files
from curator.queue import QueueFilters, ReviewQueue, next_pair, second_review_share, set_second_review_share
from curator.store import Store


@pytest.fixture
def store(tmp_path, db):
    """Four trajectories of tasks a, a, b, b (ids 1-4) and one broken record in quarantine."""
    records = [
        chat_record(task, [("Look.", "get_weather", {"city": city}, "sun")], f"Sunny in {city}.")
        for task, city in (("a", "Paris"), ("a", "Rome"), ("b", "Oslo"), ("b", "Lima"))
    ]
    path = write_jsonl(tmp_path / "four.jsonl", records)
    path.write_bytes(path.read_bytes() + b'{"messages": 3}\n')
    with Store(db) as s:
        import_file(s, str(path))
        yield s


def pick(queue: ReviewQueue, store: Store, reviewer: str):
    return queue.next(store, reviewer, QueueFilters(), lease_seconds=300)


def test_queue_leases_then_blind_second_reviews_feed_agreement(store, db):
    queue = ReviewQueue()
    assert (pick(queue, store, "ann").traj_id, pick(queue, store, "bob").traj_id) == (1, 2)
    review.decide(store, 1, "accept", "ann", seen=None)
    assert second_review_share(store) == 0.0
    set_second_review_share(store, 1.0)
    second = pick(queue, store, "bob")
    assert (second.traj_id, second.second_review) == (1, True)  # ann's item, for bob, blind
    assert pick(queue, store, "ann").second_review is False  # never your own decision
    seen = review.load(store, 1).seen
    review.decide(store, 1, "fail", "bob", seen=seen, tags=["other"], first_step=0)
    figures = agreement(store)
    assert figures == {"kappa": 0.0, "double_reviewed": 1, "agreed": 0, "second_review_share": 1.0}
    store.close()
    stats = cli_json("stats", db=db)
    assert stats["agreement"] == figures
    summary = run_cli("stats", db=db, check=True).stdout
    assert "agreement (Cohen's kappa): 0.00 over 1 items (0 agreed)" in summary
    assert "100% of decided items go to a blind second reviewer" in summary


def test_second_review_share_out_of_range_is_a_curator_error(store):
    with pytest.raises(CuratorError, match="between 0 and 1, got 1.5"):
        set_second_review_share(store, 1.5)
    assert second_review_share(store) == 0.0


def test_next_pair_is_same_task_unjudged_and_not_passed(store):
    class Keep:
        def random(self):
            return 0.1  # keep the order the store gives: (lower id, higher id)

    assert next_pair(store, "ann", rng=Keep()) == (1, 2)
    assert next_pair(store, "ann", passed=[(2, 1)], rng=Keep()) == (3, 4)  # either order counts
    review.record_comparison(store, 2, 1, "left", "ann")
    assert next_pair(store, "ann", rng=Keep()) == (3, 4)
    assert next_pair(store, "bob", rng=Keep()) == (1, 2)  # judged by ann only
    assert next_pair(store, "ann", passed=[(3, 4)]) is None


def test_timeline_and_revision_lookups(store):
    from curator.model import Turn

    loaded = review.load(store, 1)
    rev_id, _ = review.edit(store, 1, "ann", [Turn("assistant", content="Sunny.")], seen=loaded.seen)
    assert review.revision_number(store, rev_id) == 1
    assert review.original_revision(store, 1) == loaded.rev_id
    review.record_comparison(store, 2, 1, "tie", "bob")
    undo = review.undo(store, "bob")
    assert review.event_trajectory(store, undo) == 2
    kinds = [(e["kind"], e["reviewer"], e["undone"]) for e in review.timeline(store, 1)]
    assert kinds == [("edit", "ann", False), ("compare", "bob", True)]  # both sides see a compare
    assert [e["kind"] for e in review.timeline(store, 2)] == ["compare", "undo"]


def test_quarantine_listing(store):
    (name,) = quarantined_files(store)
    assert name.endswith("four.jsonl")
    (row,) = quarantined(store, name)
    assert row[2] == "line 5" and row[4] == '{"messages": 3}'
    assert quarantined(store, "elsewhere.jsonl") == []
