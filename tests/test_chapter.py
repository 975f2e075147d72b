import pytest

from adlib import chapter
from adlib import params as P


def test_setup_validates_and_opens_a_run(tmp_path):
    before = set(globals())
    namespace = {"profile": "smoke", "seed": 1, "device": "cpu", "deterministic": False, "data_root": None,
                 "results_dir": str(tmp_path), "iterations": 5}
    ch = chapter.setup("demo_chapter", namespace, before, {"iterations": P.integer(1, 10)})
    assert ch.params["iterations"] == 5 and str(ch.device) == "cpu" and ch.prefix == "dem"
    assert ch.run.save().name == "demo_chapter.results.json"
    with pytest.raises(P.ParameterError, match="unknown parameter.*iteration'.*valid parameters"):
        chapter.setup("demo_chapter", {**namespace, "iteration": 3}, before, {"iterations": P.integer(1, 10)})
    with pytest.raises(P.ParameterError, match="out of range"):
        chapter.setup("demo_chapter", {**namespace, "iterations": 50}, before, {"iterations": P.integer(1, 10)})
