"""The app's library side without a browser: queue and leases, second review and kappa, edits,
escaping, logins, taxonomy versions, and the serve/users commands' refusals."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from conftest import chat_record, run_cli, write_jsonl


@pytest.fixture
def bench(tmp_path, db):
    from curator.app.workbench import Workbench
    from curator.ingest import import_file
    from curator.store import Store

    records = [
        chat_record(
            f"t{i % 3}",
            [("Look.", "get_weather", {"city": c}, "sun")],
            f"Sunny in {c}.",
            "success" if i % 2 else "failure",
        )
        for i, c in enumerate(["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bonn"])
    ]
    store = Store(db)
    import_file(store, str(write_jsonl(tmp_path / "six.jsonl", records)))
    yield Workbench(store, lease_seconds=300)
    store.close()


def test_queue_leases_keep_reviewers_apart_and_undo_reopens(bench):
    from curator.queue import QueueFilters

    default = QueueFilters()
    a = bench.next_item("alice", default)
    b = bench.next_item("bob", default)
    assert (a.shown.traj_id, b.shown.traj_id) == (1, 2)
    assert bench.next_item("alice", default).shown.traj_id == 1  # her own lease: same item
    bench.decide(a.shown, "alice", "accept")
    assert bench.next_item("alice", default).shown.traj_id == 3
    assert bench.undo("alice") == 1
    bench.release(bench.next_item("alice", default).shown, "alice")
    assert bench.next_item("carol", default).shown.traj_id == 1  # back in the queue, first
    assert bench.progress("alice", default) == {
        "done": 0,
        "skipped": 0,
        "total": 6,
        "in_view": 6,
        "mine_today": 0,
    }


def test_queue_filters(bench):
    from curator.queue import QueueFilters

    assert bench.next_item("a", QueueFilters(source_label="failure")).shown.traj_id == 1
    assert bench.next_item("b", QueueFilters(text="oSLo")).shown.traj_id == 3
    assert bench.next_item("c", QueueFilters(tool="no_such_tool")) is None
    assert bench.progress("a", QueueFilters(source_label="success"))["total"] == 3


def test_skips_come_back_after_pending_and_a_status_filter_reopens_any_decision(bench):
    from datetime import datetime, timedelta

    from curator.queue import QueueError, QueueFilters

    default = QueueFilters()

    def decide_next(reviewer, filters, kind, **kw):
        item = bench.next_item(reviewer, filters)
        bench.decide(item.shown, reviewer, kind, **kw)
        return item.shown.traj_id

    assert decide_next("alice", default, "skip") == 1
    assert decide_next("alice", default, "accept") == 2  # the skipped item waits behind
    progress = bench.progress("alice", default)
    assert (progress["done"], progress["skipped"], progress["mine_today"]) == (1, 1, 1)  # a skip is not done
    assert [
        decide_next("alice", default, k, tags=t, first_step=s)
        for k, t, s in [
            ("accept", (), None),
            ("fail", ["other"], 0),
            ("accept", (), None),
            ("accept", (), None),
        ]
    ] == [3, 4, 5, 6]
    assert bench.next_item("alice", default).shown.traj_id == 1  # pending done: the skip is back

    accepted = QueueFilters(status="accepted")
    assert decide_next("bob", accepted, "fail", tags=["other"], first_step=0) == 2  # oldest first
    assert decide_next("bob", accepted, "accept") == 3  # decided again: moves to the back
    assert bench.next_item("bob", accepted, frozenset({5})).shown.traj_id == 6  # 5 passed
    assert bench.next_item("carol", QueueFilters(status="failed", reviewer="bob")).shown.traj_id == 2
    assert bench.next_item("carol", QueueFilters(status="failed", reviewer="alice")).shown.traj_id == 4
    tomorrow = datetime.now() + timedelta(days=1)
    assert bench.next_item("carol", QueueFilters(status="accepted", since=tomorrow)) is None
    assert bench.progress("bob", accepted)["in_view"] == 3  # 3, 5, 6
    with bench.db() as store:
        kinds = store.column("SELECT kind FROM events WHERE traj_id = 2 ORDER BY event_id")
    assert kinds == ["accept", "fail"]  # the first decision stays in the history
    with pytest.raises(QueueError, match="unknown status"):
        QueueFilters(status="done")


def test_open_by_id_any_status_respects_leases(bench):
    from curator.queue import QueueFilters
    from curator.review import LeaseHeld, ReviewError

    first = bench.next_item("alice", QueueFilters())
    bench.decide(first.shown, "alice", "accept")
    again = bench.reopen("bob", first.shown.traj_id)
    assert again.loaded.status == "accepted"
    with pytest.raises(LeaseHeld, match="being reviewed by bob"):
        bench.reopen("alice", first.shown.traj_id)
    with pytest.raises(ReviewError, match="no such trajectory"):
        bench.reopen("alice", 99)
    bench.decide(again.shown, "bob", "fail", tags=["other"], first_step=0)
    assert bench.reopen("alice", first.shown.traj_id).loaded.status == "failed"


def test_stale_and_leased_decisions_are_refused(bench):
    from curator.queue import QueueFilters
    from curator.review import LeaseHeld, StaleWrite

    item = bench.next_item("alice", QueueFilters())
    with pytest.raises(LeaseHeld, match="being reviewed by alice"):
        bench.decide(item.shown, "bob", "accept")
    bench.decide(item.shown, "alice", "accept")
    with pytest.raises(StaleWrite, match="not saved"):
        bench.decide(item.shown, "alice", "skip")
    with bench.db() as store:
        assert store.column("SELECT kind FROM events") == ["accept"]


def test_second_review_is_blind_and_feeds_kappa(bench):
    from curator.agreement import cohen_kappa, double_decisions
    from curator.edits import apply_step
    from curator.queue import QueueFilters, set_second_review_share

    with bench.db() as store:
        set_second_review_share(store, 1.0)
    first = bench.next_item("alice", QueueFilters())
    task = first.loaded.task
    turns = apply_step(
        task,
        first.loaded.turns,
        0,
        0,
        thought="Better.",
        tool_name="get_weather",
        arguments='{"city": "Nice"}',
        reply="",
    )
    bench.save_edit(first.shown, "alice", turns)
    second = bench.next_item("bob", QueueFilters())
    assert second.shown.second_review and second.shown.traj_id == first.shown.traj_id
    assert second.loaded.info["revision"] == 0  # the original, not alice's edit
    bench.decide(second.shown, "bob", "fail", tags=["other"], first_step=0)
    assert bench.next_item("bob", QueueFilters()).shown.second_review is False
    with bench.db() as store:
        assert double_decisions(store) == [("edit", "fail")]
    assert cohen_kappa([("a", "a"), ("f", "f"), ("a", "f"), ("a", "a")]) == pytest.approx(0.5)
    assert cohen_kappa([]) is None


def test_edit_rules():
    from curator.edits import EditError, apply_step, check_complete, delete_step, insert_step
    from curator.model import Task, ToolCall, Turn

    task = Task(
        "q",
        tools=(
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            },
        ),
    )
    turns = [
        Turn("assistant", thought="t", tool_calls=(ToolCall("get_weather", {"city": "A"}, "c"),)),
        Turn("tool", content="sun", tool_call_id="c"),
        Turn("assistant", content="Sunny."),
    ]
    with pytest.raises(EditError, match="not valid JSON"):
        apply_step(task, turns, 0, 0, thought="", tool_name="get_weather", arguments="{", reply="")
    with pytest.raises(EditError, match="not offered"):
        apply_step(task, turns, 0, 0, thought="", tool_name="nope", arguments="{}", reply="")
    with pytest.raises(EditError, match="expected string"):
        apply_step(task, turns, 0, 0, thought="", tool_name="get_weather", arguments='{"city": 3}', reply="")
    new, step = insert_step(turns, 0)
    assert [t.role for t in new] == ["assistant", "tool", "assistant", "assistant"] and step == 1
    with pytest.raises(EditError, match="step 2 is empty"):
        check_complete(new)
    assert [t.role for t in delete_step(turns, 0)] == ["assistant"]
    with pytest.raises(EditError, match="only step"):
        delete_step(delete_step(turns, 0), 0)


def test_render_escapes_everything():
    from curator.app.render import task_html, text, trajectory_html
    from curator.model import Task, ToolCall, Turn

    evil = '<script>x()</script><img src=x onerror=y()><a href="javascript:z()">l</a>'
    task = Task(evil, system=evil, tools=({"function": {"name": evil}},))
    turns = [
        Turn("assistant", thought=evil, content=evil, tool_calls=(ToolCall(evil, {"k": evil}),), raw=evil),
        Turn("tool", content=evil),
        Turn("assistant", tool_calls=(ToolCall("run", {"code": f"{evil}\n" * 40, evil: [evil]}),)),
        Turn("tool", content=json.dumps({"stdout": f"{evil}\n" * 40, "also": evil})),
    ]
    html = task_html(task) + trajectory_html(1, 1, turns, [{"check": evil, "step": 0, "message": evil}])
    md = text(f"{evil} [m](javascript:alert(1)) [ok](https://x.org) ![i](http://x/i.png)", markdown=True)
    for html_, allowed in (
        (html, {"div", "span", "details", "summary", "pre", "code", "b", "label", "input"}),
        (md, {"div", "p", "a"}),
    ):
        tags = TagLog.of(html_)
        assert {tag for tag, _ in tags} <= allowed
        assert not [
            a
            for _, attrs in tags
            for a, v in attrs
            if a.startswith("on") or (a in ("href", "src") and "javascript" in v)
        ]
    assert 'href="https://x.org"' in md


def test_render_shows_code_in_arguments_and_results_as_real_lines():
    from curator.app.render import trajectory_html
    from curator.model import ToolCall, Turn

    code = 'def greet(name):\n    print(f"Grüße, {name} <3")\n'
    turns = [
        Turn("assistant", tool_calls=(ToolCall("write_file", {"path": "a.py", "content": code}, "c0"),)),
        Turn("tool", content=json.dumps({"ok": True, "stdout": "line 1\nline 2"}), tool_call_id="c0"),
        Turn("tool", content="\n".join(f"log {i}" for i in range(40))),
        Turn("assistant", content="Done."),
    ]
    html = trajectory_html(1, 1, turns, [])
    # the code as its lines (escaped once for HTML), not as a JSON string with \n and \" escapes
    assert (
        '<span class="block">def greet(name):\n    print(f&quot;Grüße, {name} &lt;3&quot;)\n</span>' in html
    )
    assert '<span class="key">"path"</span>: <span class="str">"a.py"</span>' in html
    assert "\\n" not in html and "\\u00fc" not in html
    assert '<span class="key">"ok"</span>: true' in html
    assert '<span class="block">line 1\nline 2</span>' in html
    # a long result is cut, with a switch to show all of it; short ones are not
    assert html.count('class="long"') == 1 and "show all (40 lines)" in html


class TagLog(HTMLParser):
    """The start tags of an HTML string, with their attributes."""

    @classmethod
    def of(cls, html: str) -> list[tuple[str, list]]:
        parser = cls()
        parser.tags = []
        parser.feed(html)
        return parser.tags

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def test_users_file_holds_salted_hashes_only(tmp_path):
    from curator.auth import UsersError, add_user, authenticator, read_users

    path = tmp_path / "users.txt"
    assert add_user(path, "alice", "s3cret") is True
    assert add_user(path, "bob", "s3cret") is True
    text = path.read_text()
    assert "s3cret" not in text
    users = read_users(path)
    assert users["alice"] != users["bob"]  # salted
    check = authenticator(users)
    assert check("alice", "s3cret") and not check("alice", "wrong") and not check("eve", "s3cret")
    path.write_text("alice:plaintext\n")
    with pytest.raises(UsersError, match="users.txt:1"):
        read_users(path)
    with pytest.raises(UsersError, match="missing/u.txt: cannot write the users file"):
        add_user(tmp_path / "missing" / "u.txt", "bob", "pw")


@pytest.mark.slow
def test_users_and_serve_commands(tmp_path, db):
    users = tmp_path / "u.txt"
    added = run_cli(
        "users", "add", "alice", "--users", str(users), "--password-stdin", "--json", input="pw\n", check=True
    )
    assert '"added":true' in added.stdout
    refused = run_cli("serve", "--host", "0.0.0.0", db=db)
    assert refused.returncode == 1 and "without --users" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    bad = run_cli("serve", "--users", str(tmp_path / "missing.txt"), db=db)
    assert bad.returncode == 1 and "no such users file" in bad.stderr


def test_taxonomy_versions(db):
    from curator.store import Store
    from curator.taxonomy import TaxonomyError, save_version

    with Store(db) as store:
        rows = [(t["tag"], t["description"]) for t in store.taxonomy()]
        assert save_version(store, rows) == 1  # unchanged: no new version
        assert save_version(store, [*rows, ("slow", "took too long")]) == 2
        assert store.taxonomy(1)[-1]["tag"] == "other" and store.taxonomy()[-1]["tag"] == "slow"
        with pytest.raises(TaxonomyError, match="row 2"):
            save_version(store, [("ok", "fine"), ("Bad Tag", "")])
        with pytest.raises(TaxonomyError, match="row 2: tag 'slow' needs a description"):
            save_version(store, [("ok", "fine"), ("slow", "  ")])
        assert store.taxonomy_version() == 2


def test_export_form_reads_dates_as_the_cli_does():
    from datetime import datetime

    from curator.app.export_tab import export_filters
    from curator.filters import FilterError

    f = export_filters("", "", " ", "", "2025-01-01", "2025-01-31", ["other"])
    assert (f.since, f.until) == (datetime(2025, 1, 1), datetime(2025, 2, 1))  # that whole day, as --until
    assert (f.source_file, f.teacher, f.tags) == (None, None, ("other",))
    with pytest.raises(FilterError, match="until: '31/01/2025'"):
        export_filters("", "", "", "", "", "31/01/2025", [])


def test_review_form_reads_status_dates_and_ids():
    from datetime import datetime

    from curator.app.review_tab import queue_filters, savings_info, trajectory_id
    from curator.filters import FilterError
    from curator.queue import QueueFilters
    from curator.review import ReviewError

    values = ("", "", "", "", "", "", "ann")
    chosen = queue_filters(" loop ", "failed", "2025-01-01", "2025-01-31", values)
    assert QueueFilters(**chosen) == QueueFilters(
        text="loop",
        status="failed",
        reviewer="ann",
        since=datetime(2025, 1, 1),
        until=datetime(2025, 2, 1),  # that whole day, as the CLI's --until
    )
    with pytest.raises(FilterError, match="decided until: '31/01'"):
        queue_filters("", "", "", "31/01", values)
    assert QueueFilters(**queue_filters("", "", "", "", values, True)).skip_near_duplicates
    assert savings_info(1, 0) == "saves 1 review (pending or skipped items repeating a decided one)"
    assert savings_info(0, 4).endswith(
        "4 trajectories not embedded yet: turning this on embeds them and counts again"
    )
    assert trajectory_id(" #12 ") == 12 and trajectory_id(7.0) == 7
    with pytest.raises(ReviewError, match="'twelve' is not a trajectory id"):
        trajectory_id("twelve")
