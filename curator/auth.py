"""Reviewer logins: a users file of names and salted scrypt password hashes (never plain text).

One reviewer a line, `name:scrypt$n$r$p$salt$hash` (hex), written by `curator users add` and read
by `curator serve --users FILE`. The login name is the reviewer on every event.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
from pathlib import Path

from curator.errors import CuratorError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class UsersError(CuratorError):
    """A users file or entry that cannot be used; one line saying where and why."""


def hash_password(password: str) -> str:
    if not password:
        raise UsersError("the password is empty")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def read_users(path: str | os.PathLike) -> dict[str, str]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsersError(
            f"{path}: no such users file (create it with `curator users add NAME --users {path}`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersError(f"{path}: cannot read the users file: {exc}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not NAME.match(name) or not encoded.startswith("scrypt$") or encoded.count("$") != 5:
            raise UsersError(
                f"{path}:{number}: not a `name:scrypt$...` entry (write entries with `curator users add`)"
            )
        users[name] = encoded
    if not users:
        raise UsersError(f"{path}: no reviewers in the users file")
    return users


def add_user(path: str | os.PathLike, name: str, password: str) -> bool:
    """Add `name` (or change its password); True when the name is new. Atomic, mode 0600."""
    if not NAME.match(name):
        raise UsersError(f"reviewer name {name!r}: use 1-64 letters, digits, or _ . @ -")
    path = Path(path)
    users = read_users(path) if path.exists() and path.stat().st_size else {}
    new = name not in users
    users[name] = hash_password(password)
    try:
        _write(path, users)
    except OSError as exc:
        raise UsersError(f"{path}: cannot write the users file: {exc.strerror or exc}") from exc
    return new


def _write(path: Path, users: dict[str, str]) -> None:
    """Replace the users file in one step (a temporary file beside it, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{n}:{h}\n" for n, h in users.items())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def authenticator(users: dict[str, str]):
    """The check Gradio's login calls."""

    def check(name: str, password: str) -> bool:
        encoded = users.get(name)
        return encoded is not None and verify_password(password, encoded)

    return check
