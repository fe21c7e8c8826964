"""docs/contracts.md mirrors the registry's topics (names, keys, dead-letter topics, retention)."""

from pathlib import Path

import pytest

from parley.contracts import EVENT_TYPES, TOPICS

CONTRACTS_MD = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"
ROWS = {
    line.split("|")[1].strip().strip("`"): line
    for line in CONTRACTS_MD.read_text(encoding="utf-8").splitlines()
    if line.startswith("| `")
}


@pytest.mark.parametrize("topic", sorted(TOPICS), ids=str)
def test_topic_table_row_matches_the_registry(topic):
    spec = TOPICS[topic]
    row = ROWS.get(topic)
    assert row is not None, f"docs/contracts.md has no topic row for {topic}"
    assert f"`{spec.dlq}`" in row
    assert f"| {spec.partitions} |" in row
    assert f"{spec.retention_days} days" in row
    assert spec.key.split(" ")[0] in row
    for (event_type, _version), event in EVENT_TYPES.items():
        if event.topic == topic:
            assert f"`{event_type}`" in row, f"{event_type} is missing from the {topic} row"
