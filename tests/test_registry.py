"""Stable theme ids and lineage on hand-built runs whose answers are known exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from voc.cluster import ThemeClusterer
from voc.errors import ConfigError
from voc.registry import (
    ClusterSnapshot,
    Convergence,
    Curation,
    LineageEvent,
    Matching,
    MatchParams,
    ThemeResult,
    ThemeSnapshot,
    apply_curation,
    match_runs,
    merge_converged,
    pinned_ids,
)

DIM = 8
KEYWORDS = {
    "refund": ("refund", "money", "return", "days", "bank", "wait", "card", "late", "back", "paid"),
    "login": ("login", "password", "reset", "code", "app", "locked", "email", "sms", "fail", "pin"),
    "fees": ("fee", "charge", "monthly", "hidden", "cost", "price", "atm", "abroad", "rate", "pay"),
    "card": ("card", "arrive", "post", "delivery", "new", "lost", "stolen", "block", "pin", "wait"),
}


def units(prefix: str, start: int, stop: int) -> frozenset[str]:
    return frozenset(f"{prefix}{n}" for n in range(start, stop))


def axis(*weights: tuple[int, float]) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for k, w in weights:
        v[k] = w
    return v / np.linalg.norm(v)


def theme(
    tid: str, members: frozenset[str], k: int, topic: str, pinned: bool = False
) -> ThemeSnapshot:
    return ThemeSnapshot(tid, members, axis((k, 1.0)), f"name of {tid}", KEYWORDS[topic], pinned)


def cluster(
    label: int, members: frozenset[str], centroid: np.ndarray, topic: str
) -> ClusterSnapshot:
    return ClusterSnapshot(label, members, centroid, f"cluster {label}", KEYWORDS[topic])


def minter(start: int = 100) -> Callable[[], str]:
    numbers = iter(range(start, start + 1000))
    return lambda: f"T-{next(numbers):04d}"


def no_mint() -> str:
    raise AssertionError("no id should be minted")


A, B, C = units("a", 0, 40), units("b", 0, 30), units("c", 0, 20)
PREVIOUS = [
    theme("T-0001", A, 0, "refund"),
    theme("T-0002", B, 1, "login"),
    theme("T-0003", C, 2, "fees"),
]


def test_identical_runs_keep_every_id_and_have_full_stability() -> None:
    current = [
        cluster(0, B, axis((1, 1.0)), "login"),
        cluster(1, C, axis((2, 1.0)), "fees"),
        cluster(2, A, axis((0, 1.0)), "refund"),
    ]
    m = match_runs(PREVIOUS, current, no_mint)
    assert m.theme_ids() == {0: "T-0002", 1: "T-0003", 2: "T-0001"}
    assert m.events == (
        LineageEvent("continued", "T-0001", (), 1.0, 1.0),
        LineageEvent("continued", "T-0002", (), 1.0, 1.0),
        LineageEvent("continued", "T-0003", (), 1.0, 1.0),
    )
    assert m.stability == 1.0
    assert m.shared_units == 90
    assert [c.name for c in m.clusters] == ["name of T-0002", "name of T-0003", "name of T-0001"]
    assert all(c.name_kept and c.keyword_similarity == 1.0 for c in m.clusters)


def test_theme_whose_units_become_unassigned_died() -> None:
    current = [cluster(0, A, axis((0, 1.0)), "refund"), cluster(1, B, axis((1, 1.0)), "login")]
    m = match_runs(PREVIOUS, current, no_mint, current_units=A | B | C)
    assert m.counts() == {"continued": 2, "died": 1}
    assert LineageEvent("died", "T-0003") in m.events
    assert m.stability == round(70 / 90, 4)


def test_two_themes_joining_one_cluster_merge_into_the_bigger() -> None:
    joined = cluster(0, A | B, axis((0, 40.0), (1, 30.0)), "refund")
    current = [joined, cluster(1, C, axis((2, 1.0)), "fees")]
    m = match_runs(PREVIOUS, current, no_mint)
    assert m.theme_ids() == {0: "T-0001", 1: "T-0003"}
    assert m.events == (
        LineageEvent("continued", "T-0001", (), round(40 / 70, 4), 0.8),
        LineageEvent("merged", "T-0002", ("T-0001",), round(30 / 70, 4), 0.6),
        LineageEvent("continued", "T-0003", (), 1.0, 1.0),
    )
    assert m.stability == round(60 / 90, 4)


def test_theme_whose_units_go_to_two_clusters_splits_and_the_bigger_part_keeps_the_id() -> None:
    big, small = units("a", 0, 28), units("a", 28, 40)
    current = [
        cluster(0, small, axis((0, 1.0), (3, 1.0)), "card"),
        cluster(1, big, axis((0, 1.0)), "refund"),
        cluster(2, B, axis((1, 1.0)), "login"),
        cluster(3, C, axis((2, 1.0)), "fees"),
    ]
    m = match_runs(PREVIOUS, current, minter())
    assert m.theme_ids() == {0: "T-0100", 1: "T-0001", 2: "T-0002", 3: "T-0003"}
    assert m.events[0] == LineageEvent("continued", "T-0001", (), 0.7, 1.0)
    assert m.events[-1] == LineageEvent("split", "T-0100", ("T-0001",), 0.3, 0.7071)
    assert m.counts() == {"continued": 3, "split": 1}
    assert m.stability == round(78 / 90, 4)


def test_cluster_of_only_new_units_is_born_with_a_minted_id() -> None:
    fresh = units("new", 0, 15)
    current = [
        cluster(0, A, axis((0, 1.0)), "refund"),
        cluster(1, B, axis((1, 1.0)), "login"),
        cluster(2, C, axis((2, 1.0)), "fees"),
        cluster(3, fresh, axis((3, 1.0)), "card"),
    ]
    m = match_runs(PREVIOUS, current, minter(7))
    assert m.theme_ids()[3] == "T-0007"
    assert m.events[-1] == LineageEvent("born", "T-0007")
    assert m.clusters[3].name == "cluster 3"
    assert m.clusters[3].previous_id is None
    assert m.stability == 1.0
    assert m.shared_units == 90


def test_ten_percent_new_units_keep_ids_and_stability_counts_shared_units_only() -> None:
    moved = units("a", 0, 3)
    current = [
        cluster(0, (A - moved) | units("na", 0, 4), axis((0, 1.0)), "refund"),
        cluster(1, B | moved | units("nb", 0, 3), axis((1, 1.0)), "login"),
        cluster(2, C | units("nc", 0, 2), axis((2, 1.0)), "fees"),
    ]
    m = match_runs(PREVIOUS, current, no_mint)
    assert m.theme_ids() == {0: "T-0001", 1: "T-0002", 2: "T-0003"}
    assert m.counts() == {"continued": 3}
    assert m.shared_units == 90
    assert m.stability == round(87 / 90, 4)


def test_units_unassigned_in_the_new_run_count_as_not_kept() -> None:
    current = [
        cluster(0, A - units("a", 0, 4), axis((0, 1.0)), "refund"),
        cluster(1, B, axis((1, 1.0)), "login"),
        cluster(2, C, axis((2, 1.0)), "fees"),
    ]
    m = match_runs(PREVIOUS, current, no_mint, current_units=A | B | C)
    assert m.stability == round(86 / 90, 4)


def test_name_is_kept_when_keywords_are_similar_and_replaced_when_they_are_not() -> None:
    similar = KEYWORDS["refund"][:7] + ("slow", "email", "agent")
    different = KEYWORDS["refund"][:2] + KEYWORDS["fees"][:8]
    current = [
        ClusterSnapshot(0, A, axis((0, 1.0)), "refund delays", similar),
        ClusterSnapshot(1, B, axis((1, 1.0)), "sms codes", different),
    ]
    m = match_runs(PREVIOUS[:2], current, no_mint)
    kept, changed = m.clusters
    assert (kept.theme_id, kept.name, kept.name_kept) == ("T-0001", "name of T-0001", True)
    assert kept.keyword_similarity == round(7 / 13, 4)
    assert (changed.theme_id, changed.name, changed.name_kept) == ("T-0002", "sms codes", False)
    assert changed.keyword_similarity == 0.0
    assert [t.name_source for t in m.themes] == ["kept", "new"]


def test_pinned_theme_keeps_its_id_when_merged_into_a_bigger_one() -> None:
    previous = [theme("T-0001", A, 0, "refund"), theme("T-0002", B, 1, "login", pinned=True)]
    m = match_runs(previous, [cluster(0, A | B, axis((0, 4.0), (1, 3.0)), "refund")], no_mint)
    assert m.theme_ids() == {0: "T-0002"}
    assert m.events[0] == LineageEvent("merged", "T-0001", ("T-0002",), round(40 / 70, 4), 0.8)


def test_theme_with_all_units_deleted_continues_by_centroid_alone() -> None:
    previous = [theme("T-0001", A, 0, "refund")]
    fresh = cluster(0, units("new", 0, 10), axis((0, 1.0), (1, 0.2)), "refund")
    m = match_runs(previous, [fresh], no_mint, previous_units=A, current_units=fresh.unit_ids)
    assert m.events == (LineageEvent("continued", "T-0001", (), 0.0, 0.9806),)
    assert m.stability == 1.0
    assert m.shared_units == 0


def test_repeated_ids_and_minted_ids_in_use_are_refused() -> None:
    with pytest.raises(ConfigError, match="previous theme id must be unique; repeated: T-0001"):
        match_runs([PREVIOUS[0], PREVIOUS[0]], [], no_mint)
    fresh = cluster(0, units("new", 0, 5), axis((5, 1.0)), "card")
    with pytest.raises(ConfigError, match="repeated: T-0001"):
        match_runs(PREVIOUS, [fresh], lambda: "T-0001")


# -- curation --------------------------------------------------------------------------------

D = units("d", 0, 25)
RUN1 = PREVIOUS + [theme("T-0004", D, 3, "card")]
CURATIONS = [
    Curation("rename", "T-0001", name="Refunds take too long"),
    Curation("hide", "T-0002"),
    Curation("merge", "T-0003", target_id="T-0004"),
    Curation("pin", "T-0004", name="Card delivery and fees"),
]


def week(n: int) -> list[ClusterSnapshot]:
    """Run n: every theme of RUN1 plus n units of new feedback each, in a shuffled order."""
    fresh = {tid: units(f"w{n}{tid}-", 0, n) for tid in ("a", "b", "c", "d")}
    return [
        cluster(10 * n + 0, D | fresh["d"], axis((3, 1.0)), "card" if n < 3 else "fees"),
        cluster(10 * n + 1, C | fresh["c"], axis((2, 1.0)), "fees"),
        cluster(10 * n + 2, A | fresh["a"], axis((0, 1.0)), "refund"),
        cluster(10 * n + 3, B | fresh["b"], axis((1, 1.0)), "login"),
    ]


def served(m: Matching) -> list[tuple[str, str, str, tuple[int, ...], int, bool, bool]]:
    return sorted(
        (t.theme_id, t.name, t.name_source, t.labels, len(t.unit_ids), t.hidden, t.pinned)
        for t in m.themes
    )


def rematch(previous: Sequence[ThemeSnapshot], n: int) -> tuple[Matching, list[ClusterSnapshot]]:
    current = week(n)
    pins = pinned_ids(CURATIONS)
    marked = [
        ThemeSnapshot(t.theme_id, t.unit_ids, t.centroid, t.name, t.keywords, t.theme_id in pins)
        for t in previous
    ]
    return apply_curation(match_runs(marked, current, no_mint), CURATIONS), current


def curated_events(m: Matching) -> list[LineageEvent]:
    return [e for e in m.events if e.kind == "curated"]


def test_curation_survives_two_successive_rematches() -> None:
    second, clusters2 = rematch(RUN1, 2)
    third, _ = rematch(second.snapshots(clusters2), 3)
    for m, n in ((second, 2), (third, 3)):
        assert served(m) == [
            ("T-0001", "Refunds take too long", "curated", (10 * n + 2,), 40 + n, False, False),
            ("T-0002", "name of T-0002", "kept", (10 * n + 3,), 30 + n, True, False),
            (
                "T-0004",
                "Card delivery and fees",
                "pinned",
                (10 * n + 0, 10 * n + 1),
                45 + 2 * n,
                False,
                True,
            ),
        ]
        assert curated_events(m) == [
            LineageEvent("curated", "T-0001", detail="renamed to 'Refunds take too long'"),
            LineageEvent("curated", "T-0002", detail="hidden"),
            LineageEvent("curated", "T-0003", ("T-0004",), detail="merged into T-0004"),
            LineageEvent("curated", "T-0004", detail="pinned as 'Card delivery and fees'"),
        ]
        assert m.counts() == {"continued": 4, "curated": 4}
        assert m.unapplied == ()
        assert m.stability == 1.0
    assert third.clusters[0].name_kept is True
    assert third.clusters[0].keyword_similarity == 0.0


def test_split_off_curation_carves_its_units_out_in_every_run() -> None:
    carved = units("a", 30, 40) | units("b", 25, 30)
    split = [Curation("split_off", "T-0050", name="Refund to wrong card", unit_ids=carved)]
    for n in (2, 3):
        m = apply_curation(match_runs(RUN1, week(n), no_mint), split)
        by_id = {t.theme_id: t for t in m.themes}
        assert by_id["T-0050"] == ThemeResult(
            "T-0050", "Refund to wrong card", "curated", (), carved
        )
        assert len(by_id["T-0001"].unit_ids) == 30 + n
        assert len(by_id["T-0002"].unit_ids) == 25 + n
        assert curated_events(m) == [
            LineageEvent(
                "curated",
                "T-0050",
                ("T-0001", "T-0002"),
                detail="split off 15 units from T-0001, T-0002",
            )
        ]


def test_curation_of_a_theme_absent_from_the_run_is_kept_unapplied() -> None:
    current = [cluster(0, A, axis((0, 1.0)), "refund"), cluster(1, B, axis((1, 1.0)), "login")]
    rename = Curation("rename", "T-0003", name="Fees abroad")
    m = apply_curation(match_runs(PREVIOUS, current, no_mint, current_units=A | B | C), [rename])
    assert m.unapplied == (rename,)
    assert curated_events(m) == []
    assert "Fees abroad" not in {t.name for t in m.themes}


def test_merge_into_a_theme_absent_from_the_run_serves_the_source_under_the_target_id() -> None:
    current = [cluster(0, A, axis((0, 1.0)), "refund"), cluster(1, B, axis((1, 1.0)), "login")]
    m = match_runs(PREVIOUS, current, no_mint, current_units=A | B | C)
    merged = apply_curation(m, [Curation("merge", "T-0002", target_id="T-0003")])
    assert sorted(t.theme_id for t in merged.themes) == ["T-0001", "T-0003"]
    assert merged.served_ids()["b0"] == "T-0003"


def test_merge_into_a_theme_merged_since_follows_it_to_the_survivor() -> None:
    m = match_runs(RUN1, week(2), no_mint)
    chained = apply_curation(
        m,
        [
            Curation("merge", "T-0003", target_id="T-0004"),
            Curation("merge", "T-0001", target_id="T-0003"),
        ],
    )
    assert curated_events(chained)[-1] == LineageEvent(
        "curated", "T-0001", ("T-0004",), detail="merged into T-0004"
    )
    assert served(chained)[-1][:5] == ("T-0004", "name of T-0004", "kept", (20, 21, 22), 91)


def test_unit_in_two_clusters_is_refused() -> None:
    overlapping = [
        cluster(0, A, axis((0, 1.0)), "refund"),
        cluster(1, units("a", 39, 45), axis((1, 1.0)), "login"),
    ]
    with pytest.raises(ConfigError, match="new clusters share a39"):
        match_runs(PREVIOUS, overlapping, no_mint)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "rename", "theme_id": "T-0001"}, "needs a name"),
        ({"kind": "merge", "theme_id": "T-0001", "target_id": "T-0001"}, "other than itself"),
        ({"kind": "split_off", "theme_id": "T-0009", "name": "x"}, "needs unit_ids"),
    ],
)
def test_incomplete_curations_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Curation(**kwargs)  # type: ignore[arg-type]


def test_split_off_onto_an_id_in_use_is_refused() -> None:
    m = match_runs(PREVIOUS, [cluster(0, A, axis((0, 1.0)), "refund")], no_mint)
    bad = Curation("split_off", "T-0001", name="x", unit_ids=frozenset({"a1"}))
    with pytest.raises(ConfigError, match="already a theme of this run"):
        apply_curation(m, [bad])


# -- converged content ---------------------------------------------------------------------
# Refunds (T-0001, 40 units) and logins (T-0002, 30) stop getting feedback of their own, and a
# new cluster of 15 units between them takes it; fees (T-0003, 20) goes on as before. The
# previous run held 90 units and this run adds 20 (a share of 2/9): refunds were due 8.9 new
# units, logins 6.7, fees 4.4.
FRESH, FEES_NEW = units("new", 0, 15), units("nc", 0, 5)
EVERY = A | B | C | FRESH | FEES_NEW
BETWEEN, LOGINS = axis((0, 1.0), (1, 1.0)), axis((1, 1.0))


def converging(
    centroid: np.ndarray = BETWEEN,
    refunds: frozenset[str] = A,
    logins: frozenset[str] = B,
    logins_at: np.ndarray = LOGINS,
    **kwargs: object,
) -> Matching:
    previous = [PREVIOUS[0], replace(PREVIOUS[1], centroid=logins_at), PREVIOUS[2]]
    current = [
        cluster(0, refunds, axis((0, 1.0)), "refund"),
        cluster(1, logins, logins_at, "login"),
        cluster(2, C | FEES_NEW, axis((2, 1.0)), "fees"),
        cluster(3, FRESH, centroid, "card"),
    ]
    every = EVERY | refunds | logins
    m = match_runs(previous, current, minter(), current_units=every)
    return merge_converged(previous, current, m, current_units=every, **kwargs)  # type: ignore[arg-type]


def test_new_cluster_between_two_themes_that_stopped_is_merged_into_the_bigger() -> None:
    m = converging()
    assert m.converged == (
        Convergence(
            theme_id="T-0001",
            other_id="T-0002",
            cluster_id="T-0100",
            similarity=0.7071,
            other_similarity=0.7071,
            apart=0.0,
            received=(0, 0),
            expected=(8.89, 6.67),
            new_units=15,
        ),
    )
    detail = (
        "T-0100 has centroid cosine 0.71 with T-0001 and 0.71 with T-0002, which have 0.00 "
        "with each other; new units this run: T-0001 0 of 8.9 expected, T-0002 0 of 6.7, "
        "T-0100 15"
    )
    assert m.events == (
        LineageEvent("continued", "T-0001", (), 1.0, 1.0),
        LineageEvent(
            "merged",
            "T-0002",
            ("T-0001",),
            0.0,
            0.0,
            f"content converged with T-0001 in new theme T-0100: {detail}",
        ),
        LineageEvent("continued", "T-0003", (), 1.0, 1.0),
        LineageEvent(
            "merged",
            "T-0100",
            ("T-0001",),
            0.0,
            0.7071,
            f"new theme T-0100 of content where T-0002 and T-0001 converged: {detail}",
        ),
    )
    assert m.counts() == {"continued": 2, "merged": 2}
    assert m.stability == 1.0
    assert [c.theme_id for c in m.clusters] == ["T-0001", "T-0002", "T-0003", "T-0100"]
    curated = apply_curation(m, m.converged[0].curations())
    assert {t.theme_id: t.unit_ids for t in curated.themes} == {
        "T-0001": A | B | FRESH,
        "T-0003": C | FEES_NEW,
    }
    assert curated.events[-2:] == (
        LineageEvent("curated", "T-0002", ("T-0001",), detail="merged into T-0001"),
        LineageEvent("curated", "T-0100", ("T-0001",), detail="merged into T-0001"),
    )


def test_no_convergence_while_the_two_themes_still_get_their_new_feedback() -> None:
    for refunds, logins in [
        (A | units("na", 0, 9), B | units("nb", 0, 7)),
        (A, B | units("nb", 0, 7)),
        (A | units("na", 0, 3), B),
    ]:
        m = converging(refunds=refunds, logins=logins)
        assert m.converged == ()
        assert m.events[-1] == LineageEvent("born", "T-0100")


def test_no_convergence_when_the_new_cluster_is_not_between_the_two_themes() -> None:
    close = axis((0, 0.9), (1, 0.436))
    for centroid, logins_at in [
        (axis((0, 1.0), (3, 1.0)), LOGINS),  # near refunds only: cosine 0.71 and 0
        (axis((0, 1.0), (1, 0.2), (3, 1.5)), LOGINS),  # 0.55 and 0.11 with logins
        (axis((0, 1.0), (3, 1.0)), close),  # 0.71 and 0.64, but the two are 0.90 apart
    ]:
        m = converging(centroid, logins_at=logins_at)
        assert m.converged == ()
        assert m.counts() == {"continued": 3, "born": 1}


def test_convergence_needs_enough_new_units_in_the_new_cluster() -> None:
    assert converging(params=MatchParams(converge_min_units=16)).converged == ()
    assert converging(params=MatchParams(converge_volume=1.0)).converged == ()
    assert converging(params=MatchParams(converge_similarity=0.71)).converged == ()
    assert len(converging(params=MatchParams(converge_similarity=0.7)).converged) == 1


def test_convergence_settled_before_or_of_a_merged_away_theme_is_not_proposed() -> None:
    assert converging(settled={frozenset(("T-0002", "T-0001"))}).converged == ()
    merged_away = [Curation("merge", "T-0002", target_id="T-0003")]
    assert converging(curations=merged_away).converged == ()
    assert converging(curations=[Curation("hide", "T-0001")]).converged == ()


def test_a_pinned_theme_keeps_its_id_when_it_converges_with_a_bigger_one() -> None:
    [found] = converging(curations=[Curation("pin", "T-0002")]).converged
    assert (found.theme_id, found.other_id) == ("T-0002", "T-0001")
    both = [Curation("pin", "T-0001"), Curation("pin", "T-0002")]
    assert converging(curations=both).converged == ()


def test_the_target_of_earlier_merges_counts_its_merged_themes_when_sizes_are_compared() -> None:
    earlier = [Curation("merge", "T-0003", target_id="T-0002")]  # logins now serve 50 units
    [found] = converging(curations=earlier).converged
    assert (found.theme_id, found.other_id) == ("T-0002", "T-0001")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"converge_similarity": 1.5},
        {"converge_inflow": -0.1},
        {"converge_new_share": 2.0},
        {"converge_expected": -1.0},
        {"converge_volume": -0.5},
        {"converge_min_units": 0},
    ],
)
def test_out_of_range_convergence_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="match parameter converge_"):
        MatchParams(**kwargs)  # type: ignore[arg-type]


def test_real_clusterer_refit_on_ten_percent_more_units_keeps_every_id() -> None:
    """The issue's stability target on blobs: the same 8 themes, 10% new units, a new seed."""
    _, _, centers = make_blobs(
        n_samples=8, centers=8, n_features=32, random_state=7, return_centers=True
    )
    X, _ = make_blobs(
        n_samples=440, centers=centers, n_features=32, cluster_std=1.5, random_state=1
    )
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"u{i}" for i in range(440)]

    def snapshots(n: int, seed: int) -> list[ClusterSnapshot]:
        fitted = ThemeClusterer(random_state=seed).fit(X[:n])
        return [
            ClusterSnapshot(
                k,
                frozenset(ids[i] for i in np.flatnonzero(fitted.labels_ == k)),
                fitted.centroids_[k],
                f"cluster {k}",
            )
            for k in range(fitted.n_themes_)
        ]

    first = snapshots(400, seed=3)
    previous = [
        ThemeSnapshot(f"T-{c.label + 1:04d}", c.unit_ids, c.centroid, c.name) for c in first
    ]
    m = match_runs(
        previous, snapshots(440, seed=4), no_mint, previous_units=ids[:400], current_units=ids
    )
    assert m.counts() == {"continued": 8}
    assert m.shared_units == 400
    assert m.stability >= 0.95
