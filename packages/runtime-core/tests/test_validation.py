"""The compiled fast path never accepts what jsonschema rejects (differential, property-based)."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insightconnect_plugin_runtime._validation import CompiledSchema, compile_fast_check

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from("abcn"), children, max_size=3),
    max_leaves=8,
)

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]},
    {"type": "array", "items": {"type": "number", "minimum": 0}},
    {"type": ["string", "null"], "minLength": 2},
    {"enum": [1, "a", None, True, [1], {"a": 1}]},
    {"const": 1},
    {"type": "object", "additionalProperties": False, "properties": {"a": {}}},
    {"type": "object", "additionalProperties": {"type": "boolean"}},
    {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    {"not": {"type": "object"}},
    {"allOf": [{"type": "array", "minItems": 1}, {"maxItems": 2}]},
    {
        "properties": {"n": {"$ref": "#/definitions/node"}},
        "definitions": {
            "node": {"type": "object", "properties": {"n": {"$ref": "#/definitions/node"}, "a": {"type": "integer"}}}
        },
    },
    {"type": "string", "pattern": "^a"},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
]


@pytest.mark.parametrize("schema", SCHEMAS)
@settings(max_examples=150, deadline=None)
@given(instance=json_values)
def test_fast_check_agrees_with_jsonschema(schema, instance):
    fast = compile_fast_check(schema)
    assert fast is not None, "the schema should be modelled"
    expected = jsonschema.validators.validator_for(schema)(schema).is_valid(instance)
    assert fast(instance) == expected


def test_unmodelled_keywords_defer_to_jsonschema():
    schema = {"type": "array", "uniqueItems": True}
    assert compile_fast_check(schema) is None
    compiled = CompiledSchema(schema)
    assert compiled.is_valid([1, 2]) and not compiled.is_valid([1, 1])


def test_validate_raises_the_most_relevant_jsonschema_error():
    compiled = CompiledSchema(SCHEMAS[0])
    compiled.validate({"a": "x", "b": 2})
    with pytest.raises(jsonschema.ValidationError) as raised:
        compiled.validate({"b": "no"})
    assert "b" in str(list(raised.value.absolute_path)) or "'a' is a required" in raised.value.message


def test_valid_input_does_not_import_jsonschema():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from insightconnect_plugin_runtime._validation import CompiledSchema\n"
        "CompiledSchema({'type': 'object', 'properties': {'a': {'type': 'string'}}}).validate({'a': 'x'})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
