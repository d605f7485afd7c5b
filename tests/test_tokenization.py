import pytest

from course import models
from course.errors import CourseError
from course.tokenization import (
    CHINESE_TITLES,
    encoding_table,
    playground,
    train_wordpiece,
    unknown_rate,
)


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer(models.resolve_model("minilm"))


def test_encoding_table_marks_segments_and_specials(tokenizer):
    table = encoding_table(tokenizer, "red couch", "crimson sofa")
    assert table.token.tolist()[0] == "[CLS]"
    assert table.token.tolist().count("[SEP]") == 2
    first_sep = table.token.tolist().index("[SEP]")
    assert set(table.token_type_id[: first_sep + 1]) == {0}
    assert set(table.token_type_id[first_sep + 1:]) == {1}


def test_encoding_table_rejects_batches(tokenizer):
    with pytest.raises(CourseError, match="one example"):
        encoding_table(tokenizer, ["a", "b"])


def test_english_vocab_loses_chinese_but_a_trained_one_does_not(tokenizer):
    assert unknown_rate(tokenizer, CHINESE_TITLES) > 0.3
    zh = train_wordpiece(CHINESE_TITLES, vocab_size=300)
    tokens = [t for title in CHINESE_TITLES for t in zh.encode(title).tokens]
    assert "[UNK]" not in tokens
    # BERT-style normalisation isolates every CJK character, so no token spans two of them.
    cjk = [t for t in tokens if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    assert cjk and all(len(t.replace("##", "")) == 1 for t in cjk)


def test_train_wordpiece_needs_text():
    with pytest.raises(CourseError):
        train_wordpiece(["", "  "])


def test_playground_updates_on_input(tokenizer):
    box = playground(tokenizer)
    query, out = box.children[0], box.children[-1]
    query.value = "oak table"
    assert "oak" in out.value and "tokens" in out.value
