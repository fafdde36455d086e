"""Stable theme ids and lineage across runs.

Every weekly re-cluster numbers its clusters afresh; this module decides which new cluster
*is* which old theme, so a theme keeps its id (and its trend line) for as long as it holds
the same feedback, and every change is explained by a lineage event.

Matching. Units are the evidence: two clusters are the same theme when they hold the same
units. Overlap is measured only over units present in *both* runs (assigned or not), so a
week of new feedback, or deleted feedback, never counts against a match. For a previous
theme P and a new cluster C (both restricted to shared units):

* `share_prev = |P∩C| / |P|` and `share_cur = |P∩C| / |C|`. P *contributes* to C when
  both are at least `min_share` (0.2): a fifth of P went into C and it makes a fifth of C.
  Smaller flows are noise from the clusterer's re-assignments and explain nothing.
* `score = (1 - similarity_weight) * jaccard(P, C) + similarity_weight * cosine(P, C)`
  with `similarity_weight` 0.2: overlap decides, centroid cosine breaks near-ties.
* A pair can keep an id only if P contributes to C, or, when one side has no shared units
  at all (a theme whose units were all deleted, a cluster made only of new units), when
  the centroids are nearly the same direction (cosine >= `min_similarity_alone`, 0.9).

Ids follow a one-to-one assignment maximising the total score (Hungarian algorithm), so
the biggest overlap wins an id and no id is used twice. Pinned themes get a bonus of 1 on
their eligible pairs, more than any score difference, so they keep their id whenever any
cluster still holds their units.

Lineage, one event per previous theme and one per minted id:

* `continued`: the id was kept (the theme may also have absorbed or shed parts, which the
  other events name).
* `merged`: a previous theme lost the assignment but contributes to a cluster that kept
  another id (many -> one; the largest contributor keeps its id); `other_ids` holds the
  surviving id. Also two themes whose content converged, and the new cluster it converged
  in (below).
* `died`: a previous theme that contributes to no cluster.
* `split`: a new cluster that received a contribution from a previous theme whose id went
  to another cluster (one -> many; the largest part keeps the id); it gets a minted id and
  `other_ids` holds the themes it came from, largest first.
* `born`: a new cluster with no contributor.

Converged content (`merge_converged`, after matching). When customers stop writing about
two things apart and write about both at once, the new sentences embed between the two
themes, nearer each other than either side, so the clusterer makes a new cluster of them and
each old theme keeps its old units: matched alone, two themes that became one stay two, plus
a newborn. Units cannot show the merge (the old ones stay put), so the rule reads the flow of
new feedback instead. A cluster C with an id minted this run (`born` or `split`) converges
previous themes A and B, both continued and served on their own (not merged away, not
hidden, not both pinned), when all of these hold:

* C is new feedback: at least `converge_new_share` (0.5) of its units and at least
  `converge_min_units` (5) units are new in this run (absent from the previous run).
* C sits between A and B: the centroid cosine of C with each is at least
  `converge_similarity` (0.35) and higher than the cosine of A with B (centroids of this
  run's clusters).
* Their own feedback stopped: each was expected at least `converge_expected` (2) new units
  (its size in the previous run times new units / previous run's units) and received at most
  `converge_inflow` (0.25) of that.
* The feedback moved to C: C's new units are at least `converge_volume` (0.5) of the new
  units A and B missed.

Each cluster converges one pair at most (the pair with the highest smaller cosine) and each
theme joins one convergence per run. B and C are merged into A as a product manager's
`merge` curations would (`Convergence.curations()`), which the caller records (voc.pipeline:
`created_by` `voc:converged`, with the reason in figures) so they are re-applied after every
re-cluster and can be undone like any curation. A is the pinned one, else the one serving
more units (with what earlier merges put into it), else the older id; C keeps its minted id
in the matched clusters so later runs can follow it. Lineage replaces B's `continued` and C's
`born`/`split` with `merged` (`other_ids` (A,)), whose detail gives the cosines and inflows. A
pair in `settled` (a convergence recorded before, active or undone) is never proposed again,
so a product manager's undo sticks. C's first lineage event is that `merged`, which
`Store.births` counts as its birth, so a C whose merge is undone can be reported emerging.

On the 8-week demo simulation (tests/test_weekly.py), where refunds and mall deliveries
converge from week 5: C had cosine 0.42 with the mall-delivery theme and 0.68 with a refund
theme, which were -0.02 apart; both received 0 of 3.5 and 2.7 expected new units and C
held 7; a week later a second refund theme followed (0.53 and 0.66, 0.25 apart; 1 of 5.5
and 1 of 5.5 received, 5 new in C). In every other week, and in the same simulation
without the planted change, the closest other candidate (a new cluster and two themes whose
feedback stopped) had a smaller cosine of 0.16. Weeks of new feedback drawn at random
(bench/stability.py) converge nothing.

Names change only when the content does: a kept theme keeps its previous name unless the
Jaccard similarity of the top `top_keywords` (10) keywords falls below `name_keep` (0.3),
about four shared keywords out of ten; below that the theme says something else and takes
its new name.

Stability is the share of units present in both runs whose theme id is unchanged. A unit
unassigned in either run counts as not kept: an unassigned unit has no theme a user could
follow, and counting it as kept would reward a clusterer for leaving units out.

Curation is an overlay on the matched ids, re-applied after every match in the order the
product manager made the changes: since matching keeps ids stable, a curation keyed by id
keeps applying. Match each run against the previous run's *matched* themes
(`Matching.snapshots`), not the curated ones; a merge is then re-applied and stays merged,
where matching against the merged theme would split it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from voc.errors import ConfigError

LineageKind = Literal["continued", "born", "died", "merged", "split", "curated"]
CurationKind = Literal["rename", "merge", "split_off", "pin", "hide"]
NameSource = Literal["kept", "new", "curated", "pinned"]

_INELIGIBLE = -1e9


@dataclass(frozen=True, slots=True)
class ThemeSnapshot:
    """One theme of the previous run, under the id matching gave it."""

    theme_id: str
    unit_ids: frozenset[str]
    centroid: np.ndarray
    name: str
    keywords: tuple[str, ...] = ()
    """Top keywords, best first (both languages in one list)."""
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """One cluster of the new run, under the clusterer's label."""

    label: int
    unit_ids: frozenset[str]
    centroid: np.ndarray
    name: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MatchParams:
    min_share: float = 0.2
    similarity_weight: float = 0.2
    min_similarity_alone: float = 0.9
    pin_bonus: float = 1.0
    top_keywords: int = 10
    name_keep: float = 0.3
    converge_similarity: float = 0.35
    """Centroid cosine the new cluster needs with each of the two themes: related content,
    above what the centroids of unrelated themes score (under 0.3)."""
    converge_inflow: float = 0.25
    """Most of its expected new units a converging theme may still receive: its own
    feedback has stopped, not merely slowed."""
    converge_expected: float = 2.0
    """Fewest new units each converging theme must have been expected to receive; below it,
    a theme receiving none is chance, not a change."""
    converge_new_share: float = 0.5
    """Least share of the converged cluster's units that are new in this run: it is this
    run's feedback, not an old theme re-cut."""
    converge_volume: float = 0.5
    """Least ratio of the converged cluster's new units to the new units the two themes
    missed: the feedback moved there rather than stopping."""
    converge_min_units: int = 5
    """Fewest new units in the converged cluster, like the trends' minimum count."""

    def __post_init__(self) -> None:
        for name in (
            "min_share",
            "similarity_weight",
            "min_similarity_alone",
            "name_keep",
            "converge_similarity",
            "converge_inflow",
            "converge_new_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"match parameter {name} must be between 0 and 1, got {value}")
        if self.top_keywords < 1:
            raise ConfigError(f"match parameter top_keywords must be >= 1, got {self.top_keywords}")
        for name in ("converge_expected", "converge_volume"):
            if getattr(self, name) < 0:
                raise ConfigError(f"match parameter {name} must be >= 0, got {getattr(self, name)}")
        if self.converge_min_units < 1:
            raise ConfigError(
                f"match parameter converge_min_units must be >= 1, got {self.converge_min_units}"
            )


@dataclass(frozen=True, slots=True)
class LineageEvent:
    """What happened to one theme id between two runs.

    `overlap` is the Jaccard similarity of the two themes' shared units and `similarity`
    the cosine of their centroids, both against `other_ids[0]` for `merged` and `split` and
    against the previous theme of the same id for `continued`; None where nothing is compared.
    """

    kind: LineageKind
    theme_id: str
    other_ids: tuple[str, ...] = ()
    overlap: float | None = None
    similarity: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ClusterTheme:
    """The id and name matching gave one new cluster."""

    label: int
    theme_id: str
    name: str
    previous_id: str | None
    """The previous theme this cluster continues; None for a born or split cluster."""
    name_kept: bool
    keyword_similarity: float | None
    """Jaccard of top keywords against the previous theme; None when nothing continued."""


@dataclass(frozen=True, slots=True)
class ThemeResult:
    """One theme to serve: one cluster, or after curation several clusters or a unit set."""

    theme_id: str
    name: str
    name_source: NameSource
    labels: tuple[int, ...]
    unit_ids: frozenset[str]
    hidden: bool = False
    pinned: bool = False


@dataclass(frozen=True, slots=True)
class Curation:
    """One change a product manager made, re-applied after every re-cluster.

    * `rename`: `theme_id` is shown as `name` from now on.
    * `merge`: `theme_id` is merged into `target_id`; clusters matched to either id are
      served as `target_id`.
    * `split_off`: the units `unit_ids` form their own theme `theme_id` (a new id the caller
      minted) named `name`; units added later do not join it.
    * `pin`: `theme_id` keeps its id in matching whenever possible, and its name is frozen
      (to `name` when given, else to the name it has when first pinned).
    * `hide`: `theme_id` is kept but not shown.
    """

    kind: CurationKind
    theme_id: str
    name: str | None = None
    target_id: str | None = None
    unit_ids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.kind in ("rename", "split_off") and not self.name:
            raise ConfigError(f"a {self.kind} curation of {self.theme_id} needs a name")
        if self.kind == "merge" and (not self.target_id or self.target_id == self.theme_id):
            raise ConfigError(
                f"a merge curation of {self.theme_id} needs a target_id other than itself"
            )
        if self.kind == "split_off" and not self.unit_ids:
            raise ConfigError(f"a split_off curation of {self.theme_id} needs unit_ids")


@dataclass(frozen=True, slots=True)
class Convergence:
    """Two themes whose feedback now arrives as one: the new cluster `cluster_id` sits
    between `theme_id` and `other_id`, and took the new feedback both stopped receiving.
    `other_id` and `cluster_id` are merged into `theme_id`."""

    theme_id: str
    other_id: str
    cluster_id: str
    similarity: float
    """Centroid cosine of the new cluster and `theme_id`."""
    other_similarity: float
    """Centroid cosine of the new cluster and `other_id`."""
    apart: float
    """Centroid cosine of `theme_id` and `other_id`."""
    received: tuple[int, int]
    """New units `theme_id` and `other_id` received in this run."""
    expected: tuple[float, float]
    """New units each would have received at its share of the previous run."""
    new_units: int
    """New units in the new cluster."""

    def curations(self) -> tuple[Curation, Curation]:
        """The merges a product manager would make, re-applied after every re-cluster."""
        return (
            Curation("merge", self.other_id, target_id=self.theme_id),
            Curation("merge", self.cluster_id, target_id=self.theme_id),
        )

    def reason(self, merged_id: str) -> str:
        """Why `merged_id` (`other_id` or `cluster_id`) was merged into `theme_id`, in
        figures: the lineage event's detail and the curation's reason."""
        what = (
            f"new theme {merged_id} of content where {self.other_id} and {self.theme_id} converged"
            if merged_id == self.cluster_id
            else f"content converged with {self.theme_id} in new theme {self.cluster_id}"
        )
        return (
            f"{what}: {self.cluster_id} has centroid cosine {self.similarity:.2f} with "
            f"{self.theme_id} and {self.other_similarity:.2f} with {self.other_id}, which have "
            f"{self.apart:.2f} with each other; new units this run: {self.theme_id} "
            f"{self.received[0]} of {self.expected[0]:.1f} expected, {self.other_id} "
            f"{self.received[1]} of {self.expected[1]:.1f}, {self.cluster_id} {self.new_units}"
        )


@dataclass(frozen=True, slots=True)
class Matching:
    """The outcome of matching one run to the previous one (and of curating it)."""

    clusters: tuple[ClusterTheme, ...]
    """One per new cluster, in the order given to `match_runs`."""
    themes: tuple[ThemeResult, ...]
    """What to serve; equal to the clusters until `apply_curation` changes it."""
    events: tuple[LineageEvent, ...]
    stability: float
    """Share of shared units whose matched theme id is unchanged, before curation (1.0 when
    no unit is shared)."""
    shared_units: int
    unapplied: tuple[Curation, ...] = ()
    """Curations whose theme is absent from this run (it died, or was merged away)."""
    converged: tuple[Convergence, ...] = ()
    """Themes whose content converged in this run (`merge_converged`); their merges are
    new curations for the caller to record."""

    def theme_ids(self) -> dict[int, str]:
        """Cluster label -> matched theme id."""
        return {c.label: c.theme_id for c in self.clusters}

    def served_ids(self) -> dict[str, str]:
        """Unit id -> the theme id it is served under after curation."""
        return {u: t.theme_id for t in self.themes for u in t.unit_ids}

    def counts(self) -> dict[str, int]:
        """Number of lineage events of each kind."""
        return dict(Counter(e.kind for e in self.events))

    def snapshots(self, clusters: Sequence[ClusterSnapshot]) -> list[ThemeSnapshot]:
        """This run's clusters under their matched ids: the `previous` of the next match."""
        by_label = {c.label: c for c in self.clusters}
        pinned = {t.theme_id for t in self.themes if t.pinned}
        return [
            ThemeSnapshot(
                theme_id=by_label[c.label].theme_id,
                unit_ids=c.unit_ids,
                centroid=c.centroid,
                name=by_label[c.label].name,
                keywords=c.keywords,
                pinned=by_label[c.label].theme_id in pinned,
            )
            for c in clusters
        ]


def match_runs(
    previous: Sequence[ThemeSnapshot],
    current: Sequence[ClusterSnapshot],
    mint: Callable[[], str],
    *,
    previous_units: Collection[str] | None = None,
    current_units: Collection[str] | None = None,
    params: MatchParams | None = None,
) -> Matching:
    """Give each new cluster an id (kept from `previous` or from `mint`) and explain how.

    `previous_units` and `current_units` are every unit of each run, assigned or not; they
    default to the units of the themes, which treats unassigned units as absent.
    `mint` is called once per new id, for the unmatched clusters largest first.
    """
    p = params or MatchParams()
    _check_unique([t.theme_id for t in previous], "previous theme id")
    _check_unique([c.label for c in current], "cluster label")
    _check_disjoint([t.unit_ids for t in previous], "previous themes")
    _check_disjoint([c.unit_ids for c in current], "new clusters")
    prev_all = _universe(previous_units, (t.unit_ids for t in previous))
    cur_all = _universe(current_units, (c.unit_ids for c in current))
    shared = prev_all & cur_all

    prev_sets = [t.unit_ids & shared for t in previous]
    cur_sets = [c.unit_ids & shared for c in current]
    inter = _intersections(prev_sets, cur_sets)
    sim = _cosines([t.centroid for t in previous], [c.centroid for c in current])
    prev_size = np.array([len(s) for s in prev_sets], dtype=np.float64)[:, None]
    cur_size = np.array([len(s) for s in cur_sets], dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.nan_to_num(inter / (prev_size + cur_size - inter))
        contributes = (np.nan_to_num(inter / prev_size) >= p.min_share) & (
            np.nan_to_num(inter / cur_size) >= p.min_share
        )
    contributes &= inter > 0
    alone = ((prev_size == 0) | (cur_size == 0)) & (sim >= p.min_similarity_alone)
    eligible = contributes | alone
    score = (1 - p.similarity_weight) * jaccard + p.similarity_weight * np.clip(sim, 0, None)
    score += np.array([p.pin_bonus if t.pinned else 0.0 for t in previous])[:, None]
    score = np.where(eligible, score, _INELIGIBLE)

    match: dict[int, int] = {}
    if previous and current:
        rows, cols = linear_sum_assignment(score, maximize=True)
        match = {int(j): int(i) for i, j in zip(rows, cols, strict=True) if eligible[i, j]}

    ids: dict[int, str] = {j: previous[i].theme_id for j, i in match.items()}
    for j in sorted(
        (j for j in range(len(current)) if j not in match),
        key=lambda j: (-len(current[j].unit_ids), current[j].label),
    ):
        ids[j] = mint()
    minted = [ids[j] for j in ids if j not in match]
    _check_unique([t.theme_id for t in previous] + minted, "theme id (mint returned an id in use)")

    clusters = tuple(
        _cluster_theme(c, previous, match.get(j), ids[j], p) for j, c in enumerate(current)
    )
    events = _events(previous, current, ids, match, inter, jaccard, sim, contributes)
    stability = _stability(previous, current, ids, shared)
    themes = tuple(
        ThemeResult(
            theme_id=c.theme_id,
            name=c.name,
            name_source="kept" if c.name_kept else "new",
            labels=(c.label,),
            unit_ids=snapshot.unit_ids,
        )
        for c, snapshot in zip(clusters, current, strict=True)
    )
    return Matching(
        clusters=clusters,
        themes=themes,
        events=events,
        stability=stability,
        shared_units=len(shared),
    )


def merge_converged(
    previous: Sequence[ThemeSnapshot],
    current: Sequence[ClusterSnapshot],
    matching: Matching,
    *,
    previous_units: Collection[str] | None = None,
    current_units: Collection[str] | None = None,
    curations: Sequence[Curation] = (),
    settled: Collection[frozenset[str]] = (),
    params: MatchParams | None = None,
) -> Matching:
    """Find the themes whose content converged in this run (the module docstring gives the
    rule) and report them `merged`: the matching returned lists them in `converged`, whose
    `curations()` the caller records and applies like a product manager's merges.

    `matching` is `match_runs` of the same runs and unit arguments; `curations` are the
    active ones, oldest first; `settled` holds pairs of ids never to merge again (a
    convergence recorded before, whether still applied or undone since).
    """
    p = params or MatchParams()
    prev_all = _universe(previous_units, (t.unit_ids for t in previous))
    cur_all = _universe(current_units, (c.unit_ids for c in current))
    new = cur_all - prev_all
    if not new or not prev_all:
        return matching
    share = len(new) / len(prev_all)
    ids = {ct.label: ct.theme_id for ct in matching.clusters}
    continued = {ct.previous_id: ct.label for ct in matching.clusters if ct.previous_id}
    clusters = {c.label: c for c in current}
    minted = {e.theme_id for e in matching.events if e.kind in ("born", "split")}
    into = _merge_roots(curations)
    served_size: Counter[str] = Counter()
    for t in previous:
        served_size[into.get(t.theme_id, t.theme_id)] += len(t.unit_ids)
    hidden = {c.theme_id for c in curations if c.kind == "hide"}
    pinned = pinned_ids(curations) | {t.theme_id for t in previous if t.pinned}

    # Previous themes served on their own whose new feedback stopped.
    direction: dict[str, np.ndarray] = {}
    received: dict[str, int] = {}
    expected: dict[str, float] = {}
    for t in previous:
        label = continued.get(t.theme_id)
        if label is None or t.theme_id in into or t.theme_id in hidden:
            continue
        got, due = len(clusters[label].unit_ids & new), len(t.unit_ids) * share
        if due >= p.converge_expected and got <= p.converge_inflow * due:
            direction[t.theme_id] = _unit(clusters[label].centroid)
            received[t.theme_id], expected[t.theme_id] = got, due
    stopped = sorted(direction)

    found: list[Convergence] = []
    used: set[str] = set()
    fresh = {c.label: len(c.unit_ids & new) for c in current}
    for c in sorted(current, key=lambda c: (-fresh[c.label], c.label)):
        n = fresh[c.label]
        if (
            ids[c.label] not in minted
            or n < p.converge_min_units
            or n < p.converge_new_share * len(c.unit_ids)
        ):
            continue
        towards = _unit(c.centroid)
        best: tuple[float, float, str, str] | None = None
        for i, a in enumerate(stopped):
            for b in stopped[i + 1 :]:
                if used & {a, b} or frozenset((a, b)) in settled or (a in pinned and b in pinned):
                    continue
                sa, sb = float(towards @ direction[a]), float(towards @ direction[b])
                missed = expected[a] - received[a] + expected[b] - received[b]
                if (
                    min(sa, sb) >= p.converge_similarity
                    and min(sa, sb) > float(direction[a] @ direction[b])
                    and n >= p.converge_volume * missed
                    and (best is None or (min(sa, sb), sa + sb) > best[:2])
                ):
                    best = (min(sa, sb), sa + sb, a, b)
        if best is None:
            continue
        keep, other = sorted(best[2:], key=lambda t: (t not in pinned, -served_size[t], t))
        used |= {keep, other}
        found.append(
            Convergence(
                theme_id=keep,
                other_id=other,
                cluster_id=ids[c.label],
                similarity=round(float(towards @ direction[keep]), 4),
                other_similarity=round(float(towards @ direction[other]), 4),
                apart=round(float(direction[keep] @ direction[other]), 4),
                received=(received[keep], received[other]),
                expected=(round(expected[keep], 2), round(expected[other], 2)),
                new_units=n,
            )
        )
    if not found:
        return matching
    shared = prev_all & cur_all
    prev_by_id = {t.theme_id: t for t in previous}
    cluster_by_id = {ids[c.label]: c for c in current}
    merged: dict[str, LineageEvent] = {}
    for conv in found:
        survivor = clusters[continued[conv.theme_id]]
        merged[conv.other_id] = _merged_event(
            conv, conv.other_id, prev_by_id[conv.other_id], survivor, shared
        )
        merged[conv.cluster_id] = _merged_event(
            conv, conv.cluster_id, prev_by_id[conv.theme_id], cluster_by_id[conv.cluster_id], shared
        )
    return replace(
        matching,
        events=tuple(merged.get(e.theme_id, e) for e in matching.events),
        converged=tuple(found),
    )


def _merged_event(
    conv: Convergence,
    theme_id: str,
    before: ThemeSnapshot,
    after: ClusterSnapshot,
    shared: frozenset[str],
) -> LineageEvent:
    """`theme_id` merged into the convergence's survivor, with the overlap and cosine of a
    previous theme and a new cluster as for every `merged` event: the merged theme against
    the survivor's cluster, or the survivor's previous theme against the new cluster."""
    a, b = before.unit_ids & shared, after.unit_ids & shared
    return LineageEvent(
        "merged",
        theme_id,
        (conv.theme_id,),
        round(len(a & b) / len(a | b), 4) if a | b else 0.0,
        round(float(_unit(before.centroid) @ _unit(after.centroid)), 4),
        conv.reason(theme_id),
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return _normalise(np.asarray(v, dtype=np.float64).reshape(1, -1))[0]


def _merge_roots(curations: Sequence[Curation]) -> dict[str, str]:
    """Theme id -> the id it is served under, for every theme a merge curation moves (as
    `apply_curation` follows merges)."""
    into: dict[str, str] = {}
    for cur in curations:
        if cur.kind != "merge" or cur.target_id is None:
            continue
        target = cur.target_id
        while target in into:
            target = into[target]
        if target != cur.theme_id:
            into[cur.theme_id] = target
    roots = {}
    for tid in into:
        root = tid
        while root in into:
            root = into[root]
        roots[tid] = root
    return roots


def pinned_ids(curations: Iterable[Curation]) -> frozenset[str]:
    """Ids to mark `pinned` in the previous snapshots, so matching favours them."""
    return frozenset(c.theme_id for c in curations if c.kind == "pin")


def apply_curation(matching: Matching, curations: Sequence[Curation]) -> Matching:
    """Re-apply every curation, oldest first, to the served themes of a fresh matching.

    Each applied curation adds a `curated` event; a curation whose theme is absent from
    this run is listed in `unapplied` instead, and applies again if the theme comes back.
    """
    themes: dict[str, ThemeResult] = {t.theme_id: t for t in matching.themes}
    merged_into: dict[str, str] = {}
    events: list[LineageEvent] = []
    unapplied: list[Curation] = []
    for cur in curations:
        if cur.kind == "split_off":
            event = _split_off(themes, cur)
        elif cur.kind == "merge":
            event = _merge(themes, merged_into, cur)
        else:
            event = _mark(themes, cur)
        if event is None:
            unapplied.append(cur)
        else:
            events.append(event)
    return replace(
        matching,
        themes=tuple(themes.values()),
        events=matching.events + tuple(events),
        unapplied=tuple(unapplied),
    )


def _mark(themes: dict[str, ThemeResult], cur: Curation) -> LineageEvent | None:
    """Rename, pin or hide: change how a theme is shown, never what it holds."""
    theme = themes.get(cur.theme_id)
    if theme is None:
        return None
    if cur.kind == "rename":
        assert cur.name is not None
        frozen: NameSource = "pinned" if theme.pinned else "curated"
        themes[cur.theme_id] = replace(theme, name=cur.name, name_source=frozen)
        return LineageEvent("curated", cur.theme_id, detail=f"renamed to {cur.name!r}")
    if cur.kind == "hide":
        themes[cur.theme_id] = replace(theme, hidden=True)
        return LineageEvent("curated", cur.theme_id, detail="hidden")
    name = cur.name or theme.name
    themes[cur.theme_id] = replace(theme, name=name, name_source="pinned", pinned=True)
    return LineageEvent("curated", cur.theme_id, detail=f"pinned as {name!r}")


def _merge(
    themes: dict[str, ThemeResult], merged_into: dict[str, str], cur: Curation
) -> LineageEvent | None:
    """Serve `theme_id` as `target_id` (or as whatever `target_id` was merged into since).

    When the target is absent from this run the source takes its id, so the two stay one
    theme whichever of them the clusterer finds.
    """
    assert cur.target_id is not None
    theme = themes.pop(cur.theme_id, None)
    if theme is None:
        return None
    target_id = cur.target_id
    while target_id in merged_into:
        target_id = merged_into[target_id]
    merged_into[cur.theme_id] = target_id
    target = themes.get(target_id)
    if target is None:
        themes[target_id] = replace(theme, theme_id=target_id)
    else:
        themes[target_id] = replace(
            target,
            labels=tuple(sorted(target.labels + theme.labels)),
            unit_ids=target.unit_ids | theme.unit_ids,
        )
    return LineageEvent("curated", cur.theme_id, (target_id,), detail=f"merged into {target_id}")


def _split_off(themes: dict[str, ThemeResult], cur: Curation) -> LineageEvent | None:
    assert cur.name is not None
    if cur.theme_id in themes:
        raise ConfigError(
            f"split_off curation creates {cur.theme_id}, which is already a theme of this run; "
            "mint a new id for the split-off theme"
        )
    moved: set[str] = set()
    sources: list[str] = []
    for tid, theme in list(themes.items()):
        taken = theme.unit_ids & cur.unit_ids
        if not taken:
            continue
        moved |= taken
        sources.append(tid)
        rest = theme.unit_ids - taken
        if rest:
            themes[tid] = replace(theme, unit_ids=rest)
        else:
            del themes[tid]
    if not moved:
        return None
    themes[cur.theme_id] = ThemeResult(
        theme_id=cur.theme_id,
        name=cur.name,
        name_source="curated",
        labels=(),
        unit_ids=frozenset(moved),
    )
    return LineageEvent(
        "curated",
        cur.theme_id,
        tuple(sorted(sources)),
        detail=f"split off {len(moved)} units from {', '.join(sorted(sources))}",
    )


def _check_unique(values: Sequence[object], what: str) -> None:
    dupes = sorted({str(v) for v, n in Counter(values).items() if n > 1})
    if dupes:
        raise ConfigError(f"each {what} must be unique; repeated: {', '.join(dupes)}")


def _check_disjoint(sets: Sequence[frozenset[str]], what: str) -> None:
    seen: set[str] = set()
    for s in sets:
        both = seen & s
        if both:
            raise ConfigError(f"a unit belongs to one theme at most; {what} share {min(both)}")
        seen |= s


def _universe(given: Collection[str] | None, sets: Iterable[frozenset[str]]) -> frozenset[str]:
    if given is not None:
        return frozenset(given)
    return frozenset().union(*sets)


def _intersections(prev: Sequence[frozenset[str]], cur: Sequence[frozenset[str]]) -> np.ndarray:
    where = {u: j for j, s in enumerate(cur) for u in s}
    out = np.zeros((len(prev), len(cur)), dtype=np.float64)
    for i, s in enumerate(prev):
        for u in s:
            j = where.get(u)
            if j is not None:
                out[i, j] += 1
    return out


def _cosines(prev: Sequence[np.ndarray], cur: Sequence[np.ndarray]) -> np.ndarray:
    if not prev or not cur:
        return np.zeros((len(prev), len(cur)))
    a = _normalise(np.vstack([np.asarray(v, dtype=np.float64).ravel() for v in prev]))
    b = _normalise(np.vstack([np.asarray(v, dtype=np.float64).ravel() for v in cur]))
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"centroids of the two runs differ in dimension ({a.shape[1]} vs {b.shape[1]}); "
            "runs made with different embedding models cannot be matched by similarity"
        )
    return a @ b.T


def _normalise(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def _keyword_similarity(a: Sequence[str], b: Sequence[str], top: int) -> float:
    sa, sb = set(a[:top]), set(b[:top])
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _cluster_theme(
    cluster: ClusterSnapshot,
    previous: Sequence[ThemeSnapshot],
    matched: int | None,
    theme_id: str,
    p: MatchParams,
) -> ClusterTheme:
    if matched is None:
        return ClusterTheme(cluster.label, theme_id, cluster.name, None, False, None)
    prev = previous[matched]
    similarity = _keyword_similarity(prev.keywords, cluster.keywords, p.top_keywords)
    kept = prev.pinned or similarity >= p.name_keep
    name = prev.name if kept else cluster.name
    return ClusterTheme(cluster.label, theme_id, name, prev.theme_id, kept, round(similarity, 4))


def _events(
    previous: Sequence[ThemeSnapshot],
    current: Sequence[ClusterSnapshot],
    ids: dict[int, str],
    match: dict[int, int],
    inter: np.ndarray,
    jaccard: np.ndarray,
    sim: np.ndarray,
    contributes: np.ndarray,
) -> tuple[LineageEvent, ...]:
    def pair(kind: LineageKind, tid: str, others: tuple[str, ...], i: int, j: int) -> LineageEvent:
        return LineageEvent(
            kind, tid, others, round(float(jaccard[i, j]), 4), round(float(sim[i, j]), 4)
        )

    matched_prev = {i: j for j, i in match.items()}
    events: list[LineageEvent] = []
    for i, theme in enumerate(previous):
        if i in matched_prev:
            events.append(pair("continued", theme.theme_id, (), i, matched_prev[i]))
            continue
        receivers = [j for j in range(len(current)) if contributes[i, j]]
        if not receivers:
            events.append(LineageEvent("died", theme.theme_id))
            continue
        j = max(receivers, key=lambda j: (inter[i, j], -j))
        events.append(pair("merged", theme.theme_id, (ids[j],), i, j))
    for j in sorted(ids, key=lambda j: ids[j]):
        if j in match:
            continue
        givers = sorted(
            (i for i in range(len(previous)) if contributes[i, j]),
            key=lambda i: (-inter[i, j], i),
        )
        if not givers:
            events.append(LineageEvent("born", ids[j]))
            continue
        others = tuple(previous[i].theme_id for i in givers)
        events.append(pair("split", ids[j], others, givers[0], j))
    return tuple(events)


def _stability(
    previous: Sequence[ThemeSnapshot],
    current: Sequence[ClusterSnapshot],
    ids: dict[int, str],
    shared: frozenset[str],
) -> float:
    if not shared:
        return 1.0
    before = {u: t.theme_id for t in previous for u in t.unit_ids if u in shared}
    kept = sum(1 for j, c in enumerate(current) for u in c.unit_ids if before.get(u) == ids[j])
    return round(kept / len(shared), 4)
