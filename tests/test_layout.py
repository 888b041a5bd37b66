"""The package stays readable: every module fits one sitting, and the library prints nothing."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600  # a module a newcomer can read in one sitting


def test_no_module_is_longer_than_one_sitting():
    too_long = {str(p.relative_to(ROOT)): n for p in sorted([*ROOT.glob("fusionlab/**/*.py"), *ROOT.glob("benchmarks/*.py")])
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by subsystem): {too_long}"


def test_library_code_never_prints():
    prints = [f"{p.relative_to(ROOT)}:{i}" for p in sorted(ROOT.glob("fusionlab/**/*.py"))
              for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if re.match(r"\s*print\(", line)]
    assert not prints, f"print() in library code (return or log instead): {prints}"
