"""Teaching helpers for lesson 02: look inside a tokenizer, train a tiny one.

The production pieces (pair encoding, collators, length statistics) live in
:mod:`course.text`; this module holds what a trainee uses to *see* tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from course.errors import CourseArgumentError

__all__ = [
    "CHINESE_TITLES",
    "CHINESE_TITLES_HELD_OUT",
    "cjk_ideographs",
    "encoding_table",
    "is_cjk_ideograph",
    "playground",
    "train_wordpiece",
    "unknown_rate",
    "wordpiece",
]

# A few Chinese product titles (furniture and home), written for the course.
CHINESE_TITLES = [
    "北欧风格布艺沙发 三人位 灰色",
    "实木餐桌 橡木 六人 长方形",
    "现代简约真皮沙发 客厅 黑色",
    "儿童书桌 可升降 白色",
    "羊毛地毯 客厅 米色 大号",
    "布艺沙发 双人位 蓝色 小户型",
    "橡木书架 五层 落地",
    "红色丝绒抱枕 两只装",
    "实木床 一米八 双人床",
    "北欧餐椅 实木 四把装",
    "真皮办公椅 人体工学 黑色",
    "玻璃茶几 圆形 现代简约",
    "灰色地毯 卧室 短毛",
    "白色衣柜 推拉门 两门",
    "藤编收纳篮 三件套",
    "落地灯 北欧 客厅 卧室",
    "棉麻窗帘 遮光 米白色",
    "儿童床 实木 带护栏",
    "沙发床 折叠 两用 灰色",
    "实木电视柜 胡桃色 客厅",
]

# Titles the tiny WordPiece is NOT trained on: the same kind of shop, some new words.
CHINESE_TITLES_HELD_OUT = [
    "北欧实木鞋柜 三层 白色",
    "真皮沙发 单人位 棕色",
    "儿童衣柜 两门 粉色",
    "橡木梳妆台 带镜子",
    "羊毛抱枕 灰色 两只装",
    "现代简约吊灯 客厅 餐厅",
    "折叠餐桌 小户型 白色",
    "藤编椅子 阳台 休闲",
    "记忆棉床垫 双人 一米八",
    "玻璃花瓶 透明 大号",
]


def is_cjk_ideograph(char: str) -> bool:
    """True for one CJK ideograph (the Unified Ideographs blocks and their extensions)."""
    point = ord(char)
    return (
        0x4E00 <= point <= 0x9FFF
        or 0x3400 <= point <= 0x4DBF
        or 0xF900 <= point <= 0xFAFF
        or 0x20000 <= point <= 0x2FFFF
    )


def cjk_ideographs(vocab: Iterable[str]) -> list[str]:
    """The vocabulary entries that are one CJK ideograph (``##`` continuations not counted)."""
    return sorted(t for t in vocab if len(t) == 1 and is_cjk_ideograph(t))


def wordpiece(word: str, vocab: set[str], unk: str = "[UNK]", max_chars: int = 100) -> list[str]:
    """Split one lower-cased word into WordPiece tokens, greedy longest-match-first.

    The reference for lesson 02's exercise: after the first piece, a candidate is
    looked up with ``##`` in front; a word with no match at some position, or longer
    than ``max_chars``, becomes ``[unk]``.
    """
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            candidate = word[start:end] if start == 0 else "##" + word[start:end]
            if candidate in vocab:
                pieces.append(candidate)
                start = end
                break
        else:
            return [unk]
    return pieces


def encoding_table(
    tokenizer: Any, text: str, text_pair: str | None = None, **kwargs: Any
) -> pd.DataFrame:
    """One row per token: the token, its id, segment (``token_type_ids``) and attention mask."""
    encoded = tokenizer(text, text_pair, **kwargs)
    ids = encoded["input_ids"]
    if ids and isinstance(ids[0], list):
        raise CourseArgumentError(
            "encoding_table() shows one example; pass strings, not lists of strings."
        )
    return pd.DataFrame({
        "token": tokenizer.convert_ids_to_tokens(ids),
        "id": ids,
        "token_type_id": encoded.get("token_type_ids", [0] * len(ids)),
        "attention_mask": encoded.get("attention_mask", [1] * len(ids)),
    })


def unknown_rate(tokenizer: Any, texts: Iterable[str], unk: str = "[UNK]") -> float:
    """Share of tokens that are ``[UNK]`` over ``texts`` (special tokens excluded).

    ``tokenizer`` is a Hugging Face tokenizer or a ``tokenizers.Tokenizer`` (as
    :func:`train_wordpiece` returns).
    """
    if hasattr(tokenizer, "tokenize"):
        unk = tokenizer.unk_token
        tokens = [t for text in texts for t in tokenizer.tokenize(text)]
    else:
        tokens = [t for text in texts for t in tokenizer.encode(text).tokens]
    if not tokens:
        raise CourseArgumentError("unknown_rate() got no tokens: pass at least one non-empty text.")
    return sum(t == unk for t in tokens) / len(tokens)


def train_wordpiece(texts: Iterable[str], vocab_size: int = 300, *, chinese_chars: bool = True):
    """Train a tiny BERT-style WordPiece tokenizer offline with ``tokenizers``.

    Args:
        texts: training sentences.
        vocab_size: target vocabulary size, special tokens included.
        chinese_chars: put spaces around every CJK character first, as BERT does.

    Returns:
        A ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise CourseArgumentError("train_wordpiece() needs at least one non-empty text.")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(
        lowercase=True, handle_chinese_chars=chinese_chars, strip_accents=None
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def playground(tokenizer: Any) -> Any:
    """An ipywidgets tokenizer playground: type a query and a product, see the tokens."""
    import ipywidgets as widgets

    query = widgets.Text(value="crimson couch", description="query")
    product = widgets.Textarea(
        value="Red velvet sofa with oak legs, 3 seats", description="product"
    )
    max_len = widgets.IntSlider(value=32, min=8, max=128, step=4, description="max_length")
    strategy = widgets.Dropdown(options=["only_second", "longest_first", "only_first"],
                                value="only_second", description="truncation")
    out = widgets.HTML()

    def refresh(_=None) -> None:
        try:
            table = encoding_table(tokenizer, query.value, product.value or None,
                                   truncation=strategy.value, max_length=max_len.value)
            out.value = f"<b>{len(table)} tokens</b>" + table.T.to_html(header=False)
        except Exception as exc:  # noqa: BLE001 - show any tokenizer error to the trainee
            out.value = f"<pre>{type(exc).__name__}: {exc}</pre>"

    for control in (query, product, max_len, strategy):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([query, product, widgets.HBox([max_len, strategy]), out])
