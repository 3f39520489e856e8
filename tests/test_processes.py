"""Processes and exit codes (issue 17.6): nothing left running, nothing left on disk by a
command that failed, one exit code rule, fast failures before heavy imports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from conftest import ROOT, chat_record, free_port, run_cli, write_jsonl

needs_proc = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _records(n: int) -> list[dict]:
    return [
        chat_record(f"k{i}", [("Check.", "get_weather", {"city": f"C{i}"}, "18 C")], "18 C.")
        for i in range(n)
    ]


@pytest.mark.slow
@needs_proc
def test_killed_import_leaves_no_second_process(db, tmp_path):
    from curator.ingest import SPLIT_BYTES

    big = write_jsonl(tmp_path / "big.jsonl", _records(80_000))
    assert big.stat().st_size >= SPLIT_BYTES, "too small for two processes; the test proves nothing"
    proc = subprocess.Popen(
        [sys.executable, "-m", "curator", "import", str(big), "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (children := _children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children, "the import never started its second process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, children)), f"second process {children} outlived the killed import"


def test_users_add_without_a_terminal_reads_stdin(tmp_path):
    users = tmp_path / "u.txt"
    added = run_cli("users", "add", "bob", "--users", str(users), "--json", input="pw\n", check=True)
    assert orjson.loads(added.stdout)["added"] is True
    assert users.read_text().startswith("bob:")
    empty = run_cli("users", "add", "carol", "--users", str(users), input="")
    assert empty.returncode == 1 and empty.stderr.startswith("error: no password")
    assert "Traceback" not in empty.stderr and "carol" not in users.read_text()


def test_a_file_that_imports_nothing_exits_1(db, tmp_path):
    chat = write_jsonl(tmp_path / "chat.jsonl", _records(3))
    proc = run_cli("import", str(chat), "--format", "react", "--json", db=db)
    assert proc.returncode == 1, proc.stderr
    assert orjson.loads(proc.stdout)["quarantined"] == 3
    assert "nothing imported, 3 quarantined (first: line 1:" in proc.stderr
    assert run_cli("import", str(chat), db=db).returncode == 0
    again = run_cli("import", str(chat), db=db)  # all duplicates: stored already, not a failure
    assert again.returncode == 0, again.stderr


def test_failed_commands_leave_no_store_file(db, tmp_path):
    proc = run_cli("import", str(tmp_path / "missing.jsonl"), db=db)
    assert proc.returncode == 1 and "no such file" in proc.stderr
    assert run_cli("bulk", "accept", db=db).returncode == 0
    assert not db.exists() and not db.with_name(db.name + ".wal").exists()
    run_cli("import", str(write_jsonl(tmp_path / "a.jsonl", _records(1))), db=db, check=True)
    assert db.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["train", "--data", "/nonexistent", "--out", "{tmp}/run"],
            "data folder /nonexistent does not exist",
        ),
        (["eval", "--adapter", "/nonexistent", "--tasks", "1"], "adapter folder /nonexistent does not exist"),
        (["merge", "--adapter", "{tmp}", "--out", "{tmp}/merged"], "{tmp} is not an adapter folder"),
    ],
)
def test_missing_folders_fail_before_loading_torch(tmp_path, argv, message):
    """The checks run before the heavy imports: with torch made unimportable they still answer."""
    argv = [a.format(tmp=tmp_path) for a in argv]
    script = (
        f"import sys; sys.modules['torch'] = None; from curator.cli import main; sys.exit(main({argv!r}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message.format(tmp=tmp_path) in lines[0]


@pytest.mark.slow
def test_demo_removes_its_temporary_store_on_exit(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "curator", "serve", "--demo", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in server.stderr:
            if line.startswith("serving"):
                break
        assert list(tmp_path.glob("curator-demo-*/demo.duckdb")), "the demo store is not where expected"
        time.sleep(1)
        assert server.poll() is None, "the demo app stopped by itself"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert not list(tmp_path.glob("curator-demo-*"))
