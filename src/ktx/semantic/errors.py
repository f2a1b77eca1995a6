"""The semantic layer's error, in a module of its own: checking a query's shape (`SemanticQuery.parse`) must not
import sqlglot, which a repeated `ktx sl query` answered from the compiled-query cache never needs."""

from __future__ import annotations

from ktx.errors import KtxError


class CompileError(KtxError):
    """A semantic query (or the model behind it) cannot be compiled; the message says why and what to do."""
