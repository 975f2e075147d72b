import pytest

from adlib import params as P

SPECS = {"iterations": P.integer(1, 100), "lr": P.number(1e-6, 1.0),
         "models": P.choices_list("CAE", "VAE")}


def namespace(**overrides):
    values = {"profile": "smoke", "seed": 0, "device": "auto", "deterministic": False, "data_root": None,
              "results_dir": "out", "iterations": 5, "lr": 1e-3, "models": ["CAE"]}
    values.update(overrides)
    return values


def test_valid_parameters_pass_and_ints_become_floats():
    checked = P.check(namespace(lr=1), set(), SPECS)
    assert checked["lr"] == 1.0 and isinstance(checked["lr"], float)
    assert checked["iterations"] == 5


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(P.ParameterError) as err:
        P.check(namespace(iteration=5), set(), SPECS)
    message = str(err.value)
    assert "'iteration'" in message and "valid parameters" in message and "iterations" in message


@pytest.mark.parametrize("override", [{"iterations": 0}, {"iterations": 101}, {"lr": 2.0},
                                      {"models": ["GAN"]}, {"profile": "fast"}, {"seed": -1},
                                      {"iterations": True}, {"iterations": "5"}])
def test_out_of_range_or_wrong_type_fails(override):
    with pytest.raises(P.ParameterError, match="valid parameters"):
        P.check(namespace(**override), set(), SPECS)


def test_names_defined_before_the_parameters_cell_are_ignored():
    before = {"numpy_thing"}
    checked = P.check({**namespace(), "numpy_thing": 3}, before, SPECS)
    assert "numpy_thing" not in checked


def test_missing_parameter_is_reported():
    values = namespace()
    del values["lr"]
    with pytest.raises(P.ParameterError, match="does not define 'lr'"):
        P.check(values, set(), SPECS)


def test_data_root_must_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("ADLIB_DATA", raising=False)
    assert P.resolve_data_root(None) is None
    assert P.resolve_data_root(str(tmp_path)) == str(tmp_path)
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="ADLIB_DATA"):
        P.resolve_data_root(None)


def test_the_real_profile_refuses_to_run_without_real_data(tmp_path, monkeypatch):
    monkeypatch.delenv("ADLIB_DATA", raising=False)
    with pytest.raises(P.ParameterError, match="profile 'real' needs real data: set ADLIB_DATA"):
        P.resolve_data_root(None, "real")
    assert P.resolve_data_root(str(tmp_path), "real") == str(tmp_path)
    assert P.resolve_data_root(None, "quick") is None
