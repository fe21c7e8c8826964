"""Pure logic of the CRM features: keyword matching and the export encoders."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from parley.conversation.consent_schemas import KeywordsIn, OptOutIn
from parley.conversation.exports import _Encoder
from parley.conversation.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, match, normalize


@pytest.mark.parametrize(("said", "expected"), [
    ("STOP", "STOP"), ("stop", "STOP"), ("  Stop!!", "STOP"), ("Sáir", "SAIR"), ("PARAR.", "PARAR"),
    ("cancelar", "CANCELAR"), ("Dar  de   baja", "DAR DE BAJA"), ("ＳＴＯＰ", "STOP"),
])
def test_default_opt_out_keywords_match_whatever_the_case_accents_or_punctuation(said, expected):
    found = match(said, DEFAULT_OPT_OUT, DEFAULT_OPT_IN)
    assert found is not None and (found.kind, found.keyword) == ("opt_out", expected)


@pytest.mark.parametrize("said", ["please stop", "stopped", "", None, "🛑", "sair agora"])
def test_a_keyword_inside_a_sentence_or_no_text_is_not_an_opt_out(said):
    assert match(said, DEFAULT_OPT_OUT, DEFAULT_OPT_IN) is None


def test_opt_in_keywords_are_recognised():
    assert match("Voltar", DEFAULT_OPT_OUT, DEFAULT_OPT_IN).kind == "opt_in"
    assert normalize("  Ação\tJá ") == "acao ja"


def test_keyword_configuration_refuses_overlaps_and_empty_lists():
    with pytest.raises(ValidationError):
        KeywordsIn(opt_out=["Stop"], opt_in=["stóp"])
    with pytest.raises(ValidationError):
        KeywordsIn(opt_out=[])


@pytest.mark.parametrize(("given", "stored"), [("+55 (11) 98765-4321", "5511987654321"),
                                               ("14155550100", "14155550100")])
def test_numbers_are_stored_as_wa_ids(given, stored):
    assert OptOutIn(wa_id=given).wa_id == stored


@pytest.mark.parametrize("given", ["0123456789", "12345", "+1 555 CALL ME", "1" * 16])
def test_impossible_numbers_are_refused(given):
    with pytest.raises(ValidationError):
        OptOutIn(wa_id=given)


ROW = {"id": UUID(int=1), "name": "=cmd|' /C calc'!A0", "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
       "value": Decimal("10.50"), "content": {"text": {"body": "olá, \"x\""}}, "ok": True, "none": None}
COLUMNS = tuple(ROW)


def _encode(fmt, rows):
    encoder = _Encoder(fmt, COLUMNS)
    for row in rows:
        encoder.write(row)
    encoder.finish()
    return encoder.take()


def test_csv_has_a_header_defused_formulas_and_json_cells():
    [parsed] = list(csv.DictReader(io.StringIO(_encode("csv", [ROW]))))
    assert parsed["name"] == "'=cmd|' /C calc'!A0"
    assert parsed["at"] == "2026-01-02T03:04:05+00:00" and parsed["value"] == "10.50" and parsed["ok"] == "true"
    assert json.loads(parsed["content"]) == ROW["content"] and parsed["none"] == ""


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_is_one_valid_array_and_ndjson_one_document_per_line(count):
    documents = json.loads(_encode("json", [ROW] * count))
    assert len(documents) == count
    lines = _encode("ndjson", [ROW] * count).splitlines()
    assert [json.loads(line)["value"] for line in lines] == ["10.50"] * count
    if count:
        assert documents[0]["name"] == ROW["name"], "JSON keeps values as they are"
