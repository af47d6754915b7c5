"""The sample cache, built (or found) once per session."""
from __future__ import annotations

import pytest

from bqml_magic import samples


@pytest.fixture(scope="session")
def sample_set() -> samples.Samples:
    return samples.build()
