import pandas as pd

import pytest

from adlib import references


def test_comparison_table_puts_paper_difference_on_our_rows_and_our_best_on_theirs():
    records = [{"category": "bottle", "method": "A", "image_auroc": 0.9, "image_ap": 0.95, "f1_max": 0.8,
                "pixel_auroc": 0.7, "aupro": float("nan"), "health": "healthy", "published": 0.95},
               {"category": "bottle", "method": "B", "image_auroc": 0.6, "health": "collapsed"},
               {"category": "bottle", "method": "C", "image_auroc": 0.99, "health": "under-trained"},
               {"category": "other", "method": "A", "image_auroc": 0.1}]
    table = references.comparison_table(records, "bottle").set_index("method")
    assert list(table.index[:3]) == ["A", "B", "C"] and "other" not in table.index
    assert table.loc["A", "Δ vs paper"] == pytest.approx(-0.05)
    assert pd.isna(table.loc["A", "AUPRO"]) and table.loc["B", "health"] == "collapsed"
    # the best of our usable rows (0.9; B at 0.6 collapsed, C at 0.99 under-trained) against each reference
    assert table.loc["GANomaly", "our best − this"] == pytest.approx(0.9 - 0.251)
    assert table.loc["PatchCore (Wide ResNet-50)", "pixel AUROC"] == pytest.approx(0.984)
    assert table.loc["PatchCore (Wide ResNet-50)", "source"].startswith("quoted") and "measured − quoted" not in table


def test_measured_rows_of_the_fields_methods_stand_beside_the_quoted_ones():
    records = [{"category": "bottle", "method": "A", "image_auroc": 0.9, "health": "healthy"},
               {"category": "bottle", "method": "PatchCore", "image_auroc": 0.99, "health": "not trained",
                "source": references.MEASURED},
               {"category": "bottle", "method": "PaDiM", "image_auroc": 0.97, "health": "collapsed",
                "source": references.MEASURED}]
    table = references.comparison_table(records, "bottle").set_index("method")
    assert table.loc["PatchCore", "source"] == references.MEASURED and table.loc["A", "source"] == "this run"
    # our best counts the chapter's own methods only; measured − quoted pairs PatchCore with PatchCore
    assert table.loc["GANomaly", "our best − this"] == pytest.approx(0.9 - 0.251)
    assert table.loc["PatchCore (ResNet-18)", "measured − quoted"] == pytest.approx(0.99 - 1.000)
    assert pd.isna(table.loc["PaDiM (ResNet-18)", "measured − quoted"])          # a collapsed model backs none


def test_categories_without_outside_numbers_get_none():
    assert references.outside_rows("magnetic_tile") == []
    table = references.comparison_table([{"category": "magnetic_tile", "method": "A", "image_auroc": 0.5}],
                                        "magnetic_tile")
    assert list(table.method) == ["A"]
    references.styled(table, "caption").to_html()      # renders with missing values
