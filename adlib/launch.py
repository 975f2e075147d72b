"""Binder and Colab launch buttons: the repository setting, and the tree the buttons open.

Jupyter Book puts a Binder and a Colab button on every chapter page. Both open
``book/generated/<chapter>.ipynb`` on the branch named in ``_config.yml``
(``repository.url`` + ``repository.branch`` — the one setting they come from). Those executed
notebooks are build outputs, never committed to main, so the Pages workflow publishes them:

    python -m adlib.launch check https://github.com/OWNER/REPO   # _config.yml names this repository?
    python -m adlib.launch branch                                # the branch to push
    python -m adlib.launch stage DIR                             # tracked files + executed chapters

``stage`` copies every file git tracks plus the executed chapters, each given a first cell
that installs adlib (at the staged commit) when the notebook runs on Colab; Binder builds
the branch itself from ``binder/``. The workflow then pushes DIR as that branch.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATED = Path("book/generated")
GITHUB_URL = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)/?$")
COLAB_CELL_TAG = "colab-install"


class LaunchConfigError(ValueError):
    """_config.yml does not say where the launch buttons should point."""


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the repository the launch buttons open, checked."""
    settings = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    url, branch = str(settings.get("url", "")).rstrip("/"), str(settings.get("branch", ""))
    if not GITHUB_URL.match(url):
        raise LaunchConfigError(
            f"{config}: repository.url is {url!r}; set it to the study's GitHub repository, "
            "https://github.com/OWNER/REPO (Colab opens notebooks from GitHub only)")
    if not branch or branch in {"main", "master"}:
        raise LaunchConfigError(
            f"{config}: repository.branch is {branch!r}; set it to the branch the Pages workflow "
            "publishes the executed chapters to (e.g. 'launch'), not the source branch, which "
            "does not contain them")
    return url, branch


def check(actual_url: str, config: Path = ROOT / "_config.yml") -> None:
    url, _ = repository(config)
    if url.lower() != actual_url.rstrip("/").lower():
        raise LaunchConfigError(
            f"{config}: repository.url is {url} but the book is published from {actual_url}; "
            f"set repository.url to {actual_url} so the Binder/Colab buttons open this repository")


def colab_install_cell(url: str, commit: str) -> nbformat.NotebookNode:
    source = (
        "# On Colab only: install adlib at the commit that produced this notebook\n"
        "# (Binder and a local `make book` already have it).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install --quiet \"adlib @ git+{url}@{commit}\" \"myst-nb>=1.1\""
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": [COLAB_CELL_TAG]})


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(f"`git {' '.join(args)}` failed in {root}: stage needs a git checkout "
                           f"({getattr(error, 'stderr', '') or error})") from error


def stage(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the launch branch's tree into ``out``; returns the staged chapter notebooks."""
    url, _ = repository(root / "_config.yml")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: stage into a new folder")
    commit = _git(root, "rev-parse", "HEAD").strip()
    chapters = sorted(p.stem for p in (root / "notebooks").glob("*.py"))
    missing = [c for c in chapters if not (root / GENERATED / f"{c}.ipynb").exists()]
    if missing:
        raise FileNotFoundError(f"no executed notebook for {missing} in {root / GENERATED}: "
                                "run `make book` before staging the launch branch")
    for name in filter(None, _git(root, "ls-files", "-z").split("\0")):
        # .github/ stays out: the workflow's token may not push workflow files, and the launch
        # branch needs none
        if (root / name).is_file() and not name.startswith(".github/"):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, out / name)
    staged = []
    for chapter in chapters:
        notebook = nbformat.read(root / GENERATED / f"{chapter}.ipynb", as_version=4)
        notebook.cells.insert(0, colab_install_cell(url, commit))
        target = out / GENERATED / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        staged.append(target)
    return staged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adlib.launch", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("branch", help="print the launch branch named in _config.yml")
    check_parser = commands.add_parser("check", help="fail unless _config.yml names this repository")
    check_parser.add_argument("url", help="the repository being published, https://github.com/OWNER/REPO")
    stage_parser = commands.add_parser("stage", help="write the launch branch's tree into DIR")
    stage_parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    try:
        config = Path.cwd() / "_config.yml"
        if args.command == "branch":
            print(repository(config)[1])
        elif args.command == "check":
            check(args.url, config)
        else:
            staged = stage(args.dir, Path.cwd())
            print(f"staged {len(staged)} executed chapters in {args.dir}")
    except (LaunchConfigError, FileExistsError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
