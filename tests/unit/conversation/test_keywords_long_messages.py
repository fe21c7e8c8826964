"""A long message is never a keyword, and the shortcut that skips normalizing it never misses a padded keyword."""

from __future__ import annotations

from parley.conversation.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, match


def test_a_keyword_padded_with_punctuation_spaces_and_decomposed_accents_still_matches() -> None:
    padded = "!" * 300 + "  dar      de\tbaja  " + "?!" * 200
    assert match(padded, DEFAULT_OPT_OUT, DEFAULT_OPT_IN).keyword == "DAR DE BAJA"
    decomposed = "s\u0301a\u0301i\u0301r\u0301"  # every letter with a combining accent
    assert match(decomposed, DEFAULT_OPT_OUT, DEFAULT_OPT_IN).keyword == "SAIR"


def test_a_sentence_containing_a_keyword_is_not_one() -> None:
    assert match("please STOP " + "sending me offers " * 20, DEFAULT_OPT_OUT, DEFAULT_OPT_IN) is None
