"""The published JSON Schema and the domain validator say the same thing."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from oryx_repository.domain import action_format, action_format_checks
from oryx_repository.domain.action_format import ActionMetadata, validate_metadata

from .action_documents import DELETE, changed, minimal, processor, source

SCHEMA_PATH = Path(__file__).parents[5] / "docs" / "reference" / "action-format.schema.json"


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_accepts(validator: jsonschema.Draft202012Validator, document: Any) -> bool:
    return not list(validator.iter_errors(document))


def domain_accepts(document: Any) -> bool:
    return isinstance(validate_metadata(document, file_name="m.yaml"), ActionMetadata)


VALID = [
    processor(),
    source(),
    minimal(),
    changed(source(), "kind", "Trigger"),
    changed(processor(), "spec.resources", {"memory": 1048576, "time": 90}),
    changed(processor(), "spec.resources", {"memory": "2G", "time": "1.5h", "cpu": 2}),
    changed(processor(), "spec.resources", {"memory": 2e9, "time": 0.5, "gpu": 1.0}),
    changed(processor(), "spec.options", {"python": {"version": "3.12"}}),
    changed(processor(), "spec.options", {"nixpkgs": {"version": "nixos-unstable"}}),
    changed(processor(), "spec.logo", "img/Logo.JPEG"),
    changed(processor(), "spec.dynamic_outputs", False),
    changed(processor(), "spec.inputs[2].default_value", 1),
    changed(processor(), "spec.inputs[2].default_value", 0.25),
    changed(processor(), "spec.outputs[0].optional", True),
    changed(processor(), "spec.description", "several\nlines\n"),
    changed(processor(), "spec.outputs[0].name", "image"),
    changed(source(), "spec.inputs[0].default_value", 10.0),
    changed(minimal(), "spec.inputs", [{"name": "b", "type": "boolean", "default_value": True}]),
    changed(minimal(), "spec.inputs", [{"name": "p", "type": "password", "optional": True}]),
    changed(minimal(), "spec.outputs", [{"name": "e", "type": "enum", "enum_values": ["a"]}]),
]

INVALID = [
    ("apiVersion", "ryax.tech/v1"),
    ("apiVersion", DELETE),
    ("kind", "Functions"),
    ("kind", "Source "),
    ("spec", DELETE),
    ("spec", []),
    ("extra", 1),
    ("spec.id", "ab"),
    ("spec.id", "Tag"),
    ("spec.id", "tag\n"),
    ("spec.id", 5),
    ("spec.version", 1.0),
    ("spec.version", ""),
    ("spec.version", "1\n"),
    ("spec.human_name", DELETE),
    ("spec.human_name", "x" * 129),
    ("spec.description", None),
    ("spec.type", "nodejs"),
    ("spec.categories", [""]),
    ("spec.categories", ["a"] * 33),
    ("spec.logo", "logo.svg"),
    ("spec.logo", "../logo.png"),
    ("spec.logo", "/abs/logo.png"),
    ("spec.resources.cpu", 0),
    ("spec.resources.cpu", "1"),
    ("spec.resources.memory", "4GB"),
    ("spec.resources.memory", "0M"),
    ("spec.resources.memory", 0),
    ("spec.resources.memory", 1.5),
    ("spec.resources.time", "0s"),
    ("spec.resources.time", "1w"),
    ("spec.resources.time", -3),
    ("spec.resources.gpu", -1),
    ("spec.resources.gpu", True),
    ("spec.resources.disk", 1),
    ("spec.dependencies", ["-x"]),
    ("spec.dependencies", "git"),
    ("spec.options.python.version", "3.11.1"),
    ("spec.options.python.version", 3.11),
    ("spec.options.python", {}),
    ("spec.options.conda", {}),
    ("spec.dynamic_outputs", True),
    ("spec.dynamic_outputs", "false"),
    ("spec.addons", {}),
    ("spec.detail", "v1"),
    ("spec.inputs", {}),
    ("spec.inputs[0].name", "a b"),
    ("spec.inputs[0].name", DELETE),
    ("spec.inputs[0].type", "table"),
    ("spec.inputs[0].enum_values", DELETE),
    ("spec.inputs[0].enum_values", []),
    ("spec.inputs[0].enum_values", ["a", "a"]),
    ("spec.inputs[0].default_value", 3),
    ("spec.inputs[1].default_value", "x.png"),
    ("spec.inputs[1].enum_values", ["a"]),
    ("spec.inputs[2].default_value", "0.5"),
    ("spec.inputs[2].default_value", None),
    ("spec.inputs[2].optional", "yes"),
    ("spec.inputs[2].unit", "m"),
    ("spec.outputs[0].default_value", "x"),
    ("spec.outputs[1].type", "bytes"),
    ("spec.outputs", [{"name": "o", "type": "string"}] * 65),
]

# Rules JSON Schema cannot say; the schema's description names them.
VALIDATOR_ONLY = [
    ("spec.inputs[2].name", "model"),  # duplicate input name
    ("spec.outputs[1].name", "tagged"),  # duplicate output name
    ("spec.inputs[0].default_value", "medium"),  # default not among enum_values
]


@pytest.mark.parametrize("document", VALID)
def test_both_accept(schema_validator: jsonschema.Draft202012Validator, document: Any) -> None:
    assert schema_accepts(schema_validator, document)
    assert domain_accepts(document)


@pytest.mark.parametrize(("path", "value"), INVALID)
def test_both_refuse(
    schema_validator: jsonschema.Draft202012Validator, path: str, value: Any
) -> None:
    document = changed(processor(), path, value)
    assert not schema_accepts(schema_validator, document)
    assert not domain_accepts(document)


@pytest.mark.parametrize(("path", "value"), VALIDATOR_ONLY)
def test_rules_beyond_the_schema(
    schema_validator: jsonschema.Draft202012Validator, path: str, value: Any
) -> None:
    document = changed(processor(), path, value)
    assert schema_accepts(schema_validator, document)
    assert not domain_accepts(document)


def test_the_schema_uses_the_validators_patterns() -> None:
    text = SCHEMA_PATH.read_text()
    for pattern in (
        action_format.ID_PATTERN,
        action_format.IO_NAME_PATTERN,
        action_format.PYTHON_VERSION_PATTERN,
        action_format.DEPENDENCY_PATTERN,
        action_format.LOGO_PATTERN,
        action_format.LINE,
        action_format_checks.MEMORY_PATTERN,
        action_format_checks.TIME_PATTERN,
    ):
        assert json.dumps(pattern) in text, pattern


def test_the_schema_lists_the_validators_fields() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    spec = schema["$defs"]["spec"]["properties"]
    assert tuple(schema["properties"]) == action_format.TOP_FIELDS
    assert tuple(spec) == action_format.SPEC_FIELDS
    assert tuple(spec["resources"]["properties"]) == action_format.RESOURCE_FIELDS
    assert tuple(spec["options"]["properties"]) == action_format.OPTION_FIELDS
    assert tuple(schema["$defs"]["input"]["properties"]) == action_format.INPUT_FIELDS
    assert tuple(schema["$defs"]["output"]["properties"]) == action_format.OUTPUT_FIELDS
