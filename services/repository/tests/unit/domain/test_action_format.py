from typing import Any

import pytest

from oryx_repository.domain.action_format import (
    ActionKind,
    ActionMetadata,
    FormatError,
    IoType,
    Resources,
    parse_memory,
    parse_time,
    validate_metadata,
)

from .action_documents import DELETE, changed, minimal, processor, source

FILE = "actions/tag/ryax_metadata.yaml"


def valid(document: object) -> ActionMetadata:
    result = validate_metadata(document, file_name=FILE)
    assert isinstance(result, ActionMetadata), result
    return result


def errors(document: object) -> list[FormatError]:
    result = validate_metadata(document, file_name=FILE)
    assert isinstance(result, list), result
    assert all(error.file == FILE for error in result)
    return result


def fields(document: object) -> list[str]:
    return [error.field for error in errors(document)]


class TestValidDocuments:
    def test_a_processor_in_ryax_v2_format(self) -> None:
        metadata = valid(processor())
        assert metadata.kind is ActionKind.PROCESSOR
        assert (metadata.id, metadata.version, metadata.type) == ("tag-objects", "1.0", "python3")
        assert metadata.human_name == "Tag objects"
        assert metadata.categories == ("Vision",)
        assert metadata.logo == "logo.png"
        assert metadata.resources == Resources(cpu=0.5, memory=512 * 1024**2, time=300.0, gpu=0)
        assert metadata.dependencies == ("opencv", "python311Packages.numpy")
        assert metadata.python_version == "3.11"
        assert [i.name for i in metadata.inputs] == ["model", "image", "threshold"]
        model = metadata.inputs[0]
        assert model.type is IoType.ENUM
        assert model.enum_values == ("small", "large")
        assert model.default_value == "small"
        assert metadata.outputs[1].type is IoType.INTEGER
        assert (metadata.handler_file, metadata.handler_function) == ("ryax_handler.py", "handle")

    def test_a_source_may_have_dynamic_outputs(self) -> None:
        metadata = valid(source())
        assert metadata.kind is ActionKind.SOURCE
        assert metadata.dynamic_outputs is True
        assert (metadata.handler_file, metadata.handler_function) == ("ryax_run.py", "run")

    def test_trigger_is_another_name_for_source(self) -> None:
        assert valid(changed(source(), "kind", "Trigger")).kind is ActionKind.SOURCE

    def test_the_smallest_document_takes_defaults(self) -> None:
        metadata = valid(minimal())
        assert metadata.kind is ActionKind.PUBLISHER
        assert metadata.description == ""
        assert metadata.resources == Resources()
        assert (metadata.inputs, metadata.outputs, metadata.categories) == ((), (), ())
        assert metadata.python_version is None
        assert metadata.dynamic_outputs is False

    def test_an_input_without_human_name_or_help_is_named_by_its_name(self) -> None:
        metadata = valid(source())
        assert metadata.inputs[0].human_name == "seconds"
        assert metadata.inputs[0].help == ""

    @pytest.mark.parametrize(
        ("io_type", "default"),
        [
            ("string", "text"),
            ("longstring", "a\nlong\ntext"),
            ("password", "secret"),
            ("integer", 3),
            ("integer", 3.0),
            ("float", 2.5),
            ("float", 2),
            ("boolean", False),
        ],
    )
    def test_a_default_of_the_input_type(self, io_type: str, default: object) -> None:
        document = changed(source(), "spec.inputs[0]", {"name": "x", "type": io_type})
        document["spec"]["inputs"][0]["default_value"] = default
        metadata = valid(document)
        assert metadata.inputs[0].default_value == default
        if io_type == "integer":
            assert isinstance(metadata.inputs[0].default_value, int)

    def test_dynamic_outputs_false_is_fine_on_a_processor(self) -> None:
        assert valid(changed(processor(), "spec.dynamic_outputs", False)).dynamic_outputs is False

    def test_nixpkgs_version_is_recorded_for_ryax_repositories(self) -> None:
        document = changed(processor(), "spec.options.nixpkgs", {"version": "nixos-24.05"})
        assert valid(document).nixpkgs_version == "nixos-24.05"

    def test_the_metadata_is_frozen(self) -> None:
        metadata = valid(minimal())
        with pytest.raises(AttributeError):
            metadata.id = "other"  # type: ignore[misc]


class TestUnits:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (1048576, 1048576),
            (2e9, 2_000_000_000),
            ("1", 1),
            ("512K", 512 * 1024),
            ("512M", 512 * 1024**2),
            ("4G", 4 * 1024**3),
            ("1T", 1024**4),
            ("0", None),
            ("0M", None),
            (0, None),
            (-5, None),
            (1.5, None),
            ("1.5G", None),
            ("512MB", None),
            ("512m", None),
            ("512 M", None),
            ("M", None),
            ("", None),
            ("5G\n", None),
            (True, None),
            (None, None),
            ([], None),
        ],
    )
    def test_memory(self, raw: object, expected: int | None) -> None:
        assert parse_memory(raw) == expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (30, 30.0),
            (0.5, 0.5),
            ("45", 45.0),
            ("30s", 30.0),
            ("5m", 300.0),
            ("2h", 7200.0),
            ("1d", 86400.0),
            ("1.5h", 5400.0),
            ("0s", None),
            (0, None),
            (-1, None),
            ("-1s", None),
            ("1w", None),
            ("5 m", None),
            ("s", None),
            ("1e3s", None),
            (float("inf"), None),
            (float("nan"), None),
            (False, None),
            ("30s\n", None),
        ],
    )
    def test_time(self, raw: object, expected: float | None) -> None:
        assert parse_time(raw) == expected


class TestErrors:
    @pytest.mark.parametrize(
        ("path", "value", "field", "reason"),
        [
            ("apiVersion", "ryax.tech/v3", "apiVersion", "ryax.tech/v2.0"),
            ("apiVersion", DELETE, "apiVersion", "is required"),
            ("kind", "Action", "kind", "Processor, Publisher, Source or Trigger"),
            ("kind", "processor", "kind", "not 'processor'"),
            ("kind", DELETE, "kind", "is required"),
            ("spec", DELETE, "spec", "is required"),
            ("spec", ["x"], "spec", "must be a mapping, not a list"),
            ("spec.id", "ab", "spec.id", "3 to 24 characters"),
            ("spec.id", "a" * 25, "spec.id", "3 to 24 characters"),
            ("spec.id", "Tag", "spec.id", "lowercase"),
            ("spec.id", "tag_objects", "spec.id", "lowercase"),
            ("spec.id", "tag objects", "spec.id", "lowercase"),
            ("spec.id", "tag\n", "spec.id", "not valid"),
            ("spec.id", 123, "spec.id", "must be a string, not an integer"),
            ("spec.id", DELETE, "spec.id", "is required"),
            ("spec.version", 1.0, "spec.version", 'quoted string, e.g. "1.0"'),
            ("spec.version", "", "spec.version", "must not be empty"),
            ("spec.version", "1.0\n2", "spec.version", "one line"),
            ("spec.version", DELETE, "spec.version", "is required"),
            ("spec.human_name", None, "spec.human_name", "must be a string, not null"),
            ("spec.human_name", "x" * 129, "spec.human_name", "at most 128"),
            ("spec.description", ["a"], "spec.description", "must be a string"),
            ("spec.type", "nodejs", "spec.type", "not supported by Oryx yet"),
            ("spec.type", "python3-cuda", "spec.type", "only 'python3'"),
            ("spec.type", "python2", "spec.type", "must be 'python3'"),
            ("spec.type", DELETE, "spec.type", "is required"),
            ("spec.categories", "Vision", "spec.categories", "must be a list, not a string"),
            ("spec.categories", [1], "spec.categories[0]", "must be a string"),
            ("spec.categories", [""], "spec.categories[0]", "must not be empty"),
            ("spec.categories", ["x" * 33], "spec.categories[0]", "at most 32"),
            ("spec.categories", ["a"] * 33, "spec.categories", "at most 32 items"),
            ("spec.logo", "logo.gif", "spec.logo", ".png, .jpg or .jpeg"),
            ("spec.logo", "../logo.png", "spec.logo", "without '..'"),
            ("spec.logo", "img/../../logo.png", "spec.logo", "without '..'"),
            ("spec.logo", "/etc/logo.png", "spec.logo", "relative"),
            ("spec.resources", "big", "spec.resources", "must be a mapping"),
            ("spec.resources.cpu", 0, "spec.resources.cpu", "more than 0"),
            ("spec.resources.cpu", "2", "spec.resources.cpu", "must be a number"),
            ("spec.resources.cpu", True, "spec.resources.cpu", "must be a number"),
            ("spec.resources.memory", "4GB", "spec.resources.memory", "512M, 2G"),
            ("spec.resources.memory", 0, "spec.resources.memory", "positive"),
            ("spec.resources.time", "1w", "spec.resources.time", "30s, 5m, 2h, 1d"),
            ("spec.resources.gpu", 1.5, "spec.resources.gpu", "whole number, not 1.5"),
            ("spec.resources.gpu", -1, "spec.resources.gpu", "at least 0"),
            ("spec.resources.disk", 3, "spec.resources.disk", "unknown field"),
            ("spec.dependencies", ["-rf"], "spec.dependencies[0]", "not starting with '-'"),
            ("spec.dependencies", ["a b"], "spec.dependencies[0]", "package name"),
            ("spec.dependencies", "git", "spec.dependencies", "must be a list"),
            ("spec.options", [], "spec.options", "must be a mapping"),
            ("spec.options.python", "3.11", "spec.options.python", "must be a mapping"),
            ("spec.options.python.version", 3.1, "spec.options.python.version", '"3.11"'),
            ("spec.options.python.version", "2.7", "spec.options.python.version", "major.minor"),
            ("spec.options.python.version", "3.11.2", "spec.options.python.version", "major"),
            ("spec.options.python.version", DELETE, "spec.options.python.version", "required"),
            ("spec.options.python.pip", "24", "spec.options.python.pip", "unknown field"),
            ("spec.options.gpu", {}, "spec.options.gpu", "unknown field"),
            ("spec.dynamic_outputs", True, "spec.dynamic_outputs", "only a Source"),
            ("spec.dynamic_outputs", "yes", "spec.dynamic_outputs", "true or false"),
            ("spec.addons", {"hpc": {}}, "spec.addons", "unknown field"),
            ("spec.inputs", {}, "spec.inputs", "must be a list, not a mapping"),
            ("spec.inputs[1]", "image", "spec.inputs[1]", "must be a mapping"),
            ("spec.inputs[1].name", DELETE, "spec.inputs[1].name", "is required"),
            ("spec.inputs[1].name", "an image", "spec.inputs[1].name", "letters, digits"),
            ("spec.inputs[1].name", "-x", "spec.inputs[1].name", "not starting"),
            ("spec.inputs[1].name", "", "spec.inputs[1].name", "not valid"),
            ("spec.inputs[1].type", DELETE, "spec.inputs[1].type", "is required"),
            ("spec.inputs[1].type", "image", "spec.inputs[1].type", "one of string, longstring"),
            ("spec.inputs[1].type", "table", "spec.inputs[1].type", "Ryax type 'table'"),
            ("spec.inputs[1].type", "bytes", "spec.inputs[1].type", "Ryax type 'bytes'"),
            ("spec.inputs[1].optional", "no", "spec.inputs[1].optional", "true or false"),
            ("spec.inputs[1].human_name", 5, "spec.inputs[1].human_name", "must be a string"),
            ("spec.inputs[1].help", "x" * 10_001, "spec.inputs[1].help", "at most 10000"),
            ("spec.inputs[1].color", "red", "spec.inputs[1].color", "unknown field"),
            ("spec.inputs[1].enum_values", ["a"], "spec.inputs[1].enum_values", "only for"),
            ("spec.inputs[1].default_value", "a.png", "spec.inputs[1].default_value", "file"),
            ("spec.inputs[0].enum_values", DELETE, "spec.inputs[0].enum_values", "is required"),
            ("spec.inputs[0].enum_values", [], "spec.inputs[0].enum_values", "at least one"),
            ("spec.inputs[0].enum_values", ["a", "a"], "spec.inputs[0].enum_values[1]", "twice"),
            ("spec.inputs[0].enum_values", [""], "spec.inputs[0].enum_values[0]", "empty"),
            ("spec.inputs[0].default_value", "huge", "spec.inputs[0].default_value", "not one"),
            ("spec.inputs[0].default_value", 1, "spec.inputs[0].default_value", "a string"),
            ("spec.inputs[2].default_value", "0.5", "spec.inputs[2].default_value", "number"),
            ("spec.inputs[2].default_value", True, "spec.inputs[2].default_value", "number"),
            ("spec.inputs[2].default_value", None, "spec.inputs[2].default_value", "not null"),
            ("spec.outputs[0].default_value", "x", "spec.outputs[0].default_value", "unknown"),
            ("spec.outputs[1].type", "list", "spec.outputs[1].type", "one of"),
            ("spec.outputs", [{"type": "string"}] * 65, "spec.outputs", "at most 64 items"),
            ("spec.detail", "old", "spec.detail", "v1 action format"),
            ("spec.handler", "x", "spec.handler", "unknown field"),
            ("metadata", {}, "metadata", "unknown field"),
        ],
    )
    def test_each_error_names_the_field_and_the_reason(
        self, path: str, value: Any, field: str, reason: str
    ) -> None:
        found = errors(changed(processor(), path, value))
        assert field in [error.field for error in found], found
        assert any(reason in error.reason for error in found if error.field == field), found

    @pytest.mark.parametrize(
        ("io_type", "default"),
        [
            ("string", 5),
            ("string", True),
            ("password", None),
            ("integer", "5"),
            ("integer", 2.5),
            ("integer", True),
            ("float", "2.5"),
            ("float", False),
            ("boolean", "true"),
            ("boolean", 1),
            ("directory", "/tmp"),
            ("file", None),
        ],
    )
    def test_a_default_of_another_type(self, io_type: str, default: object) -> None:
        document = changed(source(), "spec.inputs[0]", {"name": "x", "type": io_type})
        document["spec"]["inputs"][0]["default_value"] = default
        assert fields(document) == ["spec.inputs[0].default_value"]

    def test_every_error_is_reported_not_only_the_first(self) -> None:
        document = changed(processor(), "spec.id", "X")
        document = changed(document, "spec.inputs[1].type", "picture")
        document = changed(document, "spec.resources.memory", "lots")
        document = changed(document, "spec.extra", 1)
        assert sorted(fields(document)) == [
            "spec.extra",
            "spec.id",
            "spec.inputs[1].type",
            "spec.resources.memory",
        ]

    def test_duplicate_input_and_output_names(self) -> None:
        document = changed(processor(), "spec.inputs[2].name", "model")
        document = changed(document, "spec.outputs[1].name", "tagged")
        found = errors(document)
        assert [(e.field, e.reason) for e in found] == [
            ("spec.inputs[2].name", "the name 'model' is already used by spec.inputs[0]"),
            ("spec.outputs[1].name", "the name 'tagged' is already used by spec.outputs[0]"),
        ]

    def test_an_input_and_an_output_may_share_a_name(self) -> None:
        valid(changed(processor(), "spec.outputs[0].name", "image"))

    @pytest.mark.parametrize("document", [None, "text", 3, ["a"], True])
    def test_a_file_that_is_not_a_mapping(self, document: object) -> None:
        [error] = errors(document)
        assert error.field == ""
        assert "must hold a mapping" in error.reason

    def test_non_string_keys_are_unknown_fields(self) -> None:
        document = processor()
        document["spec"][3] = "x"
        assert fields(document) == ["spec.3"]

    def test_errors_print_with_the_file_and_field(self) -> None:
        [error] = errors(changed(minimal(), "spec.id", "X"))
        assert str(error).startswith(f"{FILE}: spec.id: 'X' is not valid")
        assert str(FormatError("a.yaml", "", "bad", line=3)) == "a.yaml:3: bad"

    def test_long_values_are_clipped_in_messages(self) -> None:
        [error] = errors(changed(minimal(), "spec.id", "x" * 5000))
        assert len(error.reason) < 200

    def test_the_number_of_errors_is_bounded(self) -> None:
        document = minimal()
        document["spec"]["inputs"] = [{"name": f"i{n}", "type": "nope"} for n in range(64)]
        document["spec"]["outputs"] = [{"name": f"o{n}", "type": "nope"} for n in range(64)]
        document["spec"]["categories"] = [1] * 32
        document["spec"].update({f"x{n}": 1 for n in range(100)})
        assert len(errors(document)) == 200


class TestV1Format:
    def test_a_v1_document_is_refused_with_how_to_migrate(self) -> None:
        document = {
            "apiVersion": "ryax.tech/v1",
            "kind": "Functions",
            "spec": {"id": "old", "detail": "An old action", "version": "1.0"},
        }
        found = errors(document)
        assert [e.field for e in found] == ["apiVersion", "kind", "spec.detail"]
        first = found[0].reason
        assert "v1 action format" in first
        for advice in ("ryax.tech/v2.0", "Functions -> Processor", "Gateways -> Source"):
            assert advice in first
        assert "spec.detail -> spec.description" in first
        assert "handler.py to ryax_handler.py" in first
        assert "rename the kind Functions to Processor" in found[1].reason
        assert "rename spec.detail to spec.description" in found[2].reason

    @pytest.mark.parametrize(("kind", "new"), [("Gateways", "Source"), ("Publishers", "Publisher")])
    def test_each_v1_kind_is_named_with_its_v2_name(self, kind: str, new: str) -> None:
        [error] = errors(changed(minimal(), "kind", kind))
        assert error.field == "kind"
        assert f"rename the kind {kind} to {new}" in error.reason
