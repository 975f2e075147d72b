"""A fingerprint of a real-data folder: the names, sizes and modification times of every
visible file under it (hidden ones skipped, as every loader does). It decides whether the
chapters re-run when the data changed under the same path (make's run config) and is recorded
in each chapter's provenance.

    python -m adlib.fingerprint FOLDER     # prints it; nothing for no folder

Standard library only: make calls it before the project's environment exists.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def fingerprint(root: str | os.PathLike | None) -> str:
    """sha256 (16 hex digits) of every visible file's relative path, size and mtime; "" for no
    folder. Reading only the directory entries keeps it fast (thousands of files: milliseconds)."""
    if not root or not Path(root).is_dir():
        return ""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(f for f in files if not f.startswith(".")):
            stat = os.stat(os.path.join(folder, name))
            relative = os.path.relpath(os.path.join(folder, name), root)
            digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(fingerprint(sys.argv[1] if len(sys.argv) > 1 else None))
