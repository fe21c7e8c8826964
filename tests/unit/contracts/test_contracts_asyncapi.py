"""The AsyncAPI document: generated from the registry, valid AsyncAPI 3.0.0, and committed up to date."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from parley.contracts import EVENT_TYPES, TOPICS, Envelope, asyncapi, binding, golden

REPO_ROOT = Path(__file__).resolve().parents[3]
COMMITTED = REPO_ROOT / "docs" / "asyncapi.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

DOCUMENT = asyncapi.document()
RENDERED = asyncapi.render()
SAMPLES = golden.samples()
SAMPLE_IDS = [name for name, _ in SAMPLES]
DOC_URI = "urn:parley:asyncapi"


def test_committed_document_is_fresh():
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.is_file() else ""
    assert committed == RENDERED, "docs/asyncapi.yaml is stale: run make asyncapi"


def test_render_is_deterministic_and_parses_back_to_the_document():
    assert asyncapi.render() == RENDERED
    assert yaml.safe_load(RENDERED) == DOCUMENT
    assert "&id0" not in RENDERED, "YAML anchors/aliases must not leak into the document"


def test_document_is_asyncapi_3():
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert DOCUMENT["defaultContentType"] == "application/json"
    assert DOCUMENT["info"]["title"] == "Parley events"
    assert DOCUMENT["info"]["version"]


def test_document_validates_against_the_official_asyncapi_3_schema():
    schema = json.loads((FIXTURES / "asyncapi-3.0.0.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(DOCUMENT)]
    assert not errors, errors
    broken = copy.deepcopy(DOCUMENT)
    broken["operations"]["send.message.received"]["action"] = "publish"  # AsyncAPI 2 wording
    assert not validator.is_valid(broken), "the vendored schema must catch an invalid document"


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(pointer: str):
    assert pointer.startswith("#/"), f"only local refs are expected, got {pointer}"
    node = DOCUMENT
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert part in node, f"{pointer} does not resolve (no {part!r})"
        node = node[part]
    return node


def test_every_ref_resolves():
    refs = sorted(set(_refs(DOCUMENT)))
    assert any(ref.startswith("#/components/schemas/") for ref in refs)
    assert any(ref.startswith("#/channels/") for ref in refs)
    for ref in refs:
        assert _resolve(ref) is not None


def test_every_topic_has_a_channel_a_dlq_channel_and_send_operations():
    channels, operations = DOCUMENT["channels"], DOCUMENT["operations"]
    assert set(channels) == {t.name for t in TOPICS.values()} | {t.dlq for t in TOPICS.values()}
    for topic in TOPICS.values():
        channel = channels[topic.name]
        assert channel["address"] == topic.name
        assert topic.key in channel["description"]
        assert f"retention {topic.retention_days} days" in channel["description"]
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions
        retention_ms = channel["bindings"]["kafka"]["topicConfiguration"]["retention.ms"]
        assert retention_ms == topic.retention_days * 86_400_000
        assert channels[topic.dlq]["address"] == f"{topic.name}.dlq"
        assert channels[topic.dlq]["messages"] == channel["messages"]
        for name in (topic.name, topic.dlq):
            operation = operations[f"send.{name}"]
            assert operation["action"] == "send"
            assert operation["channel"] == {"$ref": f"#/channels/{name}"}
            assert {_resolve(m["$ref"])["$ref"] for m in operation["messages"]} == {
                ref["$ref"] for ref in channels[name]["messages"].values()
            }


@pytest.mark.parametrize(("event_type", "version"), sorted(EVENT_TYPES), ids=lambda v: str(v))
def test_every_registered_event_is_a_message_on_its_topic(event_type, version):
    spec = EVENT_TYPES[(event_type, version)]
    name = f"{event_type}.v{version}"
    message = DOCUMENT["components"]["messages"][name]
    assert message["name"] == name
    assert message["summary"] == spec.description
    assert message["payload"] == {"$ref": f"#/components/schemas/{spec.model.__name__}"}
    assert TOPICS[spec.topic].key in message["bindings"]["kafka"]["key"]["description"]
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert DOCUMENT["channels"][spec.topic]["messages"][name] == {"$ref": f"#/components/messages/{name}"}
    assert {example["name"] for example in message["examples"]} == {
        sample for sample, _ in golden.samples_for(event_type, version)
    }


def test_no_unregistered_message_is_documented():
    assert set(DOCUMENT["components"]["messages"]) == {f"{t}.v{v}" for t, v in EVENT_TYPES}


def test_header_schema_lists_every_binding_header():
    headers = DOCUMENT["components"]["schemas"]["CloudEventHeaders"]
    expected = {f"ce_{name}" for name in binding._ATTRIBUTES} | {"content-type", "traceparent"}
    assert set(headers["properties"]) == expected
    assert {"ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time"} <= set(headers["required"])


def test_schemas_have_no_local_defs_left():
    for name, schema in DOCUMENT["components"]["schemas"].items():
        assert "$defs" not in schema, f"{name} still nests $defs"
    assert not [ref for ref in _refs(DOCUMENT) if "$defs" in ref]


def _validator_for(pointer: str) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(DOCUMENT, DRAFT202012))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{DOC_URI}{pointer}"}, registry=registry, format_checker=jsonschema.FormatChecker()
    )


@pytest.mark.parametrize(("name", "document"), SAMPLES, ids=SAMPLE_IDS)
def test_golden_sample_matches_its_documented_payload_and_headers(name, document):
    message = f"#/components/messages/{document['type']}.v{document['schemaversion']}"
    _validator_for(f"{message}/payload").validate(document["data"])
    _key, _value, headers = binding.to_record(Envelope.model_validate(document))
    _validator_for(f"{message}/headers").validate({h: raw.decode() for h, raw in headers})


def test_documented_schemas_reject_what_consumers_reject():
    main = dict(SAMPLES)["message.received.v1"]
    payload = _validator_for("#/components/messages/message.received.v1/payload")
    assert not payload.is_valid({k: v for k, v in main["data"].items() if k != "wamid"})
    headers = _validator_for("#/components/messages/message.received.v1/headers")
    record_headers = {h: raw.decode() for h, raw in binding.to_record(Envelope.model_validate(main))[2]}
    assert not headers.is_valid({**record_headers, "ce_type": "message.status"})
    assert not headers.is_valid({k: v for k, v in record_headers.items() if k != "ce_id"})


def test_check_passes_on_the_committed_file(capsys):
    assert asyncapi.main(["--check", "--output", str(COMMITTED)]) == 0


def test_check_fails_with_regeneration_hint_on_a_stale_file(capsys):
    assert asyncapi.main(["--check", "--output", str(FIXTURES / "README.md")]) == 1
    assert "is stale: run make asyncapi" in capsys.readouterr().err
    assert asyncapi.main(["--check", "--output", str(FIXTURES / "missing.yaml")]) == 1
