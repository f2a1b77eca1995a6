"""Search lanes: each reads the index and returns ranked candidates, or says why it was skipped."""

from ktx.search.lanes.dictionary import dictionary
from ktx.search.lanes.lexical import lexical, snippets
from ktx.search.lanes.token import token
from ktx.search.lanes.vector import semantic

__all__ = ["dictionary", "lexical", "semantic", "snippets", "token"]
