"""The class list: who may log in, with which password, and who is the instructor.

One line per person, comma-separated: ``username[,password[,role]]``. ``role`` is ``learner``
(the default) or ``instructor`` (a JupyterHub admin). An empty password means the person chooses
one the first time they log in. Blank lines and lines starting with ``#`` are ignored; a first
line ``username,password,role`` is read as a header.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES = ("learner", "instructor")
MIN_PASSWORD_LENGTH = 8
# A learner becomes a Linux account of the same name: a portable POSIX user name, lowercase.
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
# Names a class list may never take (system accounts and JupyterHub's own words).
RESERVED = {"root", "admin", "daemon", "bin", "sys", "nobody", "hub", "user", "services", "api"}


class ClassListError(ValueError):
    """A class list that cannot be used; the message is one line naming the line and the value."""


@dataclass(frozen=True)
class Person:
    username: str
    password: str | None  # None: chosen at first login
    role: str

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


def check_username(name: str, where: str = "username") -> str:
    if not USERNAME_RE.match(name):
        raise ClassListError(
            f"{where}: username {name!r} is not allowed: use 1-31 lowercase letters, digits, "
            "'-' or '_', starting with a letter"
        )
    if name in RESERVED:
        raise ClassListError(f"{where}: username {name!r} is reserved; choose another")
    return name


def parse_class_list(text: str, source: str = "class list") -> list[Person]:
    """Parse the text of a class list; raise :class:`ClassListError` with a one-line reason."""
    people: dict[str, Person] = {}
    rows = csv.reader(io.StringIO(text))
    first = True
    for lineno, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        header = first and [c.lower() for c in cells] == ["username", "password", "role"][: len(cells)]
        first = False
        if header:
            continue
        where = f"{source} line {lineno}"
        if len(cells) > 3:
            raise ClassListError(f"{where}: {len(cells)} fields, expected username[,password[,role]]")
        username = check_username(cells[0], where)
        password = cells[1] if len(cells) > 1 and cells[1] else None
        role = cells[2].lower() if len(cells) > 2 and cells[2] else "learner"
        if role not in ROLES:
            raise ClassListError(f"{where}: role {cells[2]!r} is not one of {', '.join(ROLES)}")
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise ClassListError(
                f"{where}: the password of {username!r} has {len(password)} characters, "
                f"at least {MIN_PASSWORD_LENGTH} are needed (or leave it empty: chosen at first login)"
            )
        if username in people:
            raise ClassListError(f"{where}: username {username!r} is listed twice")
        people[username] = Person(username, password, role)
    if not people:
        raise ClassListError(f"{source}: no learners listed (one line per person: username[,password[,role]])")
    if not any(p.is_instructor for p in people.values()):
        raise ClassListError(f"{source}: no instructor listed: give one line the role 'instructor'")
    return list(people.values())


def read_class_list(path: str | Path) -> list[Person]:
    path = Path(path)
    if not path.is_file():
        raise ClassListError(f"--class-list: {str(path)!r} is not a file (one line per person: username[,password[,role]])")
    return parse_class_list(path.read_text(encoding="utf-8"), source=str(path))


# ---- passwords: listed ones, or chosen at first login and kept as salted scrypt hashes ----

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, salt_hex, digest_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


class PasswordStore:
    """First-use passwords: username -> scrypt hash, in a JSON file of mode 0600."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> dict:
        if not self.path.is_file():
            return {}
        return json.loads(self.path.read_text())

    def get(self, username: str) -> str | None:
        return self.load().get(username)

    def set(self, username: str, password: str) -> None:
        data = self.load()
        data[username] = hash_password(password)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class ClassListChecker:
    """The password logic without JupyterHub, so the unit tests can call it directly."""

    def __init__(self, people: list[Person], store: PasswordStore):
        self.people = {p.username: p for p in people}
        self.store = store

    def check(self, username: str, password: str) -> str | None:
        """Return the username if this login is allowed, else None (unknown user, wrong password)."""
        username = (username or "").strip().lower()
        password = password or ""
        if username not in self.people:
            return None
        listed = self.people[username].password
        if listed is not None:  # the class list gives this person's password (in plain text)
            same = hmac.compare_digest(password.encode("utf-8"), listed.encode("utf-8"))
            return username if same else None
        stored = self.store.get(username)
        if stored is not None:
            return username if verify_password(password, stored) else None
        if len(password) < MIN_PASSWORD_LENGTH:
            return None  # first use: too short a password is refused (the login page says the rule)
        self.store.set(username, password)
        return username
