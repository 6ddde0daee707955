"""The JSON Schema published in docs/ is the one the service checks documents against, and
the documents the service exports follow it."""

import json
from pathlib import Path

import jsonschema

from oryx_studio.infrastructure.api.documents import document_schema

SCHEMA = Path(__file__).parents[4] / "docs" / "reference" / "workflow.schema.json"


def test_the_published_schema_is_the_one_the_service_checks() -> None:
    published = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(published)
    assert published == json.loads(json.dumps(document_schema())), (
        "regenerate it: python -m oryx_studio schema > docs/reference/workflow.schema.json"
    )


def test_the_schema_refuses_what_the_service_refuses() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    good = {
        "apiVersion": "oryx.dev/v1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "steps": [
                {"id": "t", "name": "T", "action": "one-run", "version": "1.0", "builtin": True},
                {
                    "id": "e",
                    "name": "E",
                    "action": "echo",
                    "version": "1.0",
                    "inputs": {
                        "text": {"value": "x"},
                        "n": {"from": {"step_id": "t", "output": "fired_at"}},
                    },
                },
            ],
            "links": [{"from_step_id": "t", "to_step_id": "e"}],
        },
    }
    assert list(validator.iter_errors(good)) == []
    for path, value in [
        (("apiVersion",), "oryx.dev/v2"),
        (("spec", "steps", 0, "id"), "Bad Id"),
        (("spec", "steps", 1, "inputs", "text"), {"value": "x", "variable": "y"}),
        (("spec", "steps", 1, "inputs", "text"), {}),
        (("spec", "steps", 1, "inputs", "text"), {"value": [1]}),
        (("spec", "links", 0, "extra"), 1),
        (("spec", "endpoint"), {"path": "p", "success_code": 204}),
    ]:
        bad = json.loads(json.dumps(good))
        target = bad
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert list(validator.iter_errors(bad)), path
