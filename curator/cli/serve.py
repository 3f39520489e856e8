"""`curator serve`: the review app on the store (it is the store's only writer while it runs)."""

from __future__ import annotations

import getpass
import ipaddress
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from curator.cli import JobError, add_db
from curator.paths import SAMPLE_TRAJECTORIES
from curator.review import DEFAULT_LEASE_SECONDS

SAMPLE = SAMPLE_TRAJECTORIES


def register(sub) -> str:
    p = sub.add_parser("serve", help="run the review app (Gradio) on the store")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs --users)"
    )
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--users",
        metavar="FILE",
        help="reviewer logins (`curator users add`); without it, on loopback, the reviewer is the local user",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="a fresh store with the sample trajectories (a temporary file, or --db), "
        "most of them decided by their sample labels, the rest left to review",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's temporary store and its runs after the app exits (default: removed)",
    )
    p.add_argument(
        "--lease-seconds",
        type=int,
        default=DEFAULT_LEASE_SECONDS,
        metavar="N",
        help=f"how long an item shown to one reviewer is kept from the others "
        f"(default {DEFAULT_LEASE_SECONDS})",
    )
    add_db(p)
    return "serve"


DEMO_REVIEWER = "sample-labels"
DEMO_PENDING_TASKS = 10  # tasks whose trajectories the demo leaves for a person to review


def seed_demo_decisions(store) -> int:
    """The demo's curated set: the sample's own success/failure labels (and planted failure tags) recorded
    as bulk decisions of `DEMO_REVIEWER`, for all but the last DEMO_PENDING_TASKS tasks, so that the Train
    tab has a set to learn from while the queue still holds trajectories to review."""
    from curator.review import bulk_by_labels

    tasks = store.column("SELECT DISTINCT task_key FROM trajectories ORDER BY task_key")
    keep = tasks[:-DEMO_PENDING_TASKS] if len(tasks) > DEMO_PENDING_TASKS else []
    return sum(bulk_by_labels(store, DEMO_REVIEWER, task_keys=keep).values())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> None:
    from curator.auth import read_users

    if not is_loopback(args.host) and not args.users:
        raise JobError(
            f"refusing to serve on {args.host} without --users FILE: anyone who can "
            f"reach it could write decisions (add reviewers with `curator users add "
            f"NAME --users FILE`)"
        )
    if args.lease_seconds < 1:
        raise JobError(f"--lease-seconds must be at least 1, got {args.lease_seconds}")
    users = read_users(args.users) if args.users else None
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    with _store_path(args) as db:
        _serve(args, db, users)


@contextmanager
def _store_path(args) -> Iterator[str | None]:
    """`--db`, or for `--demo` without it a temporary folder (store, exports, runs) removed when
    the app exits unless `--keep`."""
    if not args.demo or args.db:
        yield args.db
        return
    folder = tempfile.mkdtemp(prefix="curator-demo-")
    try:
        yield os.path.join(folder, "demo.duckdb")
    finally:
        if args.keep:
            print(f"kept the demo store and its runs in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def quiet_when_idle(app):
    """Gradio's queue looks for work every 1 ms while idle (and for progress every 10 ms): about 5% of a core
    for an app nobody uses, taken from the training run the Train tab shows. Every 10 and 50 ms cost a
    reviewer nothing visible. Private attributes: gradio is pinned and tests/test_pins.py checks them."""
    app._queue.sleep_when_free = 0.01
    app._queue.progress_update_sleep_when_free = 0.05
    return app


def _serve(args, db: str | None, users: dict | None) -> None:
    from curator.app import Workbench, build_app, launch_options
    from curator.auth import authenticator
    from curator.backup import BackupService
    from curator.ingest import import_file
    from curator.store import Store

    with Store(db) as store:
        if args.demo:
            if not SAMPLE.is_file():
                raise JobError(f"{SAMPLE}: the sample set is missing")
            summary = import_file(store, str(SAMPLE))
            decided = seed_demo_decisions(store) if summary.imported else 0
            print(
                f"demo store {store.path}: {summary.imported} sample trajectories imported "
                f"({summary.duplicates} already there), {decided} decided by their sample labels "
                f"(reviewer {DEMO_REVIEWER}), the rest left to review",
                file=sys.stderr,
            )
        bench = Workbench(store, args.lease_seconds)
        local_user = getpass.getuser()
        app = build_app(
            bench,
            local_user=local_user,
            exports_root=store.path.resolve().parent / "exports",
            runs_root=store.path.resolve().parent / "runs",
        )
        who = f"{len(users)} reviewers from {args.users}" if users else f"reviewer {local_user}"
        # `curator backup` while the app runs; episodes of generation jobs brought in as they are generated
        with BackupService(store.path, bench.db), bench.importer:
            print(
                f"serving {store.path} on http://{args.host}:{args.port} ({who}); Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly: the store closes, checkpointed
            try:
                quiet_when_idle(app.queue(default_concurrency_limit=None)).launch(
                    server_name=args.host,
                    server_port=args.port,
                    quiet=True,
                    show_error=False,
                    auth=authenticator(users) if users else None,
                    auth_message="Trajectory Curator: log in with your reviewer name",
                    footer_links=[],
                    max_file_size="2gb",
                    **launch_options(),
                )
            except KeyboardInterrupt:
                pass
            finally:
                app.close()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
