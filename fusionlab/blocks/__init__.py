"""One module per block of the post; each class is registered in :mod:`fusionlab.registry`."""
