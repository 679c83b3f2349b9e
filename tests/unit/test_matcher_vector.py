"""The vectorised core (services/matcher/vector.py) against the scalar scorer.

Random employees and opportunities drawn from the real taxonomy (clustered so
that most pairs share a skill or a related one), weights and levels chosen so
that many pairs land exactly on a whole percent and on the threshold: both
products (an employee against every opportunity, an opportunity against every
employee) must give ``score_match``'s percent and must-have qualification for
every pair. ``ITM_MATCHER_PROPERTY_PAIRS`` sets the number of pairs per
configuration (default a few thousand; e.g. 120000 for the full count).
"""

from __future__ import annotations

import math
import os
import random
from fractions import Fraction

import pytest

from itm.taxonomy import Taxonomy
from services.matcher.scoring import EvidenceFactors, Requirement, SkillEvidence, _q, merge_requirements, score_match
from services.matcher.vector import SkillHolders, VectorScorer

PAIRS = int(os.environ.get("ITM_MATCHER_PROPERTY_PAIRS", "3000"))
STATUSES = ["verified", "verified", "inferred", "claimed", "claimed", "aspirational"]
WEIGHTS = [1.0, 1.0, 1.0, 2.0, 3.0, 0.5, 0.1, 0.2, 0.3, 0.25, 1.5, 0.7, 4.0]


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.load_default()


def _org(taxonomy, rnd: random.Random, n_emp: int, n_opp: int, weights=WEIGHTS):
    ids = sorted(taxonomy.ids())
    related = taxonomy.related_view
    # a cluster: a few skills and everything related to them, so pairs overlap
    clusters = []
    for _ in range(min(24, max(4, n_opp // 8))):
        core = rnd.sample(ids, 4)
        pool = set(core)
        for s in core:
            pool |= set(related(s))
        clusters.append(sorted(pool))
    opps = {}
    for j in range(n_opp):
        pool = rnd.choice(clusters)
        if rnd.random() < 0.4:  # "round" ones: equal weights, levels and counts that give whole percents
            w = rnd.choice([0.1, 0.2, 0.3, 1.0, 0.7])
            reqs = [Requirement(rnd.choice(pool), rnd.choice([1, 2, 4, 5]), w, rnd.random() < 0.25)
                    for _ in range(rnd.choice([1, 2, 4, 5]))]
        else:
            reqs = [Requirement(rnd.choice(pool), rnd.randint(1, 5), rnd.choice(weights), rnd.random() < 0.25)
                    for _ in range(rnd.randint(1, 6))]
        if rnd.random() < 0.1:  # a skill listed twice: merged
            r = rnd.choice(reqs)
            reqs.append(Requirement(r.skill_id, rnd.randint(1, 5), rnd.choice(weights), rnd.random() < 0.5))
        if rnd.random() < 0.02:
            reqs = []
        opps[f"O{j}"] = reqs
    emps = {}
    for i in range(n_emp):
        pool = rnd.choice(clusters) + (rnd.choice(clusters) if rnd.random() < 0.5 else [])
        skills = {}
        for s in rnd.sample(pool, min(len(pool), rnd.randint(1, 10))):
            skills[s] = (rnd.randint(1, 5), rnd.choice(STATUSES))
        if rnd.random() < 0.3:
            skills[rnd.choice(ids)] = (rnd.randint(1, 5), rnd.choice(STATUSES))
        emps[f"E{i}"] = skills
    return emps, opps


def _exact(reqs, skills, factors, related, cap) -> Fraction:
    """The score as an exact fraction, independently of both scorers (to count boundary pairs)."""
    reqs = merge_requirements(reqs)
    if not reqs:
        return Fraction(1)
    num = den = Fraction(0)
    for r in reqs:
        best = Fraction(0)
        if r.skill_id in skills:
            lv, st = skills[r.skill_id]
            best = _q(factors.factor(st)) * Fraction(min(lv, r.min_level), r.min_level)
        for t, strength in (related(r.skill_id) or {}).items():
            if t != r.skill_id and strength > 0 and t in skills:
                lv, st = skills[t]
                c = _q(min(strength, 1.0)) * _q(factors.factor(st)) * Fraction(min(lv, r.min_level), r.min_level)
                best = max(best, min(c, _q(cap)))
        w = _q(r.weight)
        num += w * best
        den += w
    return num / den


CONFIGS = {
    "default": (EvidenceFactors(), 0.5, WEIGHTS),
    "other factors and cap": (EvidenceFactors(verified=1.0, inferred=0.75, claimed=0.35, aspirational=0.1), 0.45,
                              WEIGHTS),
    # weights whose decimals do not fit the exact integer product: scored by score_match instead
    "long decimals": (EvidenceFactors(), 0.5, WEIGHTS + [1 / 3, 2 / 7]),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_both_products_equal_the_scalar_scorer(taxonomy, config):
    factors, cap, weights = CONFIGS[config]
    related = taxonomy.related_view
    rnd = random.Random(f"vector-{config}-{PAIRS}")
    n_opp = max(20, int((PAIRS / 1.6) ** 0.5))
    n_emp = max(20, -(-PAIRS // int(n_opp * 0.9)))  # a twentieth of the opportunities is dropped below
    emps, opps = _org(taxonomy, rnd, n_emp, n_opp, weights)
    vec = VectorScorer(factors, related, cap)
    for oid, reqs in opps.items():
        vec.put(oid, reqs)
    # re-index some (columns are reused) and drop some: the products must follow
    for oid in rnd.sample(sorted(opps), len(opps) // 10):
        vec.drop(oid)
        if rnd.random() < 0.5:
            opps[oid] = list(reversed(opps[oid]))
            vec.put(oid, opps[oid])
        else:
            del opps[oid]
    holders = SkillHolders()
    for eid, skills in emps.items():
        holders.put(eid, {rnd.choice(sorted(taxonomy.ids())): (1, "claimed")})  # replaced below
    for eid, skills in emps.items():
        holders.put(eid, skills)

    pairs = nonzero = boundary = traps = at_threshold = full = missing_seen = 0
    columns = {oid: vec.score_column(oid, holders) for oid in opps}
    columns = {oid: {holders.ids[i]: (p, m) for i, p, m in zip(s.index.tolist(), s.percent.tolist(),
                                                                 s.missing_must.tolist())}
               for oid, s in columns.items()}
    for eid, skills in emps.items():
        row = vec.scores_for(skills)
        assert set(row) <= set(opps)
        evidence = {s: SkillEvidence(lv, st) for s, (lv, st) in skills.items()}
        for oid, reqs in opps.items():
            ref = score_match(reqs, evidence, factors, related, cap)
            want = (ref.percent, ref.missing_must_have) if ref.percent else None
            assert row.get(oid) == want, (config, eid, skills, oid, reqs)
            assert columns[oid].get(eid) == want, (config, eid, skills, oid, reqs)
            exact = _exact(reqs, skills, factors, related, cap) * 100
            assert ref.percent == exact.numerator // exact.denominator
            pairs += 1
            nonzero += ref.percent > 0
            traps += math.floor(ref.score * 100) != ref.percent  # a float floor would be wrong here
            boundary += exact.denominator == 1 and 0 < exact < 100
            at_threshold += exact == 80
            full += ref.percent == 100
            missing_seen += ref.missing_must_have and ref.percent > 0
    counts = dict(pairs=pairs, nonzero=nonzero, whole=boundary, float_traps=traps, at_80=at_threshold,
                  full=full, missing_must=missing_seen)
    print(config, counts)
    assert pairs >= PAIRS
    # the draw exercises what matters: exact whole percents, pairs where a float floor is a point short,
    # the default threshold itself, 100 %, missing must-haves
    assert boundary >= nonzero // 10 and traps >= 1 and at_threshold >= 1 and full >= 1 and missing_seen >= 1, counts


def test_exact_boundaries_by_hand():
    """Hand-made pairs whose floats land a hair below a whole percent."""
    vec = VectorScorer(EvidenceFactors(), None, 0.5)
    cases = [
        # inferred at the level: exactly 80 (0.8 * 1.0)
        ([Requirement("a", 3)], {"a": (3, "inferred")}, 80),
        # 0.1 + 0.2 + 0.7 weights: (0.1 + 0.7) / 1.0 = 80 % exactly; the float sum is 0.7999999999999999
        ([Requirement("a", 1, 0.1), Requirement("b", 1, 0.2), Requirement("c", 1, 0.7)],
         {"a": (1, "verified"), "c": (1, "verified")}, 80),
        # three requirements of weight 0.1: 2/3 -> 66
        ([Requirement("a", 1, 0.1), Requirement("b", 1, 0.1), Requirement("c", 1, 0.1)],
         {"a": (5, "verified"), "b": (2, "verified")}, 66),
        # claimed at 3/5 of the level: 0.5 * 0.6 = 30 % exactly
        ([Requirement("a", 5)], {"a": (3, "claimed")}, 30),
        # everything verified at the level: 100
        ([Requirement("a", 2, 0.3), Requirement("b", 4, 0.7)], {"a": (2, "verified"), "b": (5, "verified")}, 100),
    ]
    for i, (reqs, skills, percent) in enumerate(cases):
        vec.put(f"O{i}", reqs)
        ev = {s: SkillEvidence(lv, st) for s, (lv, st) in skills.items()}
        assert score_match(reqs, ev).percent == percent
        assert vec.scores_for(skills)[f"O{i}"] == (percent, False)
        vec.drop(f"O{i}")


def test_related_credit_is_capped_and_must_haves_need_the_skill_itself():
    related = {"a": {"b": 0.9}, "b": {"a": 0.9}}.get
    vec = VectorScorer(EvidenceFactors(), related, 0.5)
    vec.put("O", [Requirement("a", 2, 1.0, True), Requirement("c", 1, 1.0)])
    holders = SkillHolders()
    holders.put("E", {"b": (5, "verified"), "c": (1, "verified")})
    # b earns min(0.5, 0.9) towards a; c is full: (0.5 + 1) / 2 = 75 %, and the must-have a is missing
    assert vec.scores_for({"b": (5, "verified"), "c": (1, "verified")}) == {"O": (75, True)}
    col = vec.score_column("O", holders)
    assert (col.percent.tolist(), col.missing_must.tolist()) == ([75], [True])
    ref = score_match([Requirement("a", 2, 1.0, True), Requirement("c", 1, 1.0)],
                      {"b": SkillEvidence(5, "verified"), "c": SkillEvidence(1, "verified")}, related=related)
    assert (ref.percent, ref.missing_must_have) == (75, True)
    # aspirational evidence of a must-have skill is no evidence
    assert vec.scores_for({"a": (5, "aspirational"), "c": (1, "verified")}) == {"O": (50, True)}


def test_a_new_strength_denominator_recomputes_the_common_denominator():
    related = {"a": {"b": 0.37}, "b": {"a": 0.37}}.get
    vec = VectorScorer(EvidenceFactors(), None, 0.5)
    vec.put("O1", [Requirement("x", 3)])
    before = vec.denominator
    vec.related = related
    vec.put("O2", [Requirement("a", 3)])
    assert vec.denominator % 100 == 0 and vec.denominator != before
    assert vec.scores_for({"b": (3, "verified"), "x": (2, "verified")}) == {"O1": (66, False), "O2": (37, False)}


def test_the_crossing_rule_on_vector_scores_equals_the_scalar_path(taxonomy):
    """What the matcher does with a vectorised score (``Matcher.decide``) is what it did with
    the scalar scorer (``Matcher.evaluate``): the same pair, crossing (explanation included)
    and match.updated, over random pairs, previous states and thresholds."""
    from services.matcher.engine import EmployeeState, Matcher, OpportunityState, Replica

    related = taxonomy.related_view
    rnd = random.Random("vector-decide")
    emps, opps = _org(taxonomy, rnd, 40, 40)
    replica = Replica(related, VectorScorer(EvidenceFactors(), related, 0.5))
    states = {}
    for oid, reqs in opps.items():
        opp = OpportunityState(oid, 1, f"title {oid}", 1, True, reqs, owner_id="E3")
        replica.put(opp)
        states[oid] = opp
    crossings = 0
    for floor in (0, 30):
        engine = Matcher(EvidenceFactors(), related, 0.5, 80, 1, pair_floor=floor)
        for eid, skills in emps.items():
            emp = EmployeeState(eid, 1, skills, threshold=rnd.choice([0, 0, 50, 70, 80, 100]),
                                types=rnd.choice([[], [], [1], [2]]))
            row = replica.vector.scores_for(skills)
            for oid, opp in states.items():
                prev = rnd.choice([None, None, [rnd.randint(1, 100), rnd.choice([0, 0, 80]), rnd.random() < 0.2]])
                want = engine.evaluate(emp, opp, prev, replica, "cause", "type")
                got = engine.decide(emp, opp, prev, *row.get(oid, (0, False)), replica, "cause", "type")
                assert (got.pair, got.crossing, got.updated) == (want.pair, want.crossing, want.updated)
                crossings += want.crossing is not None
    assert crossings >= 10


def test_skill_holders_find_the_employees_a_skill_index_finds():
    """The matcher's rescoring rules ask ``SkillHolders.employees_for`` (with the related
    skills) what ``engine.SkillIndex`` answered from an index of its own (the taxonomy is
    symmetric: holding t related to s is being related to s)."""
    import random

    from itm.taxonomy import Taxonomy
    from services.matcher.engine import EmployeeState, SkillIndex

    tax = Taxonomy.configured()
    rnd = random.Random(3)
    skills = sorted(s.id for s in tax.skills())
    index, holders = SkillIndex(tax.related_view), SkillHolders()
    for i in range(300):
        emp = EmployeeState(f"E{i}", 1, {s: (rnd.randint(1, 5), "claimed") for s in rnd.sample(skills, rnd.randint(1, 8))})
        index.put(emp)
        holders.put(emp.employee_id, emp.skills)
    for i in range(0, 300, 7):
        index.remove(f"E{i}")
        holders.remove(f"E{i}")
    for _ in range(200):
        asked = rnd.sample(skills, rnd.randint(1, 6))
        assert holders.employees_for(asked, tax.related_view) == index.employees_for(asked)
        held = {e: set(holders._skills_of[i]) for e, i in holders.index_of.items()}
        assert holders.employees_for(asked) == {e for e, mine in held.items() if mine & set(asked)}  # no related
