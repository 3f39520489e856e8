"""`curator backup OUT`: a consistent copy of the store, also while the app runs (SPEC 8).

The copy is one DuckDB statement, `COPY FROM DATABASE` into a new file: one transaction, so it
is a snapshot (tables, views, sequences at their current values), written beside OUT and renamed
into place, so a failed or killed backup leaves no partial file.

DuckDB lets no other process open a file while one process writes it, so while `curator serve`
runs the copy must be made by the app, over its own connection. The app therefore offers it: at
start it listens on a loopback port and announces itself in `STORE.serve.json` beside the store
(pid, port and a random token; readable by its owner only). `curator backup` reads that file,
sends the token and OUT, and the app makes the copy under its store lock (between two
reviewers' writes, never inside one). With no app running (or an announcement left by a killed
one), the command opens the store read-only and copies it itself.

Restoring is a file copy, with nothing holding the store: stop the app, then copy the backup over
the store file (or serve the backup as it is with `--db`). A backup is a plain store: every
table, view and sequence is there, so new imports and decisions continue its ids.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Self

import duckdb

from curator.errors import JobError
from curator.store import Store, StoreError


class BackupError(JobError):
    """A backup that could not be made; one line."""


def announcement(store_path: Path) -> Path:
    """Where a running app says how to reach it, beside the store file."""
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".serve.json")


def check_target(store_path: Path, out: Path, overwrite: bool) -> Path:
    out = Path(out).absolute()
    if out.resolve() == Path(store_path).resolve():
        raise BackupError(f"{out}: is the store itself; back up to another file")
    if out.is_dir():
        raise BackupError(f"{out}: is a folder; give the backup file's name")
    if out.exists() and not overwrite:
        raise BackupError(f"{out}: already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent}: no such folder")
    return out


def copy_store(con, out: Path) -> dict:
    """Copy the database `con` has open (as one snapshot) to the new file `out`."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.unlink(missing_ok=True)
    source = con.execute("SELECT current_database()").fetchone()[0]
    try:
        con.execute(f"ATTACH '{_quoted(tmp)}' AS curator_backup (READ_ONLY false)")
        try:
            con.execute(f'COPY FROM DATABASE "{source}" TO curator_backup')
            counts = {
                table: con.execute(f"SELECT count(*) FROM curator_backup.{table}").fetchone()[0]
                for table in ("trajectories", "events")
            }
        finally:
            con.execute("DETACH curator_backup")
        os.replace(tmp, out)
    except (OSError, duckdb.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"{out}: cannot write the backup: {str(exc).splitlines()[0]}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"out": str(out), "bytes": out.stat().st_size, **counts}


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def backup(store_path, out, overwrite: bool = False) -> dict:
    """Back up the store at `store_path` to `out`: through the running app if there is one,
    else from the file. The result says which (`via`: `app` or `file`)."""
    store_path = Path(store_path)
    out = check_target(store_path, out, overwrite)
    if (reply := _ask_app(store_path, out)) is not None:
        return {**reply, "via": "app"}
    try:
        with Store(store_path, read_only=True) as store:
            return {**copy_store(store.con, out), "via": "file"}
    except StoreError as exc:
        raise BackupError(str(exc)) from None


def _ask_app(store_path: Path, out: Path) -> dict | None:
    """The app's reply, or None when no app announces itself (or the one announced is gone)."""
    try:
        app = json.loads(announcement(store_path).read_text())
        os.kill(app["pid"], 0)  # the app that wrote it still runs
        sock = socket.create_connection(("127.0.0.1", app["port"]), timeout=5)
    except PermissionError:
        raise BackupError(f"{store_path}: served by another user's app (pid {app['pid']})") from None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with sock, sock.makefile("rwb") as stream:
        sock.settimeout(None)  # a large store takes a while to copy
        stream.write(json.dumps({"token": app["token"], "out": str(out)}).encode() + b"\n")
        stream.flush()
        reply = json.loads(stream.readline() or b'{"error": "the app closed the connection"}')
    if "error" in reply:
        raise BackupError(f"the running app (pid {app.get('pid')}): {reply['error']}")
    return reply


class BackupService:
    """The app's side: backups asked for by `curator backup`, made with `open_store()` (a
    context manager giving the app's `Store` under its lock)."""

    def __init__(self, store_path: Path, open_store: Callable[[], AbstractContextManager[Store]]):
        self.path = announcement(store_path)
        self.token = secrets.token_hex(16)
        service = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(json.dumps(service.answer(self.rfile.readline())).encode() + b"\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.open_store = open_store

    def answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
            if not hmac.compare_digest(str(request.get("token", "")), self.token):
                return {"error": "wrong token"}
            with self.open_store() as store:
                return copy_store(store.con, Path(request["out"]))
        except BackupError as exc:
            return {"error": str(exc)}
        except (ValueError, KeyError, TypeError):
            return {"error": "a request is one JSON line with token and out"}

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True, name="backups").start()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "port": self.server.server_address[1], "token": self.token}, fh)
        return self

    def __exit__(self, *exc) -> None:
        with suppress(OSError):
            self.path.unlink()
        self.server.shutdown()
        self.server.server_close()
