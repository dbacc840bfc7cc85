"""The pure search rules: pruning, slot allocation, chains, selection, candidates.

A frontier slot is explicit data (``slot=i``), never parsed from the id.
"""

from __future__ import annotations

from typing import Any

import pytest

from langgraph_ttc.answers import extract_answer
from langgraph_ttc.engine.candidates import extend_path, full_candidate, prefix_of, revision_prompt
from langgraph_ttc.engine.settings import derive_seed
from langgraph_ttc.engine.tree import rank, slots
from langgraph_ttc.formats import REVISE_PROMPT
from langgraph_ttc.nodes.prune import prune_frontier
from langgraph_ttc.strategies.beam_search import allocate, beam_expand, beam_keep, keep_beams
from langgraph_ttc.strategies.best_of_n import samples_wanted
from langgraph_ttc.strategies.dvts import dvts_expand, dvts_keep, keep_subtrees, subtree_of
from langgraph_ttc.strategies.factory import select_answer
from langgraph_ttc.strategies.revision import (
    first_attempts_wanted,
    hierarchical_select,
    revision_chains,
)
from langgraph_ttc.types import Candidate, Completion, StrategyConfig


def cand(
    cid: str, score: float | None = None, answer: str | None = None, **extra: Any
) -> Candidate:
    c = Candidate(
        id=cid,
        text=f"#### {answer}" if answer else "x",
        steps=[f"#### {answer}" if answer else "x"],
        done=extra.pop("done", answer is not None),
        answer=answer,
        score=score,
        step_scores=None,
    )
    c.update(extra)  # type: ignore[typeddict-item]
    return c


def test_rank_is_by_score_then_order() -> None:
    cs = [cand("a", 0.2), cand("b", 0.9), cand("c", 0.2), cand("d", None)]
    assert [c["id"] for c in rank(cs)] == ["b", "a", "c", "d"]


def test_beam_keep_keeps_n_over_m() -> None:
    cs = [cand(f"beam-{i}", s) for i, s in enumerate([0.1, 0.8, 0.5, 0.9, 0.3, 0.7, 0.2, 0.6])]
    assert [c["id"] for c in beam_keep(cs, 8, 4)] == ["beam-3", "beam-1"]
    assert len(beam_keep(cs[:2], 2, 4)) == 1  # never fewer than one beam


def test_allocate_refills_the_frontier() -> None:
    assert allocate(2, 8) == [4, 4]
    assert allocate(3, 8) == [3, 3, 2]
    assert allocate(0, 8) == []


def test_subtrees_split_the_width() -> None:
    assert [subtree_of(i, 8, 4) for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [subtree_of(i, 6, 4) for i in range(6)] == [0] * 6  # too narrow: one subtree


def test_dvts_keep_stops_a_subtree_whose_best_child_finished() -> None:
    assert dvts_keep([cand("a", 0.3, active=True), cand("b", 0.6, active=True)])["id"] == "b"  # type: ignore[index]
    assert dvts_keep([cand("a", 0.3, active=True), cand("b", 0.9, answer="5")]) is None
    assert dvts_keep([]) is None


def test_slots_ignore_archived_and_other_sources() -> None:
    cs = [
        cand("beam-1", source="beam", slot=1),
        cand("beam-0", source="beam", slot=0),
        cand("beam-0-r3", source="beam"),
        cand("probe-0", source="probe"),
    ]
    assert [c["id"] for c in slots(cs, "beam")] == ["beam-0", "beam-1"]


def test_prune_beam_stops_when_n_solutions_finished() -> None:
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2)
    frontier = [
        cand("beam-0", 0.5, source="beam", slot=0, active=True),
        cand("beam-1", 0.7, source="beam", slot=1, active=True),
        cand("beam-2", 0.9, answer="3", source="beam", slot=2, active=False),
        cand("beam-3", 0.2, source="beam", slot=3, active=True),
    ]
    kept, dropped = prune_frontier(frontier, plan, "beam", keep_beams)
    assert [c["id"] for c in kept] == ["beam-1", "beam-0"]
    assert [c["id"] for c in dropped] == ["beam-3"]
    archived = [cand(f"beam-{i}-r1", 0.9, answer="3", source="beam") for i in range(3)]
    kept, dropped = prune_frontier(frontier + archived, plan, "beam", keep_beams)
    assert kept == [] and len(dropped) == 3


def test_prune_dvts_keeps_one_per_live_subtree() -> None:
    plan = StrategyConfig(strategy="dvts", n=4, beam_width=2)
    frontier = [
        cand("dvts-0", 0.2, source="dvts", slot=0, group=0, active=True),
        cand("dvts-1", 0.6, source="dvts", slot=1, group=0, active=True),
        cand("dvts-2", 0.9, answer="7", source="dvts", slot=2, group=1, active=False),
        cand("dvts-3", 0.4, source="dvts", slot=3, group=1, active=True),
    ]
    kept, dropped = prune_frontier(frontier, plan, "dvts", keep_subtrees)
    assert [c["id"] for c in kept] == ["dvts-1"]
    assert {c["id"] for c in dropped} == {"dvts-0", "dvts-3"}


def test_expand_beam_refills_all_dvts_only_its_own() -> None:
    beam = [
        cand("beam-0", 0.3, source="beam", slot=0, active=True),
        cand("beam-1", 0.1, source="beam", slot=1, active=False),
        cand("beam-2", 0.8, source="beam", slot=2, active=True),
        cand("beam-3", 0.5, source="beam", slot=3, done=True, answer="1"),
    ]
    plan = StrategyConfig(strategy="beam", n=4, beam_width=2)
    out = [(p["id"], idx) for p, idx in beam_expand(beam, plan)]
    assert out == [("beam-2", [0, 1]), ("beam-0", [2, 3])]
    dvts = [
        cand("dvts-0", 0.3, source="dvts", slot=0, group=0, active=False),
        cand("dvts-1", 0.4, source="dvts", slot=1, group=0, active=False),
        cand("dvts-2", 0.8, source="dvts", slot=2, group=1, active=True),
        cand("dvts-3", 0.1, source="dvts", slot=3, group=1, active=False),
    ]
    plan = StrategyConfig(strategy="dvts", n=4, beam_width=2)
    assert [(p["id"], idx) for p, idx in dvts_expand(dvts, plan)] == [("dvts-2", [2, 3])]


def test_extend_path_finishes_on_answer_empty_or_length() -> None:
    go = extend_path(
        "b-0", ["1+1=2"], Completion("2+2=4", "stop", 5, 5), extract_answer, source="b"
    )
    assert go["steps"] == ["1+1=2", "2+2=4"] and not go["done"] and go["active"]
    end = extend_path(
        "b-0", ["1+1=2"], Completion("#### 2", "stop", 5, 6), extract_answer, source="b"
    )
    assert end["done"] and end["answer"] == "2" and not end["active"]
    empty = extend_path("b-0", ["1+1=2"], Completion("", "stop", 5, 1), extract_answer, source="b")
    assert empty["done"] and empty["answer"] is None and empty["score"] == 0.0
    cut = extend_path("b-0", [], Completion("1+1=", "length", 5, 4), extract_answer, source="b")
    assert cut["done"] and cut["answer"] is None and cut["score"] is None
    final = extend_path(
        "b-0", [], Completion("1+1=2", "stop", 5, 4), extract_answer, source="b", final=True
    )
    assert final["done"]


def test_full_candidate_empty_is_a_failed_candidate() -> None:
    ok = full_candidate(
        "s-0", Completion("1+1=2\n\n#### 2\n", "stop", 5, 9), extract_answer, source="sample"
    )
    assert (
        ok["steps"] == ["1+1=2", "#### 2"] and ok["text"] == "1+1=2\n#### 2" and ok["answer"] == "2"
    )
    bad = full_candidate("s-1", Completion("  ", "stop", 5, 1), extract_answer, source="sample")
    assert bad["answer"] is None and bad["score"] == 0.0 and bad["done"]


def test_prefix_and_revision_prompt() -> None:
    assert prefix_of([]) == "" and prefix_of(["a", "b"]) == "a\nb\n"
    msgs = revision_prompt("q", ["a1", "a2", "a3", "a4", "a5"])
    assert [m["role"] for m in msgs] == ["user"] + ["assistant", "user"] * 4
    assert [m["content"] for m in msgs[1::2]] == ["a2", "a3", "a4", "a5"]
    assert all(m["content"] == REVISE_PROMPT for m in msgs[2::2])


def test_samples_wanted_reuses_probes() -> None:
    probes = [cand(f"probe-{i}", 0.5, answer="1", source="probe") for i in range(4)]
    assert samples_wanted(StrategyConfig(strategy="best_of_n", n=16), probes) == (12, 4)
    assert samples_wanted(StrategyConfig(strategy="majority", n=3), probes) == (0, 3)
    assert samples_wanted(StrategyConfig(strategy="greedy"), probes) == (1, 0)
    revise = StrategyConfig(strategy="revise", n=8, sequential=4)
    assert first_attempts_wanted(revise, probes[:1]) == (
        1,
        1,
    )


def test_revision_chains_start_with_probes() -> None:
    cs = [
        cand("probe-0", 0.5, answer="1", source="probe"),
        cand("probe-1", 0.5, answer="1", source="probe"),
        cand("probe-2", 0.5, answer="1", source="probe"),
        cand("sample-1", 0.5, answer="2", source="sample", group=1),
        cand("revision-0-1", 0.5, answer="3", source="revision", group=0),
    ]
    chains = revision_chains(cs, 2)
    # A plan of 2 chains starts exactly 2: the third probe starts none (issue 10).
    assert {g: [c["id"] for c in ch] for g, ch in chains.items()} == {
        0: ["probe-0", "revision-0-1"],
        1: ["probe-1", "sample-1"],
    }


def test_hierarchical_selection_differs_from_a_flat_vote() -> None:
    # Chain 0 is sure of 5; chains 1 and 2 each lean 7 by a hair but also hold 9s.
    chains = [
        [cand("a", 0.9, "5"), cand("b", 0.9, "5")],
        [cand("c", 0.5, "7"), cand("d", 0.45, "9")],
        [cand("e", 0.5, "7"), cand("f", 0.45, "9")],
    ]
    answer, confidence, totals = hierarchical_select(chains)
    assert answer == "7" and totals == {"5": 0.9, "7": 1.0}
    assert 0 < confidence < 1
    flat = StrategyConfig(strategy="revise", n=6, sequential=2)
    flat_cands = [
        cand(c["id"], c["score"], c["answer"], source="revision", group=g)
        for g, ch in enumerate(chains)
        for c in ch
    ]
    assert (
        select_answer(flat, flat_cands, verified=False)[0] == "5"
    )  # majority: 5 ties 7, seen first


def test_selection_rules() -> None:
    cs = [
        cand(f"s{i}", s, a)
        for i, (s, a) in enumerate(
            [(0.2, "1"), (0.2, "1"), (0.2, "1"), (0.45, "2"), (0.45, "2"), (0.85, "3")]
        )
    ]
    plan = StrategyConfig(strategy="best_of_n", n=6)
    assert select_answer(plan, cs, verified=True)[0] == "2"
    assert (
        select_answer(
            StrategyConfig(strategy="best_of_n", n=6, selection="majority"), cs, verified=True
        )[0]
        == "1"
    )
    assert (
        select_answer(
            StrategyConfig(strategy="best_of_n", n=6, selection="max"), cs, verified=True
        )[0]
        == "3"
    )
    assert select_answer(plan, cs, verified=False)[3] == "majority"
    unscored = [cand(c["id"], None, c["answer"]) for c in cs]
    assert select_answer(plan, unscored, verified=True)[3] == "majority"


@pytest.mark.parametrize(
    "other", [(1, "branch", 2, 0), (0, "generate", 2, 0), (0, "branch", 3, 0), (0, "branch", 2, 1)]
)
def test_seeds_depend_on_where_they_are_drawn(other: tuple[int, str, int, int]) -> None:
    assert derive_seed(0, "branch", 2, 0) == derive_seed(0, "branch", 2, 0)
    assert derive_seed(0, "branch", 2, 0) != derive_seed(*other)
    assert 0 <= derive_seed(*other) < 2**31
