"""The course's benchmark, kept beside the ``fusionlab`` package (which stays a library):
``python benchmarks/bench.py --help``."""
