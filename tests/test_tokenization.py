import pytest

from course import models
from course.errors import CourseArgumentError
from course.tokenization import (
    CHINESE_TITLES,
    CHINESE_TITLES_HELD_OUT,
    cjk_ideographs,
    encoding_table,
    is_cjk_ideograph,
    playground,
    train_wordpiece,
    unknown_rate,
    wordpiece,
)

WORDS = ["sofa", "sectional", "unbelievably", "loveseat", "chaise", "ottoman", "armoire",
         "credenza", "upholstered", "microfiber", "sectionl", "nordhaus", "xyzzyqwv", "a",
         "antimicrobial", "ergonomically", "reclinerr", "tufted", "2400mm", "café"]


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
    with pytest.raises(CourseArgumentError, match="one example"):
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
    with pytest.raises(CourseArgumentError):
        train_wordpiece(["", "  "])


def test_wordpiece_reference_matches_the_hf_tokenizer(tokenizer):
    vocab = set(tokenizer.vocab)
    for word in WORDS:
        # the HF tokenizer lower-cases and strips accents before WordPiece
        clean = tokenizer.backend_tokenizer.normalizer.normalize_str(word)
        assert wordpiece(clean, vocab) == tokenizer.tokenize(word), word


def test_wordpiece_edge_cases():
    assert wordpiece("abc", {"a", "##b"}) == ["[UNK]"]
    assert wordpiece("ab", {"a", "b", "##b"}) == ["a", "##b"]
    assert wordpiece("ab", {"a", "ab", "##b"}) == ["ab"]  # longest match first
    assert wordpiece("a" * 101, {"a", "##a"}) == ["[UNK]"]
    assert wordpiece("aa", {"a", "##a"}, unk="<unk>", max_chars=1) == ["<unk>"]


def test_the_english_vocabulary_has_244_cjk_ideographs(tokenizer):
    ideographs = cjk_ideographs(tokenizer.vocab)
    assert len(ideographs) == 244
    assert all(f"##{c}" in tokenizer.vocab for c in ideographs)
    assert is_cjk_ideograph("词") and not is_cjk_ideograph("a") and not is_cjk_ideograph("，")


def test_a_tiny_chinese_wordpiece_on_titles_it_never_saw(tokenizer):
    assert not set(CHINESE_TITLES) & set(CHINESE_TITLES_HELD_OUT)
    zh = train_wordpiece(CHINESE_TITLES, vocab_size=300)
    assert unknown_rate(zh, CHINESE_TITLES) == 0  # in-sample: every character was seen
    held_out = unknown_rate(zh, CHINESE_TITLES_HELD_OUT)
    assert 0 < held_out < unknown_rate(tokenizer, CHINESE_TITLES_HELD_OUT)


def test_playground_updates_on_input(tokenizer):
    box = playground(tokenizer)
    query, out = box.children[0], box.children[-1]
    query.value = "oak table"
    assert "oak" in out.value and "tokens" in out.value
