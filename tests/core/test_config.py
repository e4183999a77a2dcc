"""Settings: types are checked by name, dotted overrides reach into option mappings."""

from __future__ import annotations

import pytest

from boostlora.foundation.config import build_config, merge_settings, parse_override
from boostlora.foundation.errors import ConfigError


def test_overrides_parse_yaml_values_and_dotted_keys():
    assert parse_override("max_rounds=8") == ("max_rounds", 8)
    assert parse_override("targets=[q_proj, v_proj]") == ("targets", ["q_proj", "v_proj"])
    merged = merge_settings({"plugin": "x", "objective_options": {"lr": 1.0, "steps": 3}}, {"objective_options.lr": 0.5}, "cli")
    assert merged["objective_options"] == {"lr": 0.5, "steps": 3}


def test_types_are_coerced_or_refused():
    config = build_config({"plugin": "x", "weight_tying": 1, "targets": "q_proj", "step_sizes": [0, 1]})
    assert config.weight_tying == 1.0 and config.targets == ["q_proj"] and config.step_sizes == [0.0, 1.0]
    with pytest.raises(ConfigError, match="u must be an integer, got 1.5"):
        build_config({"plugin": "x", "u": 1.5})
    with pytest.raises(ConfigError, match="strategy must be one of rotate, top"):
        build_config({"plugin": "x", "strategy": "spin"})
    with pytest.raises(ConfigError, match="weight_tying must be between 0 and 1"):
        build_config({"plugin": "x", "weight_tying": 2})
    with pytest.raises(ConfigError, match="has no sub-keys"):
        merge_settings({}, {"r.x": 1}, "cli")
    with pytest.raises(ConfigError, match="no plugin given"):
        build_config({})
