"""Binder/Colab launch buttons: one repository setting, and every button opens a file that the
published launch branch really contains."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from adlib.launch import COLAB_CELL_TAG, LaunchConfigError, check, repository
from conftest import CHAPTERS, ROOT


def write_config(path: Path, **settings) -> Path:
    path.write_text(yaml.safe_dump({"title": "t", "repository": settings}))
    return path


def test_repository_setting_is_read_and_checked(tmp_path):
    config = write_config(tmp_path / "_config.yml", url="https://github.com/org/repo/", branch="launch")
    assert repository(config) == ("https://github.com/org/repo", "launch")
    check("https://github.com/Org/Repo", config)  # GitHub names are case-insensitive
    with pytest.raises(LaunchConfigError, match="set repository.url to https://github.com/org/other"):
        check("https://github.com/org/other", config)


@pytest.mark.parametrize("settings, message", [
    ({"url": "", "branch": "launch"}, "https://github.com/OWNER/REPO"),
    ({"url": "https://gitlab.com/org/repo", "branch": "launch"}, "Colab opens notebooks from GitHub only"),
    ({"url": "https://github.com/org/repo", "branch": "main"}, "not the source branch"),
    ({"url": "https://github.com/org/repo"}, "repository.branch is ''"),
])
def test_bad_repository_setting_names_the_fix(tmp_path, settings, message):
    with pytest.raises(LaunchConfigError, match=re.escape(message)):
        repository(write_config(tmp_path / "_config.yml", **settings))


def test_project_config_is_valid():
    url, branch = repository(ROOT / "_config.yml")
    settings = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert settings["launch_buttons"]["binderhub_url"] and settings["launch_buttons"]["colab_url"]
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "binder/postBuild must be executable"


@pytest.fixture(scope="module")
def launch_tree(built, tmp_path_factory):
    """Stage the launch branch from the smoke-built copy, as the Pages workflow does."""
    repo, _ = built
    git_env = {**os.environ, "GIT_DIR": str(tmp_path_factory.mktemp("git") / ".git"),
               "GIT_WORK_TREE": str(repo), "PYTHONPATH": str(repo)}
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "source"]):
        subprocess.run(["git", *command], cwd=repo, env=git_env, check=True)
    out = tmp_path_factory.mktemp("launch")
    staged = subprocess.run([sys.executable, "-m", "adlib.launch", "stage", str(out)], cwd=repo,
                            env=git_env, capture_output=True, text=True)
    assert staged.returncode == 0, staged.stderr
    return repo, out


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_launch_buttons_open_files_the_launch_branch_contains(launch_tree, chapter):
    repo, tree = launch_tree
    url, branch = repository(repo / "_config.yml")
    org_repo = url.removeprefix("https://github.com/")
    page = (repo / "_build" / "html" / "book" / "generated" / f"{chapter}.html").read_text()
    binder = re.findall(rf'href="https://mybinder.org/v2/gh/{org_repo}/{branch}\?urlpath=lab/tree/([^"]+)"', page)
    colab = re.findall(rf'href="https://colab.research.google.com/github/{org_repo}/blob/{branch}/([^"]+)"', page)
    assert binder and colab, f"{chapter}: no Binder/Colab button for {url}@{branch}"
    for path in binder + colab:
        assert (tree / path).is_file(), f"{chapter}: a launch button opens {path}, not on the launch branch"
    # The notebook opened is the executed chapter, with the Colab install cell first.
    notebook = nbformat.read(tree / colab[0], as_version=4)
    first = notebook.cells[0]
    assert COLAB_CELL_TAG in first.metadata["tags"] and f"git+{url}@" in first.source
    assert any(cell.get("outputs") for cell in notebook.cells), "the launch notebook must be executed"
    # Outside Colab the install cell does nothing (and is valid IPython).
    exec(TransformerManager().transform_cell(first.source), {})
    # Binder builds the branch from binder/ and installs the package from its tree.
    assert (tree / "binder" / "requirements.txt").is_file() and (tree / "pyproject.toml").is_file()
    assert not (tree / ".github").exists(), "GITHUB_TOKEN may not push workflow files"
