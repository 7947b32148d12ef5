"""The classifier on the corpus of real device identities: every restricted-made device counts,
no unrestricted one is called restricted (the same computation bench_identify prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.identify.evaluate import CorpusError, describe, evaluate, parse_catalog, parse_corpus
from agent.identify.tables import load_tables

CORPUS = Path(__file__).parents[2] / "fixtures" / "identities" / "corpus.csv"


def test_recall_is_complete_and_there_are_no_false_positives_at_the_default_threshold() -> None:
    cases = parse_corpus(CORPUS.read_text(encoding="utf-8"))
    score = evaluate(cases, load_tables())
    assert score.counted >= 75 and score.restricted >= 45 and score.unrestricted >= 15
    assert score.recall == 1.0, describe(score.missed)
    assert score.false_positives == (), describe(score.false_positives)
    assert score.wrong_maker == (), describe(score.wrong_maker)
    # Unidentified are only devices whose maker the source does not name either.
    assert all(o.case.expected_maker is None for o in score.unidentified), describe(score.unidentified)


def test_every_corpus_row_names_its_source_and_constructed_rows_are_not_counted() -> None:
    cases = parse_corpus(CORPUS.read_text(encoding="utf-8"))
    assert all(c.source for c in cases)
    text = (
        CORPUS.read_text(encoding="utf-8")
        .replace(",real,", ",constructed,")
        .replace(",fixture,", ",constructed,")
    )
    assert evaluate(parse_corpus(text), load_tables()).counted == 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [(",yes,real,", ",maybe,real,", "restricted"), (",yes,real,", ",yes,guess,", "kind")],
)
def test_a_malformed_corpus_row_is_refused(old: str, new: str, message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        parse_corpus(CORPUS.read_text(encoding="utf-8").replace(old, new, 1))


def test_catalog_models_alone_are_judged_right_and_no_unrestricted_model_is_called_restricted() -> None:
    text = (CORPUS.parent / "catalog_models.csv").read_text(encoding="utf-8")
    score = evaluate(parse_catalog(text), load_tables())
    assert score.restricted >= 50 and score.unrestricted >= 70
    assert score.recall == 1.0, describe(score.missed)
    assert score.false_positives == (), describe(score.false_positives)
    assert score.wrong_maker == () and score.unidentified == (), describe(
        score.wrong_maker + score.unidentified
    )
