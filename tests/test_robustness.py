"""Bad inputs and data layouts found by trying the book as a user would (issue 17): each case
fails fast with one message naming the file or folder and the fix, or follows a documented
rule. One row per case, so each stays fixed."""

import contextlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adlib import benchmark
from adlib import params as P
from adlib.data import folders, oneclass

ROOT = Path(__file__).resolve().parent.parent


def _image(path: Path, value: int = 120, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def _category(root: Path, *, defects: bool = True) -> Path:
    for i in range(4):
        _image(root / "train" / "good" / f"{i}.png")
        _image(root / "test" / "good" / f"{i}.png")
        if defects:
            _image(root / "test" / "crack" / f"{i}.png", 250)
            mask = np.zeros((32, 32), np.uint8)
            mask[4:12, 4:12] = 255
            (root / "ground_truth" / "crack").mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(root / "ground_truth" / "crack" / f"{i}_mask.png")
    return root


@pytest.mark.parametrize("profile", ["fast", "Quick", "papers"])
def test_make_refuses_an_unknown_profile_listing_the_profiles(profile):
    result = subprocess.run(["make", "-n", "book", f"PROFILE={profile}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"PROFILE={profile} is not a profile" in result.stderr and "quick real smoke" in result.stderr


def test_hidden_folders_and_files_are_not_data(tmp_path):
    cat = _category(tmp_path / "widget")
    _image(cat / "test" / ".ipynb_checkpoints" / "0.png")            # Jupyter makes these on its own
    _image(cat / "train" / "good" / ".0-checkpoint.png", 250)
    _category(tmp_path / ".ipynb_checkpoints")                       # not a category either
    assert folders.find_mvtec_categories(tmp_path) == [cat]
    loaded = folders.load_mvtec_category(cat, size=32)
    assert set(loaded.defect_types) == {"good", "crack"} and len(loaded.train) == 4
    assert int(loaded.labels.sum()) == 4                              # the hidden good image is not a defect


def test_hidden_folders_are_no_class_of_an_image_folder(tmp_path):
    for split in ("train", "test"):
        for cls in ("a", "b", ".ipynb_checkpoints"):
            for i in range(2):
                _image(tmp_path / split / cls / f"{i}.png", 60 if cls == "a" else 200)
        _image(tmp_path / split / "a" / ".ipynb_checkpoints" / "x.png")
    data = oneclass.image_folder(tmp_path, size=8)
    assert data.classes == ["a", "b"] and len(data.train_x) == 4


@pytest.mark.parametrize("layout, message", [
    ("empty", "holds no MVTec-layout category"),
    ("no defects", "has both good and defective test images"),
])
def test_the_benchmark_refuses_unusable_real_data(tmp_path, layout, message):
    if layout == "no defects":
        _category(tmp_path / "widget", defects=False)
    with pytest.warns(UserWarning) if layout == "no defects" else contextlib.nullcontext():
        with pytest.raises(folders.DataLayoutError, match=message) as err:
            benchmark.folder_sets(tmp_path, 32, 4, 4)
    assert str(tmp_path) in str(err.value) and "ADLIB_DATA" in str(err.value)


@pytest.mark.parametrize("spec, value, message", [
    (P.number(0.0, 1.0), "1e-3", "is text, not a number: YAML reads 1e-3 as a string"),
    (P.number(0.0, 1.0), float("nan"), "is not a finite number"),
    (P.number(), float("inf"), "is not a finite number"),
    (P.choices_list("CAE", "VAE", nonempty=True), [], "is an empty list: expected non-empty list of items"),
    (P.Spec((list, tuple), optional=True, nonempty=True), [], "is an empty list"),
])
def test_parameter_values_that_used_to_pass_or_mislead(spec, value, message):
    with pytest.raises(P.ParameterError, match=message):
        spec.validate("x", value)


@pytest.mark.parametrize("module, name", [("schneider", "models"), ("zhu", "datasets"), ("zhu", "classes"),
                                          ("soukup", "lambdas")])
def test_lists_a_chapter_cannot_run_without_must_not_be_empty(module, name):
    import importlib

    paper = importlib.import_module(f"adlib.papers.{module}")
    specs = paper.parameter_specs() if hasattr(paper, "parameter_specs") else paper.PARAMETERS
    with pytest.raises(P.ParameterError, match="empty list"):
        specs[name].validate(name, [])


def test_a_category_without_good_test_images_fails_before_training(tmp_path):
    from adlib.papers import schneider

    cat = _category(tmp_path / "widget")
    for path in (cat / "test" / "good").iterdir():
        path.unlink()
    (cat / "test" / "good").rmdir()
    with pytest.raises(folders.DataLayoutError, match="test/good"):
        schneider.run_real(cat, image_size=32, patch=16, iterations=10**9, batch_size=2, lr=1e-3, seed=0,
                           device="cpu")       # a billion steps: it must fail before training


def test_an_oversized_image_names_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)        # 32×32 is now "a decompression bomb"
    _image(tmp_path / "big.png")
    with pytest.raises(ValueError, match="big.png"):
        folders.read_image(tmp_path / "big.png")


def test_a_failed_offline_load_leaves_no_empty_folder_behind(tmp_path, monkeypatch):
    import torchvision

    def offline(self):            # what torchvision does offline: make MNIST/raw, then fail
        Path(self.raw_folder).mkdir(parents=True, exist_ok=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(oneclass.DataLayoutError, match="cannot load torchvision MNIST"):
        oneclass.torchvision_set("MNIST", tmp_path, download=True)
    assert not (tmp_path / "MNIST").exists()


def test_execute_names_the_bad_yaml_file_and_the_chapters(tmp_path):
    from adlib import execute

    (tmp_path / "params" / "quick").mkdir(parents=True)
    (tmp_path / "params" / "quick" / "demo.yaml").write_text("lr: [1e-3\n")
    with pytest.raises(ValueError, match="demo.yaml is not valid YAML"):
        execute.load_params("demo", "quick", tmp_path)
    with pytest.raises(FileNotFoundError, match="the chapters are: .*saeedi_cpcae_knn"):
        execute.execute("saeedi", "quick", tmp_path / "out")


def test_results_are_world_readable(tmp_path):
    from adlib import runtime

    path = runtime.atomic_write_json(tmp_path / "r.json", {"a": 1})
    assert path.stat().st_mode & 0o044 == 0o044


DEMO = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "smoke"
results_dir = "."
fail = False

# %%
import json, pathlib
pathlib.Path(results_dir, "demo.results.json").write_text(json.dumps({"fail": fail}))
assert not fail, "asked to fail"
'''


@pytest.mark.slow
def test_a_chapter_and_its_results_are_published_together(tmp_path):
    from adlib import execute

    notebooks, out = tmp_path / "notebooks", tmp_path / "out"
    (notebooks / "params" / "smoke").mkdir(parents=True)
    (notebooks / "demo.py").write_text(DEMO)
    (notebooks / "params" / "smoke" / "demo.yaml").write_text("fail: false\n")
    (out / ".demo.run-killed").mkdir(parents=True)                # what a SIGKILL leaves
    execute.execute("demo", "smoke", out, notebooks)
    assert sorted(p.name for p in out.iterdir()) == ["demo.ipynb", "demo.results.json"]
    # the page shows one table of the values used, not the two parameter cells nor the temp folder
    cells = json.loads((out / "demo.ipynb").read_text())["cells"]
    assert [c["metadata"]["tags"] for c in cells[:3]] == [["parameters", "remove-cell"],
                                                          ["injected-parameters", "remove-cell"], ["parameters-table"]]
    table = "".join(cells[2]["source"])
    assert "| `fail` | False |  |" in table and "results_dir" not in table and str(out) not in table
    assert "{download}`demo.results.json <demo.results.json>`" in table
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in out.iterdir())
    (notebooks / "params" / "smoke" / "demo.yaml").write_text("fail: true\n")
    with pytest.raises(SystemExit, match="asked to fail"):
        execute.execute("demo", "smoke", out, notebooks)
    # the good pair stays, the failed run's results.json is never published
    assert json.loads((out / "demo.results.json").read_text()) == {"fail": False}
    assert sorted(p.name for p in out.iterdir()) == ["demo.failed.ipynb", "demo.ipynb", "demo.results.json"]


def test_a_change_inside_the_data_folder_re_executes_the_chapters(tmp_path):
    from adlib.fingerprint import fingerprint

    data = _category(tmp_path / "data" / "widget").parent
    gen = tmp_path / "gen"

    def run_config() -> str:
        subprocess.run(["make", f"GEN={gen}", f"{gen}/.run-config", f"ADLIB_DATA={data}"], cwd=ROOT,
                       check=True, capture_output=True)
        return (gen / ".run-config").read_text()

    first = run_config()
    assert fingerprint(data) in first and run_config() == first           # unchanged: not rewritten
    _image(data / "widget" / "train" / "good" / "new.png")                  # a new training image
    second = run_config()
    assert second != first
    (data / "widget" / "train" / "good" / "0.png").unlink()                 # a deleted one
    assert run_config() not in (first, second)
    before = fingerprint(data)
    _image(data / "widget" / ".ipynb_checkpoints" / "x.png")                # hidden: not data
    assert fingerprint(data) == before == run_config().split("data=")[1].strip()


def test_a_second_build_in_the_same_folder_stops_naming_the_lock(tmp_path):
    """Two builds at once (e.g. with different ADLIB_DATA) would interleave .run-config and the
    chapters; the second one stops at once instead."""
    import fcntl

    gen = tmp_path / "gen"
    gen.mkdir()

    def dry_run() -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-n", "book", f"GEN={gen}"], cwd=ROOT, capture_output=True, text=True)

    assert dry_run().returncode == 0
    with open(gen / ".build.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)                                     # a build in progress
        second = dry_run()
    assert second.returncode != 0
    assert f"another build holds {gen}/.build.lock" in second.stderr and "wait for it" in second.stderr
    assert dry_run().returncode == 0                                         # free again


def test_a_dataset_given_by_path_is_summarised_under_the_name_it_was_asked_by(tmp_path):
    """Zhu's chapter on the user's own ImageFolder tree: the summary is keyed by the requested
    name (``imagefolder:pets``) and holds every method's mean of the records, never an empty table."""
    from adlib.papers import zhu, zhu_results
    from test_zhu import tiny_settings

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, cls in enumerate(("cat", "dog")):
            for i in range(6 if split == "train" else 4):
                _image(tmp_path / "pets" / split / cls / f"{i}.png", int(60 + 120 * k + rng.integers(0, 20)), size=12)
    name = "imagefolder:pets"
    loaded = zhu.load_datasets([name], str(tmp_path), classes=None)
    ds, classes = loaded[name]
    assert ds.name == name and classes == [0, 1]
    methods = ["CAE", "PCA"]
    runs = {name: zhu.run_one_class(ds, classes, [0], methods, tiny_settings(), "cpu", figure_images=1)}
    summary = zhu_results.summarise(runs)
    records = zhu.records(runs)
    assert set(summary) == {name} and set(summary[name]) == set(methods)
    for method in methods:
        mean = 100 * records[records.method == method]["auroc"].mean()
        assert summary[name][method]["mean"] == pytest.approx(mean, abs=1e-3)


def test_records_under_another_name_than_their_key_fail_naming_both(tmp_path):
    from adlib.papers import zhu, zhu_results
    from test_zhu import tiny_set, tiny_settings

    ds = tiny_set(classes=2, name="pets")
    run = zhu.run_one_class(ds, [0], [0], ["PCA"], tiny_settings(), "cpu", figure_images=1)
    with pytest.raises(ValueError, match=r"dataset 'imagefolder:pets'.*\['pets'\]"):
        zhu_results.summarise({"imagefolder:pets": run})
