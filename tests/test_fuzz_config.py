"""Fuzzing the config loader: any file or value gets a valid Config or one ConfigError line.

A crash here would show the user a traceback instead of the key that is wrong.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.config import Config, ConfigError, load_config

FUZZ = settings(
    max_examples=int(os.environ.get("DFD_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _keys(model: type, prefix: str = "") -> list[str]:
    """Every dotted key of the schema (list sections included by their name)."""
    out = []
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            out += _keys(sub, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


KEYS = _keys(Config)
toml_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=300)
    | st.sampled_from(["", "0.0.0.0", "127.0.0.1", "x" * 5000, "/dev/null", "a\x00b", "sqlite:///", "mysql://u:p@h/d"])
)
values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _toml_value(v) -> str:
    """Enough of a TOML writer for fuzzing (JSON strings are TOML basic strings, but escapes differ)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _loads_or_one_line(path=None, overrides=None) -> None:
    try:
        cfg = load_config(path, overrides)
    except ConfigError as exc:
        text = str(exc)
        assert text and "\n" not in text and "Traceback" not in text
        return
    assert isinstance(cfg, Config)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_a_file(tmp_path, data):
    path = tmp_path / "c.toml"
    path.write_bytes(data)
    _loads_or_one_line(path)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4))
def test_random_values_for_real_keys_in_a_file(tmp_path, tree):
    lines = []
    for dotted, value in tree.items():
        section, _, leaf = dotted.rpartition(".")
        if section:
            lines.append(f"[{section}]")
        lines.append(f"{leaf} = {_toml_value(value)}")
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    _loads_or_one_line(path)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4))
def test_random_values_as_flag_overrides(overrides):
    _loads_or_one_line(None, overrides)


@FUZZ
@given(st.lists(st.fixed_dictionaries({"name": values, "url": values}, optional={"password_env": values}), max_size=3))
def test_random_sources(sources):
    _loads_or_one_line(None, {"sources": sources})


@FUZZ
@given(st.text(max_size=5000) | st.sampled_from(["x" * 5000, "a/" * 3000, "\x00", "/proc/self/mem", "."]))
def test_any_model_path(path):
    """The one key that touches the file system at load time."""
    _loads_or_one_line(None, {"model.path": path})
