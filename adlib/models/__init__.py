"""Models, one module per paper, all with the interface of :class:`base.Autoencoder`."""
