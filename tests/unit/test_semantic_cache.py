"""The compiled-layer cache: reused while the layer's files are unchanged, rebuilt as soon as one changes."""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path

import pytest

from ktx.semantic.cache import cache_path, forget_loaded, load_engine

ORDERS = """\
name: orders
table: public.orders
grain: [id]
columns:
  - {name: id, type: number}
  - {name: amount, type: number}
  - {name: customer_id, type: number}
joins:
  - {to: customers, on: customer_id = customers.id, relationship: many_to_one}
measures:
  - {name: revenue, expr: sum(amount)}
"""
CUSTOMERS = """\
name: customers
table: public.customers
grain: [id]
columns:
  - {name: id, type: number}
  - {name: segment, type: string}
"""
QUERY = {"measures": ["orders.revenue"], "dimensions": ["customers.segment"]}
AN_HOUR_AGO = time.time() - 3600


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    (tmp_path / ".ktx").mkdir()
    folder = tmp_path / "semantic-layer" / "warehouse"
    folder.mkdir(parents=True)
    write(folder / "orders.yaml", ORDERS)
    write(folder / "customers.yaml", CUSTOMERS)
    return folder


def write(path: Path, text: str, when: float = AN_HOUR_AGO) -> None:
    """Files written a while ago: a layer edited within the last seconds is never cached (racy timestamps)."""
    path.write_text(text)
    os.utime(path, (when, when))


def compile_sql(folder: Path, dialect: str = "postgres") -> str:
    root = folder.parents[1]
    engine, _ = load_engine(root, folder, "warehouse", dialect)
    return engine.compile(QUERY).sql


def test_second_load_comes_from_the_cache_and_compiles_the_same(layer: Path) -> None:
    first = compile_sql(layer)
    saved = cache_path(layer.parents[1], "warehouse", "postgres")
    assert saved.is_file()
    stamp = saved.stat().st_mtime_ns
    assert compile_sql(layer) == first
    assert saved.stat().st_mtime_ns == stamp  # read, not rewritten


def test_a_process_compiles_again_from_what_it_loaded_without_reading_the_cache_file(layer: Path) -> None:
    first_engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    saved = cache_path(layer.parents[1], "warehouse", "postgres")
    saved.unlink()
    engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    assert engine is first_engine and not saved.exists()
    compiled = engine.compile(QUERY)
    compiled.plan["tampered"] = True  # what one caller does to its answer does not reach the next one
    compiled.columns.clear()
    again = engine.compile(QUERY)
    assert "tampered" not in again.plan and again.columns and again.sql == compiled.sql
    write(layer / "orders.yaml", ORDERS.replace("sum(amount)", "avg(amount)"), AN_HOUR_AGO + 60)
    assert "AVG(orders.amount)" in compile_sql(layer)


def test_a_question_asked_again_of_an_unchanged_layer_is_not_compiled_again(layer: Path, monkeypatch) -> None:
    from ktx.semantic.compiler import SemanticEngine
    from ktx.semantic.layer import build_engine

    compiled = []
    original = SemanticEngine._compile
    monkeypatch.setattr(SemanticEngine, "_compile", lambda self, q: compiled.append(q) or original(self, q))
    root = layer.parents[1]
    first = build_engine(root, "warehouse", "postgres")[0].compile(QUERY)
    again = build_engine(root, "warehouse", "postgres")[0].compile(dict(QUERY))  # each call builds its engine
    assert again.sql == first.sql and len(compiled) == 1
    picked = build_engine(root, "warehouse", "postgres", ambiguous_paths="pick")[0].compile(QUERY)
    assert picked.sql == first.sql and len(compiled) == 2  # another path policy is another question


def test_an_edited_measure_is_picked_up(layer: Path) -> None:
    assert "SUM(orders.amount)" in compile_sql(layer)
    write(layer / "orders.yaml", ORDERS.replace("sum(amount)", "max(amount)"), AN_HOUR_AGO + 60)
    assert "MAX(orders.amount)" in compile_sql(layer)


def test_an_edit_that_keeps_the_size_is_picked_up(layer: Path) -> None:
    compile_sql(layer)
    write(layer / "orders.yaml", ORDERS.replace("sum(amount)", "min(amount)"), AN_HOUR_AGO + 60)
    assert "MIN(orders.amount)" in compile_sql(layer)


def test_added_and_removed_files_are_picked_up(layer: Path) -> None:
    compile_sql(layer)
    write(layer / "customers_overlay.yaml", "name: customers\nmeasures:\n  - {name: people, expr: count(*)}\n")
    engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    assert "COUNT(*) AS people" in engine.compile({"measures": ["customers.people"]}).sql
    (layer / "customers_overlay.yaml").unlink()
    engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    with pytest.raises(Exception, match="people"):
        engine.compile({"measures": ["customers.people"]})


def test_each_dialect_has_its_own_entry(layer: Path) -> None:
    assert "LIMIT 1000" in compile_sql(layer, "postgres")
    assert "TOP 1000" in compile_sql(layer, "tsql")
    assert "LIMIT 1000" in compile_sql(layer, "postgres")


def test_a_corrupt_or_foreign_cache_file_is_replaced_and_never_unpickled(layer: Path, tmp_path: Path) -> None:
    expected = compile_sql(layer)
    saved = cache_path(layer.parents[1], "warehouse", "postgres")
    saved.write_bytes(b"not a pickle")
    forget_loaded()  # as a new process: it reads the file
    assert compile_sql(layer) == expected
    header = saved.read_bytes().split(b"\n", 1)[0]
    assert header.startswith(b"ktx-semantic-cache ")
    # A planted file (e.g. committed to a cloned repo) with a stale fingerprint is not unpickled at all.
    marker = tmp_path / "pwned"
    planted = pickle.dumps(_Plant(str(marker)))
    saved.write_bytes(b"ktx-semantic-cache 1 0000\n" + planted)
    forget_loaded()
    assert compile_sql(layer) == expected
    assert not marker.exists()
    assert saved.read_bytes().startswith(header + b"\n")


class _Plant:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_just_edited_layer_is_not_cached(layer: Path) -> None:
    write(layer / "orders.yaml", ORDERS, time.time())
    compile_sql(layer)
    assert not cache_path(layer.parents[1], "warehouse", "postgres").exists()


def test_a_bad_file_is_an_error_every_time_not_a_stale_success(layer: Path) -> None:
    compile_sql(layer)
    write(layer / "orders.yaml", ORDERS + "  - {name: broken\n", AN_HOUR_AGO + 60)
    for _ in range(2):
        with pytest.raises(Exception, match="YAML parse error"):
            compile_sql(layer)


def test_without_a_ktx_directory_nothing_is_written(layer: Path) -> None:
    (layer.parents[1] / ".ktx").rmdir()
    compile_sql(layer)
    assert not (layer.parents[1] / ".ktx").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the directory watch is Linux's inotify")
def test_an_unchanged_layer_is_not_statted_again_and_any_change_below_it_is_seen(layer: Path, monkeypatch) -> None:
    from ktx.semantic import cache

    taken: list[Path] = []
    real = cache.fingerprint
    monkeypatch.setattr(cache, "fingerprint", lambda folder, dialect: taken.append(folder) or real(folder, dialect))
    nested = layer / "more" / "deeper"
    nested.mkdir(parents=True)
    write(nested / "customers_overlay.yaml", "name: customers\nmeasures:\n  - {name: people, expr: count(*)}\n")
    first = compile_sql(layer)
    assert compile_sql(layer) == first and compile_sql(layer) == first and len(taken) == 1
    # an edit in a subfolder's file (its folder, not the layer's, sees it)
    write(nested / "customers_overlay.yaml", "name: customers\nmeasures:\n  - {name: people, expr: count(id)}\n")
    engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    assert "COUNT(customers.id) AS people" in engine.compile({"measures": ["customers.people"]}).sql
    # a file in a folder made after the watch was set up
    newer = nested / "newest"
    newer.mkdir()
    write(newer / "orders_overlay.yaml", "name: orders\nmeasures:\n  - {name: biggest, expr: max(amount)}\n")
    engine, _ = load_engine(layer.parents[1], layer, "warehouse", "postgres")
    assert "MAX(orders.amount) AS biggest" in engine.compile({"measures": ["orders.biggest"]}).sql
    assert len(taken) == 3
    assert compile_sql(layer) == first and len(taken) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the directory watch is Linux's inotify")
def test_only_the_layers_used_last_are_watched(tmp_path: Path, monkeypatch) -> None:
    from ktx.semantic import cache

    monkeypatch.setattr(cache, "MAX_WATCHED", 2)
    forget_loaded()
    layers = []
    for name in ("a", "b", "c"):
        folder = tmp_path / name / "semantic-layer" / "warehouse"
        folder.mkdir(parents=True)
        write(folder / "orders.yaml", ORDERS)
        write(folder / "customers.yaml", CUSTOMERS)
        layers.append(folder)
    first = [compile_sql(folder) for folder in layers]
    assert sorted(key[0] for key in cache._WATCHED) == sorted(str(f) for f in layers[1:])  # a's watch let go
    write(layers[0] / "orders.yaml", ORDERS.replace("sum(amount)", "max(amount)"), AN_HOUR_AGO + 60)
    assert "MAX(orders.amount)" in compile_sql(layers[0]) and compile_sql(layers[2]) == first[2]
    assert len(cache._WATCHED) == 2
    forget_loaded()
    assert cache._WATCHED == {}
