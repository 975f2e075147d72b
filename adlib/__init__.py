"""adlib: autoencoder-based visual anomaly detection, re-implemented from five papers.

Modules, one place for each thing:

- ``adlib.runtime``  device selection, seeding, atomic file writes, provenance
- ``adlib.params``   validation of a notebook's papermill parameters
- ``adlib.data``     embedded / synthetic data generators and real-data loaders
- ``adlib.models``   one module per paper; every model has fit / score / anomaly_map
- ``adlib.training`` the shared training loop (Adam, seeds, tqdm, NaN guard)
- ``adlib.metrics``  pixel and image level metrics
- ``adlib.plots``    the study's plotting style and figure helpers
- ``adlib.widgets``  ipywidgets that also work in the static site
"""

__version__ = "0.1.0"
