"""The AsyncAPI 3.0.0 document of Parley's Kafka events, generated from the registry.

The registry is the source of truth; ``docs/asyncapi.yaml`` is this module's output, committed so
reviewers see contract changes, and checked for staleness in CI::

    python -m parley.contracts.asyncapi --write   # regenerate (make asyncapi)
    python -m parley.contracts.asyncapi --check   # exit 1 when the committed file differs
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from parley.contracts import binding, golden
from parley.contracts.envelope import Envelope
from parley.contracts.registry import EVENT_TYPES, TOPICS, EventSpec, TopicSpec

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
# Payload schemas describe what producers put on the wire (Envelope.wrap dumps in JSON mode).
SCHEMA_MODE = "serialization"
DEFAULT_OUTPUT = Path("docs/asyncapi.yaml")
HEADERS_SCHEMA = "CloudEventHeaders"
_SCHEMA_REF = "#/components/schemas/{model}"
_TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_BANNER = (
    "# Generated from libs/contracts (parley.contracts.asyncapi): do not edit by hand.\n"
    "# Regenerate with `make asyncapi`; CI fails when this file is stale.\n"
)

_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "ce_specversion": {"type": "string", "const": "1.0", "description": "CloudEvents spec version"},
    "ce_id": {"type": "string", "format": "uuid",
              "description": "UUIDv7 event id; consumers dedupe on it (inbox table)"},
    "ce_type": {"type": "string", "description": "Event type, e.g. message.received"},
    "ce_source": {"type": "string", "format": "uri-reference",
                  "description": "Producing service, e.g. /parley/ingest"},
    "ce_time": {"type": "string", "format": "date-time", "description": "When the event happened (RFC 3339)"},
    "ce_subject": {"type": "string",
                   "description": "The aggregate the event is about (wamid, conversation id...)"},
    "ce_tenantid": {"type": "string", "format": "uuid",
                    "description": "Owning tenant (extension); absent only on platform events"},
    "ce_traceparent": {"type": "string", "pattern": _TRACEPARENT,
                       "description": "W3C trace context of the producing span (extension)"},
    "ce_schemaversion": {"type": "string", "pattern": "^[1-9][0-9]*$",
                         "description": "Payload schema version of ce_type (extension)"},
    "content-type": {"type": "string", "const": "application/json", "description": "Media type of the value"},
    "traceparent": {"type": "string", "pattern": _TRACEPARENT,
                    "description": "Same as ce_traceparent, for standard OpenTelemetry propagators"},
}


def message_name(spec: EventSpec) -> str:
    """The AsyncAPI message id of an event spec, e.g. ``message.received.v1``."""
    return f"{spec.type}.v{spec.version}"


def _headers_schema() -> dict[str, Any]:
    always_sent = [f"ce_{name}" for name in binding._REQUIRED]
    always_sent += ["ce_time", "ce_schemaversion", "content-type"]
    return {
        "type": "object",
        "description": (
            "CloudEvents Kafka protocol binding, binary content mode: every attribute but data travels as a "
            "ce_<name> header (UTF-8). Unknown headers are allowed: consumers ignore them, and dead letters "
            "add their reason headers."
        ),
        "required": sorted(always_sent),
        "properties": _HEADER_SCHEMAS,
        "additionalProperties": True,
    }


def _payload_schemas() -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    """Every payload model's JSON schema, nested models hoisted into components/schemas."""
    models = [(spec.model, SCHEMA_MODE) for spec in EVENT_TYPES.values()]
    refs, definitions = models_json_schema(models, ref_template=_SCHEMA_REF)
    by_model = {model: ref for (model, _mode), ref in refs.items()}
    return by_model, dict(sorted(definitions.get("$defs", {}).items()))


def _examples(spec: EventSpec) -> list[dict[str, Any]]:
    examples = []
    for name, document in golden.samples_for(spec.type, spec.version):
        key, _value, headers = binding.to_record(Envelope.model_validate(document))
        examples.append({
            "name": name,
            "summary": f"golden sample {name}.json (record key {key.decode()})",
            "headers": {header: raw.decode() for header, raw in headers},
            "payload": document["data"],
        })
    return examples


def _message(spec: EventSpec, payload_ref: dict[str, Any]) -> dict[str, Any]:
    topic = TOPICS[spec.topic]
    return {
        "name": message_name(spec),
        "title": f"{spec.type} v{spec.version}",
        "summary": spec.description,
        "contentType": "application/json",
        "headers": {"allOf": [
            {"$ref": _SCHEMA_REF.format(model=HEADERS_SCHEMA)},
            {"type": "object", "required": ["ce_type", "ce_schemaversion"], "properties": {
                "ce_type": {"const": spec.type}, "ce_schemaversion": {"const": str(spec.version)}}},
        ]},
        "payload": payload_ref,
        "bindings": {"kafka": {
            "key": {"type": "string", "description": f"Partition key: {topic.key}"},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }},
        "examples": _examples(spec),
    }


def _channels(topic: TopicSpec, messages: list[str]) -> dict[str, dict[str, Any]]:
    refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    retention_ms = topic.retention_days * 24 * 3600 * 1000
    return {
        topic.name: {
            "address": topic.name,
            "title": topic.name,
            "description": (
                f"{topic.description}. Partition key: `{topic.key}` (ordering holds per key). "
                f"{topic.partitions} partitions, retention {topic.retention_days} days. "
                f"Poison records go to `{topic.dlq}`."
            ),
            "messages": refs,
            "bindings": {"kafka": {
                "partitions": topic.partitions,
                "topicConfiguration": {"cleanup.policy": ["delete"], "retention.ms": retention_ms},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }},
        },
        topic.dlq: {
            "address": topic.dlq,
            "title": topic.dlq,
            "description": (
                f"Dead letters of `{topic.name}`: the original record (same key, value and ce_ headers) "
                "a consumer could not process, plus headers giving the reason."
            ),
            "messages": refs,
        },
    }


def _operation(channel: str, messages: list[str]) -> dict[str, Any]:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": f"Publish to {channel}",
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }


def _package_version() -> str:
    try:
        return version("parley-contracts")
    except PackageNotFoundError:  # running from a bare source tree
        return "0.0.0"


def document() -> dict[str, Any]:
    """The AsyncAPI document as plain data, in a stable order."""
    payload_refs, schemas = _payload_schemas()
    schemas[HEADERS_SCHEMA] = _headers_schema()
    specs = sorted(EVENT_TYPES.values(), key=message_name)
    messages = {message_name(spec): _message(spec, payload_refs[spec.model]) for spec in specs}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted(TOPICS.values(), key=lambda t: t.name):
        names = [message_name(spec) for spec in specs if spec.topic == topic.name]
        for channel, body in _channels(topic, names).items():
            channels[channel] = body
            operations[f"send.{channel}"] = _operation(channel, names)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Parley events",
            "version": _package_version(),
            "description": (
                "Every event Parley services exchange on Kafka: a CloudEvents 1.0 envelope (binary content "
                "mode: attributes in ce_ headers, the JSON payload as the record value) around a typed, "
                "versioned payload. Changes are additive; see docs/contracts.md."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


class _Dumper(yaml.SafeDumper):
    """Spells shared sub-objects out in full: anchors and aliases (&id001) confuse AsyncAPI tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render() -> str:
    """The AsyncAPI document as YAML; byte-identical for an unchanged registry."""
    body = yaml.dump(
        document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False
    )
    return _BANNER + body


def _default_output() -> Path:
    """docs/asyncapi.yaml at the workspace root above the current directory (else under it)."""
    cwd = Path.cwd().resolve()
    for directory in (cwd, *cwd.parents):
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text(encoding="utf-8"):
            return directory / DEFAULT_OUTPUT
    return cwd / DEFAULT_OUTPUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m parley.contracts.asyncapi", description="Generate or check docs/asyncapi.yaml."
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the document to --output")
    action.add_argument("--check", action="store_true", help="exit 1 when --output differs from the registry")
    parser.add_argument("--output", type=Path, help="default: docs/asyncapi.yaml at the workspace root")
    args = parser.parse_args(argv)
    output: Path = args.output or _default_output()
    rendered = render()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != rendered:
            print(f"{os.path.relpath(output)} is stale: run make asyncapi", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    if args.write:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(rendered, encoding="utf-8", newline="\n")
        print(f"wrote {output}")
        return 0
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
