"""Secrets made once into var/ when the environment gives none, so a fresh
machine runs production-safe with no set-up: readable by the owner only
(0600), created atomically (two processes starting at once agree on one)."""

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def generated_secret(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as file:
                file.write(make() + "\n")
            os.link(temporary, path)  # fails if another process got there first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
