"""Writing the access token to the one file the operator chose, readable by its owner only, and
remembering the application `login` registered, next to it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


def write_private_file(path: Path, content: str) -> None:
    """Create or replace the file with mode 0600, so no other user on the server can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # An existing file keeps its old mode through O_CREAT; make it private explicitly.
        os.fchmod(fd, 0o600)
        os.write(fd, content.encode())
    finally:
        os.close(fd)


def write_token_file(path: Path, token: str) -> None:
    """The token alone, on one line: whoever holds it can post as the campaign."""
    write_private_file(path, token.strip() + "\n")


@dataclass(frozen=True)
class RegisteredApp:
    """The application `login` registered on an instance: a code the owner got from the
    authorization page only works with this client id and secret, so a later `login --code`
    must use the same ones, not register another application."""

    instance: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    state: str


def app_file_for(token_file: Path) -> Path:
    return token_file.with_name(token_file.name + ".app.json")


def load_app(token_file: Path, instance: str, scopes: tuple[str, ...]) -> RegisteredApp | None:
    """The app registered earlier for this instance and these scopes, if any."""
    try:
        data = json.loads(app_file_for(token_file).read_text(encoding="utf-8"))
        app = RegisteredApp(
            instance=str(data["instance"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            scopes=tuple(str(s) for s in data["scopes"]),
            state=str(data["state"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if app.instance != instance or app.scopes != scopes:
        return None
    return app


def save_app(token_file: Path, app: RegisteredApp) -> None:
    record = asdict(app)
    record["scopes"] = list(app.scopes)
    write_private_file(app_file_for(token_file), json.dumps(record, indent=2) + "\n")
