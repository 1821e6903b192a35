"""The YAML reader every user-supplied file goes through: any wrong value is one ``YAMLError``
whose :func:`problem` is one line naming where (PyYAML raised ValueError, KeyError or
AttributeError for values that match a tag's pattern but not its meaning)."""

from __future__ import annotations

import pytest
import yaml

from mlstix.kb import _yaml


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date: 2026-02-30\n", "line 1, column 7: '2026-02-30' is not a valid timestamp: day is"),
        ("a:\n  b: 2026-13-01\n", "line 2, column 6: '2026-13-01' is not a valid timestamp: month"),
        ("a: !!int abc\n", "line 1, column 4: 'abc' is not a valid int"),
        ("a: !!float abc\n", "line 1, column 4: 'abc' is not a valid float"),
        ("a: !!bool maybe\n", "line 1, column 4: 'maybe' is not a valid bool"),
        ("a: !!timestamp soon\n", "line 1, column 4: 'soon' is not a valid timestamp"),
        ("a: [1, 2\n  b: }\n", "line 2, column 4: did not find expected ',' or ']'"),
        ("a: !!python/object:os.system x\n", "line 1, column 4: could not determine a constructor"),
    ],
)
def test_every_bad_value_is_one_yaml_error_on_one_line(text: str, expected: str) -> None:
    with pytest.raises(yaml.YAMLError) as err:
        _yaml.load(text)
    said = _yaml.problem(err.value)
    assert said.startswith(expected), said
    assert "\n" not in said


def test_good_values_load_as_pyyaml_safe_load_reads_them() -> None:
    text = "a: 2026-02-28\nb: !!int '7'\nc: [x, {d: true}]\ne: 1.5\n"
    assert _yaml.load(text) == yaml.safe_load(text)
