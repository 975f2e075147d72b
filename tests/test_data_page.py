from adlib import data_page
from adlib.data.registry import DATASETS


def test_the_data_page_shows_sample_images_of_every_embedded_dataset(tmp_path):
    from adlib import benchmark

    samples = data_page.write_samples(tmp_path / "data_samples")
    assert len(samples) == 2 + len(benchmark.EMBEDDED) + 1                  # chess, noise, embedded, MNIST
    assert all((tmp_path / path).stat().st_size > 5000 for path in samples.values())
    page = data_page.data_page(samples)
    assert "![chess (synthetic): normal and defective images](data_samples/chess_synthetic.jpg)" in page


def test_data_page_lists_every_registered_dataset():
    page = data_page.data_page()
    assert page.startswith("# Data")
    for info in DATASETS:
        assert info.name in page
