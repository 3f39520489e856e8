"""Bad input (SPEC 9): every failure is one line naming what and where, bad records land in
quarantine without stopping the good ones, and a killed import leaves the store consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from conftest import ROOT, chat_record, cli_json, run_cli, write_jsonl

from curator.store import Store


def good(n: int, prefix: str = "t") -> list[dict]:
    return [
        chat_record(
            f"{prefix}{i}", [("Check.", "get_weather", {"city": f"C{i}"}, "18 C")], f"It is 18 C in C{i}."
        )
        for i in range(n)
    ]


def imported(result: dict) -> tuple[int, int, int]:
    return result["imported"], result["duplicates"], result["quarantined"]


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_jsonl_with_bad_lines_among_good_ones(db, tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [orjson.dumps(r) for r in good(3)]
    lines.insert(1, b'{"messages": [oops')
    lines.insert(3, orjson.dumps({"messages": "not a list"}))
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = cli_json("import", str(path), db=db)
    assert imported(result) == (3, 0, 2)
    errors = result["files"][0]["errors"]
    assert [e["where"] for e in errors] == ["line 2", "line 4"]
    assert "invalid JSON" in errors[0]["reason"] and "messages" in errors[1]["reason"]
    with Store(db, read_only=True) as s:
        rows = s.con.execute("SELECT location, reason, raw FROM quarantine ORDER BY q_id").fetchall()
    assert rows[0][0] == "line 2" and rows[0][2] == '{"messages": [oops'


def test_wrong_field_types_are_quarantined_with_the_field(db, tmp_path):
    bad = good(1)[0]
    bad["messages"][2]["tool_calls"] = "get_weather(city='x')"
    result = cli_json("import", str(write_jsonl(tmp_path / "t.jsonl", [bad, *good(1, "u")])), db=db)
    assert imported(result) == (1, 0, 1)
    assert "tool_calls" in result["files"][0]["errors"][0]["reason"]


def test_truncated_json_list_keeps_the_complete_records(db, tmp_path):
    path = tmp_path / "cut.json"
    text = orjson.dumps(good(3))
    path.write_bytes(text[: len(text) - 40])
    result = cli_json("import", str(path), db=db)
    assert imported(result) == (2, 0, 1)
    assert "cut off" in result["files"][0]["errors"][0]["reason"]


def test_invalid_utf8_line_is_quarantined(db, tmp_path):
    path = tmp_path / "latin1.jsonl"
    lines = [orjson.dumps(r) for r in good(2)]
    lines.insert(1, '{"messages": [{"role": "user", "content": "naïve"}]}'.encode("latin-1"))
    path.write_bytes(b"\n".join(lines))
    result = cli_json("import", str(path), db=db)
    assert imported(result) == (2, 0, 1)
    assert "invalid UTF-8 at byte" in result["files"][0]["errors"][0]["reason"]


@pytest.mark.slow
def test_a_100_mb_single_line_is_refused_without_reading_it_as_data(db, tmp_path):
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"messages": [{"role": "user", "content": "')
        fh.write(b"x" * 100_000_000)
        fh.write(b'"}]}\n')
    proc = run_cli("import", str(path), "--json", db=db)
    assert proc.returncode == 1  # nothing imported from a file given
    result = orjson.loads(proc.stdout)
    assert imported(result) == (0, 0, 1)
    assert "MiB record limit" in result["files"][0]["errors"][0]["reason"]
    with Store(db, read_only=True) as s:
        assert s.scalar("SELECT max(length(raw)) FROM quarantine") < 70_000


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"", "empty file"),
        (b"   \n\n", "only whitespace"),
        (b"hello, this is not a trajectory", "unknown format"),
        (b'{"rows": [1, 2, 3], "name": "x"}', "unknown format"),
    ],
)
def test_unreadable_files_fail_in_one_line_and_others_still_import(db, tmp_path, content, needle):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    ok = write_jsonl(tmp_path / "ok.jsonl", good(2))
    proc = run_cli("import", str(bad), str(ok), "--json", db=db)
    assert proc.returncode == 1
    one_line_error(proc, str(bad), needle)
    result = orjson.loads(proc.stdout)
    assert result["imported"] == 2


def test_folder_and_missing_file(db, tmp_path):
    proc = run_cli("import", str(tmp_path), db=db)
    assert proc.returncode == 1
    one_line_error(proc, "is a folder")
    proc = run_cli("import", str(tmp_path / "nope.jsonl"), db=db)
    assert proc.returncode == 1
    one_line_error(proc, "nope.jsonl", "no such file")


def test_unknown_format_name_is_bad_usage(db, tmp_path):
    proc = run_cli("import", "x.jsonl", "--format", "csv", db=db)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_import_into_a_store_held_by_another_process(held_store, db, tmp_path):
    proc = run_cli("import", str(write_jsonl(tmp_path / "a.jsonl", good(1))), db=db)
    assert proc.returncode == 1
    one_line_error(proc, "open in another process", f"PID {held_store.pid}", "curator serve")


@pytest.mark.slow
def test_killed_import_leaves_the_store_consistent(db, tmp_path):
    first = write_jsonl(tmp_path / "first.jsonl", good(50, "a"))
    assert cli_json("import", str(first), db=db)["imported"] == 50
    big = write_jsonl(tmp_path / "big.jsonl", good(30_000, "b"))
    outcomes = set()
    for delay in (0.5, 1.5, 2.5, 3.5, 4.5, 6.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "curator", "import", str(big), "--db", str(db)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store(db) as s:
            n = s.scalar("SELECT count(*) FROM trajectories")
            assert n in (50, 30_050), f"partial import after kill at {delay}s: {n}"
            assert s.scalar("SELECT count(*) FROM revisions") == n
            assert s.scalar("SELECT count(*) FROM state") == n
            assert s.scalar("SELECT count(*) FROM trajectories WHERE source_file LIKE '%first.jsonl'") == 50
            outcomes.add(n)
        if n == 30_050:
            break
    assert 50 in outcomes, "no kill landed before the commit; the test proved nothing"


def test_jsonl_whose_lines_are_bare_message_lists(db, tmp_path):
    lines = [r["messages"] for r in good(2)]
    result = cli_json("import", str(write_jsonl(tmp_path / "bare.jsonl", lines)), db=db)
    assert imported(result) == (2, 0, 0)
    assert result["files"][0]["format"] == "openai"


def _tables(path) -> dict[str, list]:
    """Everything an import writes, without the times and ids that differ between two runs."""
    with Store(path, read_only=True) as s:
        return {
            table: s.con.execute(f"SELECT {cols} FROM {table} ORDER BY ALL").fetchall()
            for table, cols in [
                ("trajectories", "* EXCLUDE (import_id)"),
                ("revisions", "* EXCLUDE (created_at)"),
                ("state", "*"),
                ("checks", "*"),
                ("tasks", "*"),
                ("quarantine", "* EXCLUDE (created_at)"),
                ("imports", "* EXCLUDE (imported_at, path)"),
            ]
        }


SPLIT_IMPORT = """
import sys, orjson
from curator import ingest
from curator.store import Store
path, db, split_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
ingest.SPLIT_BYTES = split_bytes
assert ingest._can_split(path) == (split_bytes == 0), "two processes not possible here"
with Store(db) as store:
    print(orjson.dumps(ingest.import_file(store, path).to_dict()).decode())
"""


def test_a_file_read_by_two_processes_stores_what_one_process_stores(tmp_path):
    """Bad and blank lines, CRLF endings, and duplicates of the first half in the second: the
    split import (forced on a small file, in a fresh process as the CLI runs) writes the same
    rows, ids, line numbers and counts as one process."""
    lines = [orjson.dumps(r) for r in good(40)]
    lines[5:5] = [b'{"messages": [oops', b"", b"not json"]
    lines.insert(35, b"{bad")  # in the later half
    lines += [orjson.dumps(r) for r in good(4)]  # the first four again, in the later half
    path = tmp_path / "both.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    results = {}
    for name, split_bytes in (("one", 1 << 60), ("two", 0)):
        db = tmp_path / f"{name}.duckdb"
        proc = subprocess.run(
            [sys.executable, "-c", SPLIT_IMPORT, str(path), str(db), str(split_bytes)],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        results[name] = (orjson.loads(proc.stdout), _tables(db))
    assert results["one"] == results["two"]
    summary, tables = results["two"]
    assert (summary["imported"], summary["duplicates"], summary["quarantined"]) == (40, 4, 3)
    assert [q[3] for q in tables["quarantine"]] == ["line 6", "line 8", "line 36"]


BESIDE = """
import os, pytest
from curator import fork

def fail():
    raise ValueError("bad half")

assert fork.can_fork()
with fork.beside(fail) as result, pytest.raises(ValueError, match="bad half"):
    result()
with fork.beside(os._exit, 3) as result, pytest.raises(RuntimeError, match="exit code 3"):
    result()
with fork.beside(os.getpid) as result:
    assert result() != os.getpid()
print("ok")
"""


def test_what_the_second_process_returns_or_raises_reaches_the_caller(monkeypatch):
    """In a fresh process (as the CLI runs) the half runs forked: its result, its exception, and
    its death reach the caller. Where forking is not safe, the same call runs here."""
    proc = subprocess.run(
        [sys.executable, "-c", BESIDE], check=False, cwd=ROOT, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "ok", proc.stderr
    from curator import fork

    monkeypatch.setattr(fork, "can_fork", lambda: False)
    with fork.beside(os.getpid) as result:
        assert result() == os.getpid()
