"""Makes `import losskit` work from a source checkout, without installing the binding.

The library itself is found by losskit's own finder: $LOSSKIT_LIBRARY when set,
else the repository's .build/release/liblosskit.so.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import losskit  # noqa: E402
import worst_errors  # noqa: E402


@pytest.fixture
def restore_threads():
    """Puts the library's thread limit back after a test that changes it."""
    before = losskit.get_num_threads()
    yield
    losskit.set_num_threads(before)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the worst error per loss and dtype against the JAX reference, when those tests ran."""
    lines = worst_errors.summary_lines()
    if lines:
        terminalreporter.section("worst error vs the JAX reference: max |Δ| / (|ref| + 1e-2·max|ref|)")
        for line in lines:
            terminalreporter.write_line(line)
