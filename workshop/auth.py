"""Logging learners in: the class list decides who may, with a listed or a first-use password.

A person whose line in the class list has a password logs in with it. A person without one sets
their password the first time they log in; it is stored as a salted scrypt hash in a file only
root can read, and from then on only that password works. Anyone not on the list is refused, and
so is a wrong password. Instructors are the hub's admins.
"""

from __future__ import annotations

from jupyterhub.auth import Authenticator
from traitlets import Unicode

from .classlist import ClassListChecker, PasswordStore, read_class_list


class ClassListAuthenticator(Authenticator):
    """JupyterHub authenticator over a class list (see the module docstring)."""

    class_list = Unicode(config=True, help="Path of the class list (username[,password[,role]]).")
    password_store = Unicode(config=True, help="Path of the first-use password hashes (mode 0600).")

    def _checker(self) -> ClassListChecker:
        # Read the list at each login: the instructor may add a late arrival without a restart
        # (their Linux account is made when their server first starts).
        return ClassListChecker(read_class_list(self.class_list), PasswordStore(self.password_store))

    def check_allowed(self, username, authentication=None):
        return username in {p.username for p in read_class_list(self.class_list)}

    async def authenticate(self, handler, data):
        data = data or {}
        name = self._checker().check(data.get("username", ""), data.get("password", ""))
        if name is None:
            self.log.warning("Refused login for %r", data.get("username", ""))
        return name
