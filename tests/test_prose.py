"""course.authoring.prose: a sentence that quotes a measured figure needs a source.

The check of every lesson (tests/test_notebook_hygiene.py) uses the same function.
"""

import nbformat
import pytest

from course.authoring import prose


@pytest.mark.parametrize("sentence", [
    "The cross-encoder scored test macro-F1 0.73 after 600 steps.",
    "On mini-shop the towers reached about 8× popularity's NDCG@10.",
    "int8 is 2.5 times faster at batch 32.",
    "Conversions fell by 6% in the treatment arm.",
    "In our runs the hybrid's Recall@50 was .81 on paraphrases.",
])
def test_a_measured_figure_is_flagged(sentence):
    found = prose.quoted_figures(sentence, "c1")
    assert len(found) == 1 and found[0].cell_id == "c1" and found[0].figures


@pytest.mark.parametrize("sentence", [
    "BERT4Rec beat SASRec only when trained 30× longer (Petrov & Macdonald, 2022).",
    "Krichene and Rendle (2020) show that sampled recall can reverse a ranking by 0.1.",
    "The winning ESCI team reached 0.828 micro-F1 (https://www.aicrowd.com/challenges/esci).",
    "A rule of thumb: PSI above 0.25 is a large shift. <!-- not measured: a threshold -->",
    "The gains are Exact 1, Partial 0.5, Irrelevant 0. <!-- cited: the WANDS paper, above -->",
    "Set the learning rate to 0.001 and the warmup to 10% of the steps.",  # no measured word
    "The code `macro_f1(y, p) == 0.73` and $p = 0.95$ are not prose.",
    "Lesson 03 shows the confusion matrix; section 4.2 explains it.",
])
def test_sources_settings_and_code_are_not_flagged(sentence):
    assert prose.quoted_figures(sentence) == []


def test_sentences_are_judged_one_by_one():
    text = ("MLM masks 15% of the tokens (Devlin et al., 2019). "
            "Here, DAPT improved validation macro-F1 by 0.04.")
    found = prose.quoted_figures(text)
    assert [q.figures for q in found] == [("0.04",)]


def test_a_planted_figure_in_a_notebook_is_found(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nThe model reached NDCG@10 0.86 here.",
                                      id="reading"),
        nbformat.v4.new_code_cell("print(0.86)", id="code"),
        nbformat.v4.new_markdown_cell("Look at the curve: where does it flatten?", id="ok"),
    ])
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    found = prose.lesson_figures(path)
    assert [(q.cell_id, q.figures) for q in found] == [("reading", ("0.86",))]
    assert "reached NDCG@10 0.86" in str(found[0])
