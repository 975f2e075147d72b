"""One format per kind of column, in every chapter's tables (adlib.tables)."""
import math

import pandas as pd

from adlib import health, tables


def cells(style) -> dict[str, list[str]]:
    """Column header → the printed cells, read back from the Styler's own rendering context."""
    ctx = style._translate(False, False)
    heads = [c["display_value"] for c in ctx["head"][0] if c.get("type") == "th" and "col_heading" in c["class"]]
    rows = [[c["display_value"] for c in row if c.get("type") == "td"] for row in ctx["body"]]
    return {h: [r[i] for r in rows] for i, h in enumerate(heads)}


def test_numbers_never_hide_a_tiny_value_or_print_minus_zero():
    assert [tables.number(v) for v in (8e-08, -0.0, -0.0001, 0.7123, None, math.nan, 3, "x")] == \
        ["8.0e-08", "0.000", "-1.0e-04", "0.712", "–", "–", "3", "x"]
    assert tables.number(-0.04, 1) == "-4.0e-02" and tables.number(-0.06, 1) == "-0.1"
    assert [tables.signed(v) for v in (-0.0341, 0.0123, 0.0, math.nan)] == ["−0.034", "+0.012", "±0.000", "–"]


def test_each_kind_of_column_gets_its_format():
    frame = pd.DataFrame({"method": ["a", "b"], "image_auroc": [0.4, 0.9], "aupro": [0.28, math.nan],
                          "image_ap": [0.31, 0.9], "Δ mean": [-0.03, 0.01], "time s (paper)": [1227.0, math.nan],
                          "spread_ratio": [8e-08, 0.5], "seed": [0, 1]})
    printed = cells(tables.styled(frame))
    assert printed["image AUROC"] == ["0.400 (inverted; 1 − AUROC = 0.600)", "0.900"]
    # only an AUROC is labelled inverted: an AP or AUPRO below 0.5 is just low
    assert printed["AUPRO (FPR ≤ 0.3)"] == ["0.280", "–"] and printed["image AP"] == ["0.310", "0.900"]
    assert printed["Δ mean"] == ["−0.030", "+0.010"]
    assert printed["time s (paper)"] == ["1227", "–"]
    assert printed["output ÷ input spread"] == ["8.0e-08", "0.500"]
    assert printed["seed"] == ["0", "1"]


def test_a_table_in_percent_has_one_decimal_and_keeps_whole_scores_as_scores():
    frame = pd.DataFrame({"AUC": [50.0, 100.0], "AP": [56.71, 88.8], "n (p = 1)": [2.0, math.nan], "Δ AUC": [-3.04, 0.0]})
    printed = cells(tables.styled(frame, percent=True))
    assert printed == {"AUC": ["50.0", "100.0"], "AP": ["56.7", "88.8"], "n (p = 1)": ["2", "–"],
                       "Δ AUC": ["−3.0", "±0.0"]}


def test_health_tables_use_the_shared_formats():
    collapsed = health.assess({"steps": 10, "mse": 1.0, "mean_image_mse": 1.0, "error_ratio": 1.0, "spread_ratio": 8e-08})
    html = health.styled_table([collapsed.record(dataset="d", model="m", seed=0)]).to_html()
    assert "8.0e-08" in html and "0.000000" not in html and "spread_ratio" not in html


def test_a_transposed_frame_of_records_is_formatted_by_its_values():
    records = {"gravel": {"kind": "stochastic", "patch_auroc": 0.34375, "patch_ap": 0.36764743710417375, "normal_patches": 32}}
    printed = cells(tables.styled(pd.DataFrame(records).T.rename_axis("texture").reset_index()))
    assert printed["patch AUROC"] == ["0.344 (inverted; 1 − AUROC = 0.656)"]
    assert printed["patch AP"] == ["0.368"] and printed["normal patches"] == ["32"]
