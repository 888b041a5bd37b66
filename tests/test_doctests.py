"""Every docstring example in the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import fusionlab

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(fusionlab.__path__, "fusionlab.")
    if not info.name.startswith("fusionlab.exercises")  # tests/test_exercises.py runs those
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, verbose=False, optionflags=doctest.ELLIPSIS)
    assert failures == 0, f"{name}: {failures} docstring example(s) fail (run python -m pytest --doctest-modules {module.__file__})"
