"""Shared fixtures. `built` runs `make book PROFILE=smoke` once per session in a copy of the
repository (every chapter executed, the site built with -W); several test modules use it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Tests run on the CPU with few threads: results must not depend on a GPU being present.
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))


def copy_repository(target: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # The copy uses this test's virtual environment: make its install stamp look current so
    # `make` does not reinstall (which would repoint the editable adlib at the copy).
    stamp = VENV / ".adlib-installed"
    if stamp.exists():
        os.utime(target / "pyproject.toml", (stamp.stat().st_mtime - 1,) * 2)
    return target


def make(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "ADLIB_DATA"}
    environment.update(PYTHONPATH=str(repo), **env)
    return subprocess.run(["make", "--no-print-directory", "book", "PROFILE=smoke", f"VENV={VENV}", *args],
                          cwd=repo, env=environment, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    repo = copy_repository(tmp_path_factory.mktemp("repo"))
    first = make(repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return repo, first


