"""Message templates: their definitions and Meta's checks of a template send (132001, 132000, 100)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from parley.sandbox.errors import GraphError, invalid

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = {"IMAGE", "VIDEO", "DOCUMENT", "LOCATION"}
PARAMETER_TYPES = {"text", "currency", "date_time", "image", "video", "document", "location", "payload",
                   "coupon_code", "action"}

Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
ParameterFormat = Literal["POSITIONAL", "NAMED"]


@dataclass(frozen=True)
class Template:
    """An approved template; ``components`` use Meta's template-creation shape."""

    name: str
    language: str
    category: Category = "UTILITY"
    parameter_format: ParameterFormat = "POSITIONAL"
    components: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def component(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.components if c.get("type", "").upper() == kind), None)

    def placeholders(self, kind: str) -> list[str]:
        """Parameter names ("1", "2"... when positional) a HEADER or BODY text expects, in order."""
        definition = self.component(kind)
        if definition is None or definition.get("format", "TEXT").upper() != "TEXT":
            return []
        return list(dict.fromkeys(PLACEHOLDER.findall(definition.get("text", ""))))

    def buttons(self) -> list[dict[str, Any]]:
        definition = self.component("BUTTONS")
        return list(definition.get("buttons", [])) if definition else []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "language": self.language, "category": self.category, "status": "APPROVED",
                "parameter_format": self.parameter_format, "components": list(self.components)}


DEFAULT_TEMPLATES: tuple[Template, ...] = (
    Template("hello_world", "en_US", "UTILITY", components=(
        {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
        {"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a "
                                 "WhatsApp message notification from the Cloud API, hosted by Meta."},
        {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
    )),
    Template("order_update", "en_US", "UTILITY", components=(
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
    )),
    Template("appointment_reminder", "en_US", "UTILITY", "NAMED", components=(
        {"type": "BODY", "text": "Hi {{customer_name}}, see you on {{date}}."},
    )),
    Template("seasonal_promotion", "en_US", "MARKETING", components=(
        {"type": "HEADER", "format": "TEXT", "text": "Our {{1}} is on!"},
        {"type": "BODY", "text": "Shop now through {{1}} and use code {{2}} to get {{3}} off."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Unsubscribe from Promos"},
                                        {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}"}]},
    )),
)


def parse_template(payload: dict[str, Any]) -> Template:
    """A template registered through the admin API (Meta's creation shape); raises ``GraphError`` 100."""
    name, language = payload.get("name"), payload.get("language")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
        raise invalid("name must be lowercase letters, digits and underscores")
    if not isinstance(language, str) or not language:
        raise invalid("language is required, e.g. en_US")
    category = str(payload.get("category", "UTILITY")).upper()
    parameter_format = str(payload.get("parameter_format", "POSITIONAL")).upper()
    components = payload.get("components", [])
    if category not in {"MARKETING", "UTILITY", "AUTHENTICATION"}:
        raise invalid("category must be MARKETING, UTILITY or AUTHENTICATION")
    if parameter_format not in {"POSITIONAL", "NAMED"}:
        raise invalid("parameter_format must be POSITIONAL or NAMED")
    if not isinstance(components, list) or not all(isinstance(c, dict) and "type" in c for c in components):
        raise invalid("components must be a list of objects with a type")
    return Template(name, language, category, parameter_format, tuple(components))  # type: ignore[arg-type]


def check_template_send(template: Template, components: Any) -> str:
    """Validate the ``template.components`` of a send against the definition; returns the rendered body."""
    if components is None:
        components = []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise invalid("template.components must be a list of objects")
    given: dict[str, list[dict[str, Any]]] = {}
    for component in components:
        key = _component_key(component)
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
            raise invalid(f"{key}: parameters must be a list of objects")
        for parameter in parameters:
            _check_parameter(key, parameter)
        given[key] = parameters
    _check_text_component(template, "header", given.pop("header", []))
    body = given.pop("body", [])
    _check_text_component(template, "body", body)
    _check_buttons(template, given)
    return _render(template, body)


def _component_key(component: dict[str, Any]) -> str:
    kind = str(component.get("type", "")).lower()
    if kind in {"header", "body"}:
        return kind
    if kind == "button":
        index = component.get("index")
        if component.get("sub_type") is None or index is None or not str(index).isdigit():
            raise invalid("button components need sub_type and a numeric index")
        return f"button:{int(index)}"
    raise invalid(f"unknown template component type {component.get('type')!r}")


def _check_parameter(key: str, parameter: dict[str, Any]) -> None:
    kind = parameter.get("type")
    if kind not in PARAMETER_TYPES:
        raise invalid(f"{key}: parameter type {kind!r} is not supported")
    value = parameter.get(kind)
    if kind == "text" and (not isinstance(value, str) or not value.strip()):
        raise invalid(f"{key}: a text parameter needs a non-empty text")
    if kind != "text" and value is None:
        raise invalid(f"{key}: a {kind} parameter needs its {kind} object")


def _mismatch(template: Template, where: str, expected: int, got: int) -> GraphError:
    return GraphError(132000, f"{where} of template {template.name} ({template.language}) expects {expected} "
                              f"parameter(s), {got} given")


def _check_text_component(template: Template, kind: str, parameters: list[dict[str, Any]]) -> None:
    definition = template.component(kind.upper())
    if kind == "header" and definition and definition.get("format", "TEXT").upper() in MEDIA_FORMATS:
        media = definition["format"].lower()
        if len(parameters) != 1 or parameters[0].get("type") != media:
            raise _mismatch(template, f"header ({media})", 1, len(parameters))
        return
    expected = template.placeholders(kind.upper())
    if len(parameters) != len(expected):
        raise _mismatch(template, kind, len(expected), len(parameters))
    if template.parameter_format == "NAMED":
        names = [p.get("parameter_name") for p in parameters]
        if sorted(map(str, names)) != sorted(expected):
            raise GraphError(132000, f"{kind} of template {template.name} expects the named parameters "
                                     f"{expected}, got {names}")


def _check_buttons(template: Template, given: dict[str, list[dict[str, Any]]]) -> None:
    buttons = template.buttons()
    for key, parameters in given.items():
        index = int(key.split(":")[1])
        if index >= len(buttons):
            raise GraphError(132000, f"template {template.name} has no button at index {index}")
        kind = str(buttons[index].get("type", "")).upper()
        allowed = {"QUICK_REPLY": (0, 1), "COPY_CODE": (1, 1)}.get(
            kind, (len(PLACEHOLDER.findall(buttons[index].get("url", ""))),) * 2)
        if not allowed[0] <= len(parameters) <= allowed[1]:
            raise _mismatch(template, f"button {index}", allowed[1], len(parameters))
    for index, button in enumerate(buttons):
        needs = len(PLACEHOLDER.findall(button.get("url", ""))) if str(button.get("type")).upper() == "URL" else 0
        if str(button.get("type")).upper() == "COPY_CODE":
            needs = 1
        if needs and f"button:{index}" not in given:
            raise _mismatch(template, f"button {index}", needs, 0)


def _render(template: Template, body: list[dict[str, Any]]) -> str:
    definition = template.component("BODY")
    text = definition.get("text", "") if definition else ""
    names = template.placeholders("BODY")
    values: dict[str, str] = {}
    for position, parameter in enumerate(body):
        name = str(parameter.get("parameter_name") or names[position])
        values[name] = str(parameter.get(parameter.get("type"), ""))
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
