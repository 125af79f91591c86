"""Writing the access token to the one file the operator chose, readable by its owner only."""

from __future__ import annotations

import os
from pathlib import Path


def write_token_file(path: Path, token: str) -> None:
    """Create or replace the file with mode 0600, so no other user on the server can read the
    token: whoever holds it can post as the campaign."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # An existing file keeps its old mode through O_CREAT; make it private explicitly.
        os.fchmod(fd, 0o600)
        os.write(fd, (token.strip() + "\n").encode())
    finally:
        os.close(fd)
