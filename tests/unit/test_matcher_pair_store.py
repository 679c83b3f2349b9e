"""The matcher's compact pair scores (services/matcher/pair_store.py) against a plain
dict model over random operations, plus the table records' marks (old and new layout)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.matcher.engine import EmployeeState, employee_record, record_marks
from services.matcher.pair_store import OpportunityIds, PairScores, merge_pairs, split_pairs


def _check_equal(store: PairScores, model: dict[str, dict[str, int]], opps: list[str]) -> None:
    assert store.as_dict() == {e: r for e, r in model.items() if r}
    holders: dict[str, set[str]] = {}
    for e, r in model.items():
        for o in r:
            holders.setdefault(o, set()).add(e)
    assert store.holders_as_dict() == holders
    for o in opps:
        assert sorted(store.holders(o)) == sorted(holders.get(o, ()))
    assert store.pair_count == sum(len(r) for r in model.values())
    assert len(store) == sum(1 for r in model.values() if r)


@pytest.mark.parametrize("seed", range(8))
def test_the_store_equals_a_dict_over_random_operations(seed):
    rnd = random.Random(seed)
    ids = OpportunityIds()
    opps = [f"O{i}" for i in range(40)]
    emps = [f"E{i}" for i in range(25)]
    start = {e: {o: rnd.randint(0, 100) for o in rnd.sample(opps, rnd.randint(0, 12))} for e in emps[:10]}
    store = PairScores.build(start.items(), ids)
    model = {e: dict(r) for e, r in start.items()}
    _check_equal(store, model, opps)
    for step in range(600):
        e, o = rnd.choice(emps), rnd.choice(opps)
        op = rnd.random()
        if op < 0.45:
            s = rnd.randint(0, 100)
            store.set(e, o, s)
            model.setdefault(e, {})[o] = s
        elif op < 0.65:
            store.set(e, o, None)
            model.get(e, {}).pop(o, None)
        elif op < 0.85:
            row = {x: rnd.randint(0, 100) for x in rnd.sample(opps, rnd.randint(0, 15))}
            store.put(e, row)
            model[e] = dict(row)
        else:
            store.remove(e)
            model.pop(e, None)
        for x in (e, rnd.choice(emps)):
            assert store.row(x) == model.get(x, {})
            for y in (o, rnd.choice(opps)):
                assert store.score(x, y) == model.get(x, {}).get(y)
            assert (x in store) == bool(model.get(x))
        if step % 50 == 0:
            _check_equal(store, model, opps)
    _check_equal(store, model, opps)


def test_opportunity_ids_are_shared_and_never_reused():
    ids = OpportunityIds()
    a, b = PairScores(ids), PairScores(ids)
    a.put("E1", {"O1": 50, "O2": 60})
    b.put("E2", {"O2": 70, "O3": 80})
    assert [ids.get(o) for o in ("O1", "O2", "O3")] == [0, 1, 2]
    a.remove("E1")
    b.put("E3", {"O9": 1})
    assert ids.get("O1") == 0 and ids.get("O9") == 3  # not recycled
    assert a.row("E1") == {} and a.holders("O1") == [] and b.row("E2") == {"O2": 70, "O3": 80}


def test_scores_are_percents():
    store = PairScores()
    with pytest.raises(ValueError):
        store.set("E1", "O1", 101)
    with pytest.raises(ValueError):
        store.put("E1", {"O1": -1})
    store.put("E1", {"O1": 0, "O2": 100})  # 0: a marked pair whose opportunity scores nothing now
    assert store.row("E1") == {"O1": 0, "O2": 100}
    assert store.nbytes == 10  # 5 bytes a pair


def test_merge_and_split_give_the_crossing_rule_its_pairs_back():
    scores = {"O1": 85, "O2": 40, "O3": 100}
    marks = {"O1": [80, False], "O3": [80, True]}
    pairs = merge_pairs(scores, marks)
    assert pairs == {"O1": [85, 80, False], "O2": [40, 0, False], "O3": [100, 80, True]}
    assert split_pairs(pairs) == (scores, marks)
    assert merge_pairs({}, {"O4": [70, False]}) == {"O4": [0, 70, False]}  # a mark without a score


def _emp() -> EmployeeState:
    return EmployeeState("E1", 3, {"sql": (3, "verified")}, 80)


def test_a_record_keeps_only_the_marks_of_the_pairs_that_carry_one():
    rec = employee_record(_emp(), {"O1": [85, 80, False], "O2": [40, 0, False], "O3": [100, 80, True]}, [1, "fp"],
                          {"O1": [1, 0]})
    assert "pairs" not in rec
    assert rec["marks"] == {"O1": [80, False], "O3": [80, True]}
    assert record_marks(rec) == rec["marks"]
    assert EmployeeState.from_json(rec) == _emp()
    bare = employee_record(_emp(), {"O2": [40, 0, False]}, [1, "fp"])
    assert "marks" not in bare and record_marks(bare) == {} and record_marks(None) == {}


def test_a_record_written_by_the_previous_version_loads_its_marks_and_drops_its_scores():
    legacy = _emp().to_json()
    legacy["pairs"] = {"O1": [85, 80, False], "O2": [40, 0, False], "O3": [100, 80, True], "O4": [30, 0, True]}
    legacy["sv"] = [1, "fp"]
    legacy["x"] = {"O1": [1, 0], "O3": [1, 1]}
    assert record_marks(legacy) == {"O1": [80, False], "O3": [80, True], "O4": [0, True]}
    assert EmployeeState.from_json(legacy) == _emp()
    # rewritten, it has the new layout
    again = employee_record(EmployeeState.from_json(legacy), merge_pairs({}, record_marks(legacy)), legacy["sv"],
                            legacy["x"])
    assert "pairs" not in again and again["marks"] == record_marks(legacy)


def test_packed_rows_build_the_same_store():
    ids = OpportunityIds()
    rows = {"E1": {"O3": 40, "O1": 90}, "E2": {"O2": 35}, "E3": {}}
    built = PairScores.build(rows.items(), ids)
    packed = PairScores.from_packed(
        ((e, PairScores.pack(np.array([ids.intern(o) for o in r], dtype=np.int32), np.array(list(r.values()))))
         for e, r in rows.items()), ids)
    assert packed.as_dict() == built.as_dict() == {"E1": {"O1": 90, "O3": 40}, "E2": {"O2": 35}}
    assert packed.holders_as_dict() == built.holders_as_dict()
    with pytest.raises(ValueError):
        PairScores.pack(np.array([1, 1]), np.array([5, 6]))  # one opportunity twice
    with pytest.raises(ValueError):
        PairScores.pack(np.array([1]), np.array([300]))
