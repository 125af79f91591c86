"""The posts folder listed in one walk: the post files to read, and a signature (path, time and
size of every file, media too) that changes whenever anything under the folder does.

Loading reads the post files of a listing; the running bot and `calendar --serve` compare
signatures to tell when to load again. A listing the watch has just made serves the reload it
triggers, so the folder is not walked a second time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POST_FILE_SUFFIXES = (".yaml", ".yml")

# (path, modification time in ns, size) of each file, in walking order.
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Listing:
    post_files: tuple[Path, ...] = ()
    signature: Signature = ()


def is_post_file(name: str) -> bool:
    return name.lower().endswith(POST_FILE_SUFFIXES) and not name.startswith(".")


def list_folder(top: Path) -> Listing:
    """Every file under `top` in a stable order (a folder's own files by name, then its folders
    by name), hidden folders left out; hidden files count in the signature but are not post
    files. A file that vanishes while it is listed, or a folder that cannot be read, is left out."""
    post_files: list[Path] = []
    signature: list[tuple[str, int, int]] = []
    for entry in _files(str(top)):
        if is_post_file(entry.name):
            post_files.append(Path(entry.path))
        try:
            info = entry.stat()
        except OSError:
            continue
        signature.append((entry.path, info.st_mtime_ns, info.st_size))
    return Listing(tuple(post_files), tuple(signature))


def _files(folder: str) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError:
        return
    folders = []
    for entry in entries:
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if not is_folder:
            yield entry
        elif not entry.name.startswith(".") and not entry.is_symlink():
            folders.append(entry)
    for entry in folders:
        yield from _files(entry.path)
