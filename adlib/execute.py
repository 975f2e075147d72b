"""Execute one chapter notebook: jupytext source → papermill with a profile's parameters.

    python -m adlib.execute schneider_cae_vae_aae --profile quick --out book/generated

The executed notebook (outputs and widget state) is written atomically to
``<out>/<name>.ipynb``; a failed run leaves the previous good notebook untouched, writes
the partial one to ``<out>/<name>.failed.ipynb`` for inspection, and exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

from papermill.translators import PythonTranslator

from adlib.params import PROFILES
from adlib.runtime import atomic_write_bytes

ROOT = Path(__file__).resolve().parent.parent
# Profiles whose results.json (small, no notebook) is also kept with the code, committed, so
# the book can show them on machines that cannot re-run them (the paper profile needs a GPU).
KEPT = {"paper": ROOT / "results" / "paper"}


def load_params(name: str, profile: str, notebooks: Path) -> dict:
    path = notebooks / "params" / profile / f"{name}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no parameter file {path}: every chapter needs one per profile "
                                f"({', '.join(PROFILES)})")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}; fix the line it names") from None
    if not isinstance(params, dict):
        raise ValueError(f"{path} must hold a mapping of parameter names to values")
    return params


def notebook_defaults(name: str, notebooks: Path = ROOT / "notebooks") -> dict:
    """The values a chapter's ``parameters`` cell assigns (the cell is plain assignments)."""
    return _defaults(jupytext.read(notebooks / f"{name}.py"), name)


def _defaults(notebook, name: str) -> dict:
    """The parameters cell's values, each of which papermill must see: it infers parameters one
    ``name = value`` line at a time (papermill --help-notebook, its unknown-parameter warning),
    so a tuple assignment such as ``a, b = 1, 2`` would hide ``a`` and ``b`` from it."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    defaults: dict = {}
    exec(cell.source, {}, defaults)
    seen = {parameter.name for parameter in PythonTranslator.inspect(cell)}
    hidden = sorted(set(defaults) - seen)
    if hidden:
        raise ValueError(f"notebooks/{name}.py: the parameters cell assigns {hidden} in a form papermill cannot "
                         f"see; write one `name = value` a line")
    return defaults


def merged_parameters(name: str, profile: str, notebooks: Path = ROOT / "notebooks", extra: dict | None = None,
                      defaults: dict | None = None) -> dict:
    """Every value a chapter runs with under ``profile`` (what :func:`execute` gives papermill):
    the parameters cell's ``defaults``, the profile's file on top (a name the chapter does not
    have is an error), then ``extra``, the profile's name, and ``ADLIB_DATA`` as ``data_root``
    unless the file or ``extra`` sets it."""
    defaults = notebook_defaults(name, notebooks) if defaults is None else defaults
    changed = {**_known_params(name, profile, notebooks, defaults), **(extra or {}), "profile": profile}
    if os.environ.get("ADLIB_DATA") and "data_root" not in changed:
        changed["data_root"] = os.environ["ADLIB_DATA"]
    return {**defaults, **changed}


def _known_params(name: str, profile: str, notebooks: Path, defaults: dict) -> dict:
    """The profile's parameter file, refused when it sets a name the chapter does not have."""
    values = load_params(name, profile, notebooks)
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"notebooks/params/{profile}/{name}.yaml: unknown parameter(s) "
                         f"{', '.join(map(repr, unknown))}; valid parameters: {', '.join(sorted(defaults))}")
    return values


HIDDEN_PARAMETERS = ("results_dir",)      # the run's temporary folder: no meaning to a reader


def _shown_value(key: str, value) -> str:
    if key == "data_root":          # a path on the build machine: say where it came from instead
        return "`ADLIB_DATA` (real data)" if value else "none (embedded data only)"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "(empty)"
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def present_parameters(path: Path, name: str, profile: str, params: dict, defaults: dict,
                       results_file: bool = False) -> None:
    """On the rendered page, the two parameter cells (the chapter's defaults and papermill's
    injected values) give way to one table of the values this build used, marking those the
    profile changed; the cells stay in the notebook (tagged ``remove-cell``) so it re-runs.
    ``params``: every value the run used (:func:`merged_parameters`), ``defaults`` the cell's.
    With ``results_file``, a link to download the run's results.json (published beside it)."""
    notebook = nbformat.read(path, as_version=4)
    index = 0
    for i, cell in enumerate(notebook.cells):
        tags = cell.metadata.setdefault("tags", [])
        if {"parameters", "injected-parameters"} & set(tags):
            tags.append("remove-cell")
            index = i + 1
    rows = [f"| `{key}` | {_shown_value(key, value)} | "
            + (f"{_shown_value(key, defaults[key])} → {_shown_value(key, value)}" if key in defaults
               and value != defaults[key] and key not in ("profile", "data_root") else "") + " |"
            for key, value in params.items() if key not in HIDDEN_PARAMETERS]
    table = "\n".join(["```{admonition} Parameters of this build", ":class: dropdown", "",
                        f"The `{profile}` profile: the chapter's defaults, changed by "
                        f"`notebooks/params/{profile}/{name}.yaml` where the last column says so.", "",
                        "| parameter | value | changed from the default |", "| --- | --- | --- |", *rows, "```"])
    if results_file:
        table += (f"\n\nThis run's numbers, model health checks and provenance (commit, versions, device, "
                  f"wall times, data checksums): {{download}}`{name}.results.json <{name}.results.json>`.")
    notebook.cells.insert(index, nbformat.v4.new_markdown_cell(table, metadata={"tags": ["parameters-table"]}))
    nbformat.write(notebook, path)


def execute(name: str, profile: str, out: Path, notebooks: Path = ROOT / "notebooks",
            extra: dict | None = None) -> Path:
    source = notebooks / f"{name}.py"
    if not source.exists():
        chapters = ", ".join(sorted(p.stem for p in notebooks.glob("*.py")))
        raise FileNotFoundError(f"no chapter source {source}; the chapters are: {chapters}")
    chapter = jupytext.read(source)
    defaults = _defaults(chapter, name)
    params = merged_parameters(name, profile, notebooks, extra, defaults)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f".{name}.run-*"):        # left by a run that was killed (SIGKILL)
        shutil.rmtree(stale, ignore_errors=True)
    # The notebook and its results.json are written into one hidden temporary folder and
    # published together at the end: a run that dies never leaves one without the other.
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{name}.run-") as tmp:
        params["results_dir"] = tmp
        unexecuted = Path(tmp) / f"{name}.unexecuted.ipynb"
        executed = Path(tmp) / f"{name}.ipynb"
        nbformat.write(chapter, unexecuted)
        start = time.perf_counter()
        # the kernel inherits these (restored afterwards, for a caller that goes on): no tqdm
        # widgets stored in the executed notebook, the terminal gets papermill's cell-by-cell
        # progress bar instead; and the run records how long the kernel took to start
        kernel_env = {"ADLIB_PROGRESS": "0", "ADLIB_EXECUTE_STARTED": repr(time.time())}
        saved = {key: os.environ.get(key) for key in kernel_env}
        os.environ.update(kernel_env)
        try:
            papermill.execute_notebook(str(unexecuted), str(executed), parameters=params,
                                       kernel_name="python3", progress_bar=sys.stderr.isatty(),
                                       cwd=str(ROOT), request_save_on_cell_execute=False)
        except papermill.PapermillExecutionError as err:
            if executed.exists():
                os.replace(executed, out / f"{name}.failed.ipynb")
            raise SystemExit(f"chapter {name} failed under profile {profile!r} "
                             f"(partial notebook: {out / (name + '.failed.ipynb')}):\n"
                             f"{err.ename}: {err.evalue}") from None
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        present_parameters(executed, name, profile, params, defaults,
                           results_file=(Path(tmp) / f"{name}.results.json").exists())
        target = out / f"{name}.ipynb"
        results = out / f"{name}.results.json"
        # results first, the notebook (make's target) last: killed in between, the old
        # notebook is older than its sources and make re-runs the chapter
        if (Path(tmp) / results.name).exists():
            os.replace(Path(tmp) / results.name, results)
        os.chmod(executed, 0o644)
        os.replace(executed, target)           # atomic: same file system
    (out / f"{name}.failed.ipynb").unlink(missing_ok=True)
    if profile in KEPT and results.exists():
        kept = atomic_write_bytes(KEPT[profile] / results.name, results.read_bytes())
        print(f"kept {kept} (commit it: the book shows it beside the quick profile's numbers)")
    print(f"executed {name} ({profile}) in {time.perf_counter() - start:.1f} s -> {target}")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="chapter, e.g. schneider_cae_vae_aae")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "generated")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    args = parser.parse_args(argv)
    try:
        execute(args.name, args.profile, args.out, args.notebooks)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
