"""Shared fixtures. Tests that need ../shared/data skip with the reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DFD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or a skip that says why."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the development data at {path} (../shared/data is not in a fresh clone)")
    return path


@pytest.fixture
def ctx():
    """A ZeroMQ context that is torn down without lingering."""
    import zmq

    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real ONNX model folder with random weights (see tests/model_factory.py)."""
    from tests.model_factory import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def always_fake_model(tmp_path_factory) -> Path:
    """A model whose p(fake) is near 1 for any face: drives alerts deterministically."""
    from tests.model_factory import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("model") / "fake", bias=8.0)
