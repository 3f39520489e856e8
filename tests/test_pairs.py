"""Preference pairs and KTO cuts from review events (SPEC 5), on a hand-built store whose every
pair is known: one edit, a same-task success/failure with a shared prefix, one whose prefixes
differ, an A/B decision and a tie."""

from __future__ import annotations

import orjson
import pytest
from conftest import chat_record, write_jsonl

from curator import review
from curator.ingest import import_file
from curator.messages import rendered
from curator.model import ToolCall, Turn
from curator.pairs import (
    Reviewed,
    build_pairs,
    compare_outcome,
    count_pairs,
    cut_messages,
    divergence,
    edit_cuts,
    failure_cut,
    why_no_pair,
)
from curator.queue import compare_progress
from curator.stats import store_stats
from curator.store import Store


def _with_call_ids(record: dict, prefix: str) -> dict:
    """The same conversation with other tool-call ids (as a second run names them)."""
    for m in record["messages"]:
        for call in m.get("tool_calls") or ():
            call["id"] = prefix + call["id"]
        if m.get("tool_call_id"):
            m["tool_call_id"] = prefix + m["tool_call_id"]
    return record


RECORDS = {
    "edit": chat_record(
        "edit",
        [
            ("Look up Rom.", "get_weather", {"city": "Rom"}, "unknown city"),
            ("Try Rome.", "get_weather", {"city": "Rome"}, "sunny"),
        ],
        "It is sunny.",
    ),
    "shared_ok": chat_record(
        "shared", [("Check Oslo.", "get_weather", {"city": "Oslo"}, "rain")], "Rain in Oslo."
    ),
    "shared_bad": _with_call_ids(
        chat_record("shared", [("Check Oslo.", "get_weather", {"city": "Oslo"}, "rain")], "Sunny in Oslo."),
        "x",
    ),
    "differ_ok": chat_record(
        "differ", [("Check Bern.", "get_weather", {"city": "Bern"}, "snow")], "Snow in Bern."
    ),
    "differ_bad": chat_record(
        "differ", [("Check Bern.", "get_weather", {"city": "Bern"}, "error: timeout")], "Snow in Bern?"
    ),
    "ab_left": chat_record("ab", [("Check Nice.", "get_weather", {"city": "Nice"}, "warm")], "Warm in Nice."),
    "ab_right": chat_record("ab", [], "Probably warm in Nice."),
    "tie_a": chat_record("tie", [("Check Riga.", "get_weather", {"city": "Riga"}, "cold")], "Cold."),
    "tie_b": chat_record("tie", [], "Cold, I think."),
}


def build_store(tmp_path, db) -> dict[str, int]:
    """The hand-built store, reviewed; returns name -> traj_id."""
    path = write_jsonl(tmp_path / "hand.jsonl", list(RECORDS.values()))
    with Store(db) as store:
        import_file(store, str(path))
        line = dict(store.con.execute("SELECT source_record, traj_id FROM trajectories").fetchall())
        ids = {name: line[f"line {i + 1}"] for i, name in enumerate(RECORDS)}
        edited = list(review.load(store, ids["edit"]).turns)
        edited[0] = Turn(
            "assistant",
            thought="Look up Rome.",
            tool_calls=(ToolCall("get_weather", {"city": "Rome"}, "c0"),),
        )
        edited[1] = Turn("tool", content="sunny", tool_call_id="c0", name="get_weather")
        review.edit(
            store,
            ids["edit"],
            "ann",
            edited[:2] + [Turn("assistant", content="It is sunny in Rome.")],
            seen=None,
        )
        review.decide(store, ids["shared_ok"], "accept", "ann")
        review.decide(store, ids["shared_bad"], "fail", "bob", tags=["wrong_final_answer"], first_step=1)
        review.decide(store, ids["differ_ok"], "accept", "ann")
        review.decide(store, ids["differ_bad"], "fail", "bob", tags=["ignored_error"], first_step=1)
        review.record_comparison(store, ids["ab_left"], ids["ab_right"], "left", "bob")
        review.record_comparison(store, ids["tie_a"], ids["tie_b"], "tie", "bob")
    return ids


@pytest.fixture
def hand(tmp_path, db) -> dict[str, int]:
    return build_store(tmp_path, db)


def _texts(messages) -> list[str]:
    return [m["content"] for m in messages]


def test_exact_pairs_of_the_hand_built_store(hand, db):
    with Store(db) as store:
        pairs = build_pairs(store.con)
        # prompt turns, chosen turn, rejected turn: the message dicts a DPO row holds
        read = {
            id(p): (orjson.loads(f"[{prompt}]"), orjson.loads(chosen), orjson.loads(rejected))
            for p, (prompt, chosen, rejected) in zip(
                pairs, cut_messages(store.con, [p.cut for p in pairs]), strict=True
            )
        }
    by_source = {}
    for p in pairs:
        by_source.setdefault(p.source, []).append((read[id(p)], p))
    assert {k: len(v) for k, v in by_source.items()} == {"edit": 2, "same_task": 1, "compare": 1}

    (first, first_pair), (second, second_pair) = by_source["edit"]
    assert (first[0], first_pair.step) == ([], 0)
    assert first[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Rome"}'
    assert first[2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Rom"}'
    # The later edited turn is prompted by the edited conversation, tool result included.
    assert _texts(second[0]) == ["Look up Rome.", "sunny"]
    assert (second[1]["content"], second[2]["content"], second_pair.step) == (
        "It is sunny in Rome.",
        "Try Rome.",
        1,
    )
    assert second_pair.chosen_from[0] == second_pair.rejected_from[0] == hand["edit"]
    assert second_pair.chosen_from[1] != second_pair.rejected_from[1]

    ((same, same_pair),) = by_source["same_task"]
    assert _texts(same[0]) == ["Check Oslo.", "rain"]  # shared prefix despite other call ids
    assert _texts(same[1:]) == ["Rain in Oslo.", "Sunny in Oslo."]
    assert (same_pair.chosen_from[0], same_pair.rejected_from[0]) == (hand["shared_ok"], hand["shared_bad"])
    assert same_pair.reviewers == ["ann", "bob"]

    ((ab, _),) = by_source["compare"]
    assert ab[0] == [] and ab[1]["content"] == "Check Nice."
    assert ab[2]["content"] == "Probably warm in Nice."
    for _, chosen, rejected in read.values():  # a completion is one assistant turn, never a tool
        assert chosen["role"] == rejected["role"] == "assistant"  # result


def test_count_pairs_and_stats_agree_with_the_builders(hand, db):
    with Store(db) as store:
        assert count_pairs(store) == {"edit": 2, "same_task": 1, "compare": 1}
        assert store_stats(store)["pairs"] == {"edit": 2, "same_task": 1, "compare": 1}


def test_undone_or_disputed_comparisons_give_no_pair(hand, db):
    with Store(db) as store:
        review.record_comparison(store, hand["ab_left"], hand["ab_right"], "right", "cid")
        assert count_pairs(store)["compare"] == 0  # two reviewers disagree
        review.undo(store, "cid")
        assert count_pairs(store)["compare"] == 1
        review.record_comparison(store, hand["ab_right"], hand["ab_left"], "right", "cid")  # same winner
        assert count_pairs(store)["compare"] == 1
        review.record_comparison(store, hand["ab_left"], hand["ab_right"], "both_bad", "bob")
        assert count_pairs(store)["compare"] == 0  # bob's latest verdict replaces his first


def test_compare_says_why_a_judgement_gives_no_pair_and_how_far_the_reviewer_is(hand, db):
    with Store(db) as store:
        con = store.con
        assert compare_outcome(con, hand["ab_left"], hand["ab_right"]) is None
        assert "tie or 'both bad'" in compare_outcome(con, hand["tie_b"], hand["tie_a"])
        review.record_comparison(store, hand["ab_right"], hand["ab_left"], "left", "cid")
        disagree = compare_outcome(con, hand["ab_left"], hand["ab_right"])
        assert (
            disagree
            == f"reviewers disagree (bob prefers #{hand['ab_left']}, cid prefers #{hand['ab_right']})"
        )
        review.record_comparison(store, hand["differ_ok"], hand["differ_bad"], "left", "bob")
        assert "first differ after step 1, in a tool result" in compare_outcome(
            con, hand["differ_ok"], hand["differ_bad"]
        )
        # 4 same-task pairs of trajectories (shared, differ, ab, tie); bob judged three of them
        assert compare_progress(store, "bob") == (3, 4)
        assert compare_progress(store, "nobody") == (0, 4)


def test_why_no_pair_names_each_case():
    a = [_t("assistant", "x"), _t("tool", "r"), _t("assistant", "y")]
    assert why_no_pair(_k(a), _k([*a[:2], _t("assistant", "z")])) is None
    assert "same, turn for turn" in why_no_pair(_k(a), _k(a))
    assert "one stops where the other goes on" in why_no_pair(_k(a), _k(a[:2]))
    assert "after step 1" in why_no_pair(_k(a), _k([a[0], _t("tool", "other"), a[2]]))


def test_failed_after_edit_gives_no_edit_pair(hand, db):
    with Store(db) as store:
        seen = review.load(store, hand["edit"]).seen
        review.decide(store, hand["edit"], "fail", "ann", seen=seen, tags=["other"], first_step=0)
        assert count_pairs(store)["edit"] == 0


def _t(role, text="", **kw) -> Turn:
    return Turn(role, content=text, **kw)


def _k(turns) -> list[str]:
    return rendered([t.to_dict() for t in turns])[1]


def test_divergence_needs_an_identical_prefix_up_to_an_assistant_turn():
    a = [_t("assistant", "x"), _t("tool", "r"), _t("assistant", "y")]
    assert divergence(_k(a), _k(a[:2] + [_t("assistant", "z")])) == 2
    assert divergence(_k(a), _k([a[0], _t("tool", "other"), a[2]])) is None  # tool differs
    assert divergence(_k(a), _k(a[:2])) is None  # a prefix: nothing to prefer
    display = [a[0], _t("tool", "r", raw="RESULT: r", tool_call_id="x9"), _t("assistant", "z")]
    assert divergence(_k(a), _k(display)) == 2


def test_edit_cuts_skip_tool_edits_and_stop_where_the_structure_changes():
    original = [
        _t("assistant", "a"),
        _t("tool", "r"),
        _t("assistant", "b"),
        _t("tool", "s"),
        _t("assistant", "c"),
    ]
    o = _k(original)
    assert edit_cuts(o, _k([original[0], _t("tool", "R"), *original[2:]])) == []
    assert edit_cuts(o, _k([_t("assistant", "A"), original[1], _t("assistant", "B")])) == [0, 2]
    assert edit_cuts(o, _k([original[0], _t("assistant", "X"), _t("tool", "q")])) == []


@pytest.mark.parametrize("first_step,cut", [(0, 0), (1, 2), (None, 2), (2, None), (-1, None)])
def test_failure_cut_is_the_first_faulty_step(first_step, cut):
    keys = _k([_t("assistant", "a"), _t("tool", "r"), _t("assistant", "b")])
    item = Reviewed(1, "k", "h", 7, 0, keys, [1], ["ann"], ("loop",), first_step)
    failure = failure_cut(item)
    if cut is None:
        assert failure is None
    else:
        assert failure.cut == (7, cut, None) and failure.step == (0 if cut == 0 else 1)


def test_pairs_are_written_once_with_all_their_lineage(tmp_path, db):
    """Two accepted runs that agree up to the cut give the same pair against one failure."""
    ok = chat_record("t", [("Check Oslo.", "get_weather", {"city": "Oslo"}, "rain")], "Rain.")
    ok2 = orjson.loads(orjson.dumps(ok))
    ok2["messages"].append({"role": "user", "content": "thanks"})
    bad = chat_record("t", [("Check Oslo.", "get_weather", {"city": "Oslo"}, "rain")], "Sun.")
    path = write_jsonl(tmp_path / "d.jsonl", [ok, ok2, bad])
    with Store(db) as store:
        import_file(store, str(path))
        ids = [r[0] for r in store.con.execute("SELECT traj_id FROM trajectories ORDER BY 1").fetchall()]
        for t in ids[:2]:
            review.decide(store, t, "accept", f"r{t}")
        review.decide(store, ids[2], "fail", "x", tags=["other"], first_step=1)
        (pair,) = build_pairs(store.con)
    assert pair.source == "same_task" and len(pair.events) == 3
