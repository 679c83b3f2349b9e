from itm.fairness import Person, format_report, report


def org():
    # Marketing: 8 of 10 qualified (80 %); Finance: 5 of 10 (50 %); Sales: 1 of 2 (tiny)
    people = [Person("Marketing", "Lisbon", i < 8) for i in range(10)]
    people += [Person("Finance", "Lagos", i < 5) for i in range(10)]
    people += [Person("Sales", "Lagos", i < 1) for i in range(2)]
    return people


def test_known_answer_with_four_fifths_flag():
    rows = {(r.dimension, r.group): r for r in report(org())}
    marketing, finance, sales = rows[("department", "Marketing")], rows[("department", "Finance")], rows[("department", "Sales")]
    assert (marketing.rate, marketing.impact_ratio, marketing.flagged) == (0.8, 1.0, False)
    assert (finance.rate, finance.impact_ratio, finance.flagged) == (0.5, 0.625, True)  # 0.5 / 0.8
    assert (sales.impact_ratio, sales.flagged) == (0.625, False)  # too small a group to flag
    lagos, lisbon = rows[("location", "Lagos")], rows[("location", "Lisbon")]
    assert (lagos.employees, lagos.qualified) == (12, 6) and lagos.impact_ratio == 0.625 and lagos.flagged
    assert lisbon.impact_ratio == 1.0


def test_exactly_four_fifths_is_not_flagged_and_no_selection_has_no_ratio():
    people = [Person("A", "x", i < 5) for i in range(5)] + [Person("B", "x", i < 4) for i in range(5)]
    rows = {r.group: r for r in report(people) if r.dimension == "department"}
    assert rows["B"].impact_ratio == 0.8 and not rows["B"].flagged
    none = report([Person("A", "x", False)] * 6)
    assert all(r.impact_ratio is None and not r.flagged for r in none)
    assert "review" in format_report(report(org()))
