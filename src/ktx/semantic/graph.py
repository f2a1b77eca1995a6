"""The join graph: one node per source (plus one per join alias), typed edges in both directions,
and cost-weighted shortest paths that prefer many-to-one hops over fanning out."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from ktx.semantic import sqlexpr, sqltree
from ktx.semantic.model import Join, Source
from ktx.semantic.sqlexpr import CompileError

INVERSE = {"many_to_one": "one_to_many", "one_to_many": "many_to_one", "one_to_one": "one_to_one"}
FAN_OUT_COST = 10
# Which of two joins between the same two sources the graph keeps (lower wins).
PRECEDENCE = {"manual": 0, "projection": 1, "declared": 2, "inferred": 3}


@dataclass(frozen=True)
class Edge:
    frm: str
    to: str
    relationship: str  # read from `frm`: many_to_one means many `frm` rows per `to` row
    pairs: tuple[tuple[exp.Expression, exp.Expression], ...]  # (frm side, to side), columns unqualified
    preferred: bool = False  # `preferred: true` on the join: wins when several paths lead to one node

    @property
    def fans_out(self) -> bool:
        return self.relationship == "one_to_many"

    @property
    def cost(self) -> int:
        return FAN_OUT_COST if self.fans_out else 1

    def reversed(self) -> Edge:
        pairs = tuple((right, left) for left, right in self.pairs)
        return Edge(self.to, self.frm, INVERSE[self.relationship], pairs, self.preferred)

    def condition(self) -> exp.Expression:
        parts = [
            exp.EQ(this=_qualify(left, self.frm), expression=_qualify(right, self.to)) for left, right in self.pairs
        ]
        return sqltree.all_of(parts)

    def column_pairs(self) -> list[tuple[str, str]]:
        return [(_text(left), _text(right)) for left, right in self.pairs]

    def describe(self) -> str:
        conds = " AND ".join(f"{self.frm}.{a} = {self.to}.{b}" for a, b in self.column_pairs())
        return f"{conds} ({self.relationship})"


def _text(node: exp.Expression) -> str:
    return node.name if isinstance(node, exp.Column) else node.sql()


def _qualify(side: exp.Expression, table: str) -> exp.Expression:
    side = sqltree.clone(side)
    for col in [side] if isinstance(side, exp.Column) else list(side.find_all(exp.Column)):
        col.set("table", exp.to_identifier(table))
    return side


_SIMPLE_CLAUSE = re.compile(r"^\s*(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)\s*=\s*(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)\s*$")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def _simple_pairs(on: str, dialect: str) -> tuple[tuple[exp.Expression, exp.Expression], ...] | None:
    """Plain `a = b.c [AND …]` conditions (nearly every join) without the SQL parser: a model's joins are
    parsed on every cold start. Anything else (keywords, quoting, expressions) returns None."""
    keywords = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class.KEYWORDS
    pairs = []
    for clause in _AND.split(on):
        match = _SIMPLE_CLAUSE.match(clause)
        if match is None or any(name.upper() in keywords for name in match.groups()):
            return None
        pairs.append((sqltree.column(match.group(1)), sqltree.column(match.group(2))))
    return tuple(pairs)


def parse_on(on: str, dialect: str) -> tuple[tuple[exp.Expression, exp.Expression], ...]:
    """`customer_id = customers.id AND …` → (local, target) pairs; the left of each `=` is always local."""
    simple = _simple_pairs(on, dialect)
    if simple is not None:
        return simple
    node = sqlexpr.parse(on, dialect, what="join condition")
    pairs = []
    for clause in sqlexpr.split_and(node):
        if not isinstance(clause, exp.EQ) or isinstance(clause.this, exp.EQ) or isinstance(clause.expression, exp.EQ):
            raise CompileError(f"Invalid join condition: '{on}'")
        sides = []
        for side in (clause.this, clause.expression):
            side = side.copy()
            for col in [side] if isinstance(side, exp.Column) else list(side.find_all(exp.Column)):
                col.set("table", None)
                col.set("db", None)
            sides.append(side)
        pairs.append((sides[0], sides[1]))
    return tuple(pairs)


@dataclass
class Path:
    edges: list[Edge]
    cost: int
    ambiguous: bool = False

    @property
    def fans_out(self) -> bool:
        return any(e.fans_out for e in self.edges)


@dataclass
class JoinGraph:
    base: dict[str, str]  # node → source name (aliases map to the joined source)
    adjacency: dict[str, list[Edge]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # joins left out because a higher-precedence one joins the pair
    _paths: dict[tuple[str, bool], dict[str, Path]] = field(default_factory=dict, repr=False)
    _safe: dict[tuple[str, str], tuple[list[list[Edge]], bool]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, sources: dict[str, Source], dialect: str) -> JoinGraph:
        """Joins in order of precedence — a person's, then a context source's, then the warehouse's declared
        keys, then a scan's inferences — and one edge per pair of nodes, in either direction: a later join of the
        same two sources is dropped, and `dropped` says which and why (never whichever was met first)."""
        graph = cls({name: name for name in sources})
        graph.adjacency = {name: [] for name in sources}
        ordered = sorted(
            ((source, join) for source in sources.values() for join in source.joins),
            key=lambda item: PRECEDENCE.get(item[1].origin or "manual", 0),
        )
        owners: dict[frozenset[str], tuple[str, Join]] = {}
        for source, join in ordered:
            pair = frozenset({source.name, join.alias or join.to})
            kept = owners.get(pair)
            if kept is not None and len(pair) == 2:
                owner, winner = kept
                graph.dropped.append(
                    f"Join '{source.name}: {join.on}' ({join.origin or 'manual'}) dropped: '{owner}: {winner.on}' "
                    f"({winner.origin or 'manual'}) already joins {' and '.join(sorted(pair))}"
                )
                continue
            if join.to not in sources:
                graph.errors.append(f"Source '{source.name}' joins to '{join.to}', but '{join.to}' is not defined")
                continue
            try:
                pairs = parse_on(join.on, dialect)
            except CompileError as exc:
                graph.errors.append(f"Source '{source.name}': {exc}")
                continue
            target = join.alias or join.to
            if join.alias:
                if join.alias in graph.base and graph.base[join.alias] != join.to:
                    graph.errors.append(
                        f"Join alias '{join.alias}' on source '{source.name}' clashes with another source or alias"
                    )
                    continue
                graph.base[join.alias] = join.to
                graph.adjacency.setdefault(join.alias, [])
            owners.setdefault(pair, (source.name, join))  # only a usable join claims the pair
            edge = Edge(source.name, target, join.relationship, pairs, join.preferred)
            graph._add(edge)
            if target != source.name:
                graph._add(edge.reversed())
        for edges in graph.adjacency.values():
            edges.sort(key=lambda e: (e.to, e.cost))
        return graph

    def _add(self, edge: Edge) -> None:
        existing = self.adjacency[edge.frm]
        if not any(e.to == edge.to and e.pairs == edge.pairs for e in existing):
            existing.append(edge)

    def safe_paths(self, start: str, target: str, *, limit: int = 6, depth: int = 8) -> tuple[list[list[Edge]], bool]:
        """Distinct join paths from `start` to `target` that never fan out (simple paths, at most `depth` hops),
        up to `limit` of them, and whether the search was complete (a bounded walk on a large graph may stop)."""
        key = (start, target)
        cached = self._safe.get(key)
        if cached is not None:
            return cached
        found: list[list[Edge]] = []
        budget = [20_000]
        complete = True

        def walk(node: str, trail: list[Edge], seen: set[str]) -> None:
            nonlocal complete
            if len(found) >= limit:
                return
            budget[0] -= 1
            if budget[0] < 0:
                complete = False
                return
            for edge in self.adjacency.get(node, []):
                if edge.fans_out or edge.to in seen:
                    continue
                if edge.to == target:
                    found.append([*trail, edge])
                    if len(found) >= limit:
                        return
                elif len(trail) + 1 < depth:
                    walk(edge.to, [*trail, edge], seen | {edge.to})

        walk(start, [], {start})
        self._safe[key] = (found, complete)
        return found, complete

    def shortest_paths(self, start: str, *, safe_only: bool = False) -> dict[str, Path]:
        """Dijkstra from `start`; equal-cost alternatives mark a path ambiguous. `safe_only` never fans out.

        The graph never changes after `build`, so results are cached per start node."""
        cached = self._paths.get((start, safe_only))
        if cached is None:
            cached = self._paths[(start, safe_only)] = self._dijkstra(start, safe_only)
        return cached

    def _dijkstra(self, start: str, safe_only: bool) -> dict[str, Path]:
        dist = {start: 0}
        prev: dict[str, Edge] = {}
        ambiguous: dict[str, bool] = {start: False}
        heap = [(0, start)]
        done: set[str] = set()
        while heap:
            cost, node = heapq.heappop(heap)
            if node in done:
                continue
            done.add(node)
            for edge in self.adjacency.get(node, []):
                if safe_only and edge.fans_out:
                    continue
                new = cost + edge.cost
                if edge.to not in dist or new < dist[edge.to]:
                    dist[edge.to], prev[edge.to] = new, edge
                    ambiguous[edge.to] = ambiguous[node]
                    heapq.heappush(heap, (new, edge.to))
                elif new == dist[edge.to] and edge.to not in done and prev[edge.to].frm != node:
                    ambiguous[edge.to] = True
        paths = {}
        for node in dist:
            edges, current = [], node
            while current != start:
                edges.append(prev[current])
                current = prev[current].frm
            chain_ambiguous = any(ambiguous.get(e.to) for e in edges)
            paths[node] = Path(list(reversed(edges)), dist[node], chain_ambiguous)
        return paths

    def components(self) -> list[list[str]]:
        parent = {n: n for n in self.adjacency}

        def find(n: str) -> str:
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        for edges in self.adjacency.values():
            for edge in edges:
                parent[find(edge.frm)] = find(edge.to)
        for alias, base in self.base.items():
            parent[find(alias)] = find(base)
        groups: dict[str, list[str]] = {}
        for node in self.adjacency:
            if self.base[node] == node:
                groups.setdefault(find(node), []).append(node)
        return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))
