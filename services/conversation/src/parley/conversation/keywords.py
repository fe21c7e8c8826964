"""Opt-out / opt-in keywords: the defaults and how a customer's message is compared with them."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

#: Built-in keywords (English, Portuguese, Spanish) used until a tenant configures its own.
DEFAULT_OPT_OUT = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPT OUT",
                   "SAIR", "PARAR", "CANCELAR", "DESCADASTRAR", "BAJA", "DAR DE BAJA", "ALTO")
DEFAULT_OPT_IN = ("START", "SUBSCRIBE", "UNSTOP", "VOLTAR", "INICIAR", "ALTA")

_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-, accent- and edge-punctuation-insensitive form: ' Sáir! ' and 'SAIR' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", _EDGES.sub("", bare.casefold())).strip()


@functools.lru_cache(maxsize=4096)
def _normalized_keyword(keyword: str) -> str:
    """Keywords repeat for every message: normalized once each (normalizing them was most of the consumer's work)."""
    return normalize(keyword)


@dataclass(frozen=True)
class KeywordMatch:
    kind: Literal["opt_out", "opt_in"]
    keyword: str


def match(text: str | None, opt_out: list[str] | tuple[str, ...],
          opt_in: list[str] | tuple[str, ...]) -> KeywordMatch | None:
    """The configured keyword the whole message equals, if any (a keyword inside a sentence does not count)."""
    if not text:
        return None
    longest = max(map(len, (*opt_out, *opt_in)), default=0)
    # Most messages are sentences: no need to normalize them (the costly part) to see they are too long to be
    # a keyword. Decomposed accents count twice here, and the margin covers them.
    if sum(map(len, _EDGES.sub("", text).split())) > 3 * longest + 8:
        return None
    said = normalize(text)
    for kind, keywords in (("opt_out", opt_out), ("opt_in", opt_in)):
        for keyword in keywords:
            if _normalized_keyword(keyword) == said:
                return KeywordMatch(kind, keyword)  # type: ignore[arg-type]
    return None
