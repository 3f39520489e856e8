"""`curator backup OUT` (issue 15.5): a consistent copy of the store, from the file or, while
`curator serve` holds it, through the app; a backup restores as a plain store."""

from __future__ import annotations

import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from conftest import ROOT, SAMPLE, chat_record, cli_json, free_port, run_cli, write_jsonl

from curator.backup import BackupError, BackupService, announcement, backup
from curator.ingest import import_file
from curator.review import decide, rebuild_state
from curator.store import Store


def tables(path) -> dict[str, list]:
    """Every row of every table, and where each sequence stands."""
    with Store(path, read_only=True) as s:
        names = s.column("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'")
        rows = {t: s.con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in names}
        rows["views"] = s.column("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")
        return rows


def sequences(path) -> dict[str, int]:
    with Store(path) as s:
        names = s.column("SELECT sequence_name FROM duckdb_sequences() ORDER BY 1")
        return {n: s.scalar(f"SELECT nextval('{n}')") for n in names}


def state_is_rebuilt_from_events(path) -> bool:
    """`state` equals `rebuild_state` over the events."""
    with Store(path) as s:
        before = s.con.execute("SELECT * FROM state ORDER BY traj_id").fetchall()
        rebuild_state(s)
        return s.con.execute("SELECT * FROM state ORDER BY traj_id").fetchall() == before


@pytest.fixture
def reviewed(db):
    with Store(db) as store:
        import_file(store, str(SAMPLE))
        for traj_id in store.column("SELECT traj_id FROM trajectories ORDER BY traj_id LIMIT 40"):
            decide(store, traj_id, "accept", "alice")
    return db


def test_backup_of_a_closed_store_is_the_same_store(reviewed, tmp_path):
    out = tmp_path / "copy.duckdb"
    result = backup(reviewed, out)
    assert result["via"] == "file" and result["trajectories"] == 375 and result["events"] == 40
    assert tables(out) == tables(reviewed)
    assert sequences(out) == sequences(reviewed)  # new ids continue, not restart
    with pytest.raises(BackupError, match="already exists"):
        backup(reviewed, out)
    with pytest.raises(BackupError, match="is the store itself"):
        backup(reviewed, reviewed, overwrite=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_backups_taken_while_a_writer_decides_are_snapshots(reviewed, tmp_path):
    """Through the app's service (the path `curator serve` uses), with decisions landing all
    the while: every backup is a store whose state is exactly the rebuild of its events."""
    lock = threading.Lock()
    with Store(reviewed) as store:

        @contextmanager
        def locked():
            with lock:
                yield store

        pending = store.column("SELECT traj_id FROM state WHERE status = 'pending' ORDER BY traj_id")
        stop = threading.Event()

        def reviewer():
            for traj_id in pending:
                if stop.is_set():
                    return
                with locked() as s:
                    decide(
                        s, traj_id, "fail" if traj_id % 3 else "accept", "bob", tags=["other"], first_step=0
                    )

        with BackupService(store.path, locked):
            assert stat.S_IMODE(announcement(store.path).stat().st_mode) == 0o600
            writer = threading.Thread(target=reviewer)
            writer.start()
            copies = []
            while writer.is_alive() and len(copies) < 6:
                copies.append(backup(store.path, tmp_path / f"b{len(copies)}.duckdb"))
                time.sleep(0.2)
            stop.set()
            writer.join()
        assert not announcement(store.path).exists()
    assert all(c["via"] == "app" for c in copies)
    assert len({c["events"] for c in copies}) > 1, "no decision landed between backups; nothing shown"
    for c in copies:
        assert state_is_rebuilt_from_events(c["out"])


@pytest.mark.slow
def test_backup_while_serve_holds_the_store_then_restore(reviewed, tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-m", "curator", "serve", "--db", str(reviewed), "--port", str(free_port())],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in server.stderr:
            if line.startswith("serving"):
                break
        busy = run_cli("import", str(SAMPLE), db=reviewed)
        assert busy.returncode == 1 and "open in another process" in busy.stderr
        result = cli_json("backup", str(tmp_path / "live.duckdb"), db=reviewed)
        assert result["via"] == "app" and result["events"] == 40
        server.send_signal(signal.SIGKILL)  # an app killed leaves its announcement behind
        server.wait()
        after_kill = cli_json("backup", str(tmp_path / "after.duckdb"), db=reviewed)
        assert after_kill["via"] == "file"
    finally:
        server.kill()
        server.wait()
    assert tables(tmp_path / "live.duckdb") == tables(reviewed)
    # Restore: nothing holds the store; the backup file is copied over it.
    shutil.copyfile(tmp_path / "live.duckdb", reviewed)
    assert cli_json("stats", db=reviewed)["accepted"] == 40
    extra = write_jsonl(tmp_path / "more.jsonl", [chat_record("new", [], "done")])
    assert cli_json("import", str(extra), db=reviewed)["imported"] == 1
    with Store(reviewed, read_only=True) as s:
        assert s.scalar("SELECT max(traj_id) FROM trajectories") == 376
    assert state_is_rebuilt_from_events(reviewed)
    again = run_cli("backup", str(tmp_path / "live.duckdb"), db=reviewed)
    assert again.returncode == 1 and again.stderr.startswith("error:") and "already exists" in again.stderr
