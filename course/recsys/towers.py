"""The two towers: a BERT item tower and a recency-weighted user tower.

* :class:`ItemTower`: the encoder reads an item's text; mean pooling over the
  attention mask, an optional ``Linear`` projection, L2 normalisation.
* :class:`UserTower`: the item vectors of a user's history pooled with weights
  that halve every ``half_life`` purchases back from the latest one
  (:func:`recency_pool`), then a residual MLP and L2 normalisation.
* :class:`TwoTower`: both towers; a score is the cosine of a user and an item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course.errors import CourseArgumentError

__all__ = [
    "ItemTower",
    "TwoTower",
    "UserTower",
    "mean_pool",
    "recency_pool",
    "recency_weights",
    "two_tower",
]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors that the attention mask keeps (``[B, T, d]`` -> ``[B, d]``)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def recency_weights(history_mask: torch.Tensor, half_life: float | torch.Tensor) -> torch.Tensor:
    """Weights ``2 ** (-age / half_life)`` per history slot, 0 on padding.

    Histories are right-padded (``[B, H]`` mask, real items first); the latest
    purchase of a row has age 0, the one before it age 1, and so on.
    """
    half_life = torch.as_tensor(half_life, dtype=torch.float32, device=history_mask.device)
    mask = history_mask.to(half_life.dtype)
    lengths = mask.sum(dim=1, keepdim=True)
    position = torch.arange(history_mask.shape[1], device=history_mask.device).to(mask.dtype)
    age = (lengths - 1 - position).clamp_min(0)
    return torch.exp(-age * math.log(2.0) / half_life) * mask


def recency_pool(
    history_vecs: torch.Tensor, history_mask: torch.Tensor, half_life: float | torch.Tensor
) -> torch.Tensor:
    """Recency-weighted mean of the history's item vectors, ``[B, H, d]`` -> ``[B, d]``.

    The weights are :func:`recency_weights`, normalised to sum to 1 per row; an
    all-padding row pools to zeros.
    """
    weights = recency_weights(history_mask.to(history_vecs.device), half_life)
    weights = weights.to(history_vecs.dtype)
    pooled = (weights.unsqueeze(-1) * history_vecs).sum(dim=1)
    return pooled / weights.sum(dim=1, keepdim=True).clamp_min(1e-9)


class UserTower(nn.Module):
    """A user vector from the item vectors of their history.

    ``u = normalise(p + MLP(p))`` with ``p`` = :func:`recency_pool` of the
    history. The MLP's last layer starts at zero, so an untrained tower is the
    pooled history itself; the half-life (in purchases) is learned by default.

    Args:
        dim: size of the item vectors.
        half_life: initial recency half-life, in purchases.
        learn_half_life: whether the half-life is trained.
        hidden: width of the MLP (default: twice ``dim``).
    """

    log_half_life: torch.Tensor  # a parameter, or a buffer when the half-life is fixed

    def __init__(self, dim: int, half_life: float = 5.0, learn_half_life: bool = True,
                 hidden: int | None = None):
        super().__init__()
        if dim < 1:
            raise CourseArgumentError(f"dim must be positive, got {dim}.")
        if half_life <= 0:
            raise CourseArgumentError(f"half_life must be positive, got {half_life}.")
        self.dim = dim
        log_hl = torch.tensor(math.log(half_life))
        if learn_half_life:
            self.log_half_life = nn.Parameter(log_hl)
        else:
            self.register_buffer("log_half_life", log_hl)
        width = hidden or 2 * dim
        last = nn.Linear(width, dim)
        nn.init.zeros_(last.weight)  # residual branch starts at zero: u = pooled history
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(nn.Linear(dim, width), nn.GELU(), last)

    @property
    def half_life(self) -> float:
        """Current recency half-life, in purchases."""
        return float(self.log_half_life.detach().exp())

    def recency_weights(self, history_mask: torch.Tensor) -> torch.Tensor:
        """:func:`recency_weights` with this tower's half-life (differentiable)."""
        return recency_weights(history_mask, self.log_half_life.exp())

    def forward(self, history_vecs: torch.Tensor, history_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised user vectors ``[B, d]`` from history item vectors ``[B, H, d]``."""
        pooled = recency_pool(history_vecs, history_mask, self.log_half_life.exp())
        return F.normalize(pooled + self.mlp(pooled), dim=-1)


class ItemTower(nn.Module):
    """Item vectors from item texts: encoder, mean pooling, projection, L2 norm.

    With ``freeze_encoder=True`` (the fast CPU path) the encoder runs once over
    the catalog (:meth:`encode_items`) and its outputs are cached; only the
    projection trains. With ``False`` the encoder is fine-tuned and item vectors
    are recomputed in every step; it then changes the ``encoder`` object you
    passed, so give each model its own copy.

    Args:
        encoder: a Hugging Face encoder (``course.models.load_encoder``).
        tokenizer: its tokenizer (``course.models.load_tokenizer``).
        item_texts: the text of every item, indexed by item index.
        projection_dim: size of the projection; None keeps the encoder size, no projection.
        freeze_encoder: cache item embeddings and train only the projection.
        max_length: tokens kept per item text.
        batch_size: batch size for encoding the catalog.
        progress: show a tqdm bar while encoding.
        item_embeddings: precomputed :meth:`encode_items` output for ``item_texts``
            (frozen mode only), e.g. another tower's ``item_cache``, to skip encoding.
    """

    # buffers, registered in __init__ (item_cache only with a frozen encoder)
    item_input_ids: torch.Tensor
    item_attention_mask: torch.Tensor
    item_cache: torch.Tensor

    def __init__(self, encoder: nn.Module, tokenizer, item_texts: Sequence[str], *,
                 projection_dim: int | None = None, freeze_encoder: bool = True,
                 max_length: int = 64, batch_size: int = 64, progress: bool = True,
                 item_embeddings: torch.Tensor | None = None):
        super().__init__()
        if len(item_texts) == 0:
            raise CourseArgumentError("item_texts is empty; pass the text of every item.")
        self.encoder, self.tokenizer = encoder, tokenizer
        self.max_length, self.freeze_encoder, self.progress = max_length, freeze_encoder, progress
        hidden = _hidden_size(encoder)
        self.dim = projection_dim or hidden
        self.projection = _projection(hidden, projection_dim)
        tokens = tokenizer(list(item_texts), padding=True, truncation=True,
                           max_length=max_length, return_tensors="pt")
        self.register_buffer("item_input_ids", tokens["input_ids"], persistent=False)
        self.register_buffer("item_attention_mask", tokens["attention_mask"], persistent=False)
        if freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.encoder.eval()
            cache = self._catalog_cache(list(item_texts), batch_size, item_embeddings)
            self.register_buffer("item_cache", cache, persistent=False)

    def _catalog_cache(self, texts: list[str], batch_size: int,
                       given: torch.Tensor | None) -> torch.Tensor:
        hidden = _hidden_size(self.encoder)
        if given is None:
            return self.encode_items(texts, batch_size=batch_size)
        if tuple(given.shape) != (len(texts), hidden):
            raise CourseArgumentError(
                f"item_embeddings must be [{len(texts)}, {hidden}] (one encoder vector per item "
                f"text), got {tuple(given.shape)}; recompute them with encode_items."
            )
        return given.float()

    @property
    def num_items(self) -> int:
        """Catalog size."""
        return self.item_input_ids.shape[0]

    def train(self, mode: bool = True):
        """Like ``nn.Module.train``, but a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        width = int(attention_mask.sum(dim=1).max())  # drop columns that are padding in every row
        input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    @torch.no_grad()
    def encode_items(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Mean-pooled encoder outputs (before projection) of ``texts``, ``[n, hidden]``.

        Texts are encoded without gradients, in length-sorted batches (less padding),
        with a tqdm bar.
        """
        device = next(self.encoder.parameters()).device
        was_training = self.encoder.training
        self.encoder.eval()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = torch.empty(len(texts), _hidden_size(self.encoder), device=device)
        for start in tqdm(range(0, len(texts), batch_size), desc="encoding items", unit="batch",
                          disable=not self.progress):
            rows = order[start : start + batch_size]
            tokens = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(device)
            out[torch.as_tensor(rows, device=device)] = self._encode(
                tokens["input_ids"], tokens["attention_mask"]
            ).float()
        self.encoder.train(was_training)
        return out

    def _base_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            return self.item_cache[ids]
        return self._encode(self.item_input_ids[ids], self.item_attention_mask[ids])

    def forward(self, item_ids: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised vectors of ``item_ids`` (any shape -> ``[..., dim]``); all items if None.

        Each distinct id is encoded once. With a fine-tuned encoder this runs the
        encoder with gradients; use :meth:`all_item_vectors` for the whole catalog.
        """
        device = self.item_input_ids.device
        if item_ids is None:
            item_ids = torch.arange(self.num_items, device=device)
        item_ids = torch.as_tensor(item_ids, device=device)
        unique, inverse = torch.unique(item_ids.reshape(-1), return_inverse=True)
        vecs = F.normalize(self.projection(self._base_vectors(unique)), dim=-1)
        return vecs[inverse].reshape(*item_ids.shape, -1)

    @torch.no_grad()
    def all_item_vectors(self, batch_size: int = 256) -> torch.Tensor:
        """Vectors of the whole catalog, ``[num_items, dim]``, without gradients."""
        if self.freeze_encoder:
            return self()
        chunks = [
            self(torch.arange(s, min(s + batch_size, self.num_items)))
            for s in tqdm(range(0, self.num_items, batch_size), desc="item vectors",
                          disable=not self.progress)
        ]
        return torch.cat(chunks)

    def text_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """The tower applied to any text (e.g. search queries), ``[n, dim]``."""
        device = self.item_input_ids.device
        tokens = self.tokenizer(list(texts), padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt").to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            base = self._encode(tokens["input_ids"], tokens["attention_mask"])
        return F.normalize(self.projection(base), dim=-1)


def _hidden_size(encoder: nn.Module) -> int:
    """The width of the encoder's token vectors (a Hugging Face ``config.hidden_size``)."""
    size = getattr(getattr(encoder, "config", None), "hidden_size", None)
    if not isinstance(size, int):
        raise CourseArgumentError(
            f"The encoder ({type(encoder).__name__}) has no config.hidden_size; pass a Hugging "
            "Face encoder, e.g. course.models.load_encoder(...)."
        )
    return size


def _projection(hidden: int, projection_dim: int | None) -> nn.Module:
    """A ``Linear`` to ``projection_dim`` that starts orthogonal (keeps the encoder's geometry)."""
    if not projection_dim:
        return nn.Identity()
    layer = nn.Linear(hidden, projection_dim)
    nn.init.orthogonal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class TwoTower(nn.Module):
    """An item tower and a user tower; a score is ``cos(user, item)``.

    Args:
        item_tower: an :class:`ItemTower`.
        user_tower: a :class:`UserTower` of the item tower's size (default: a new one).
    """

    def __init__(self, item_tower: ItemTower, user_tower: UserTower | None = None, *args, **kwargs):
        super().__init__()
        if args or kwargs or not isinstance(item_tower, ItemTower):  # the signature before 2026-11
            raise CourseArgumentError(
                f"TwoTower takes an ItemTower (and optionally a UserTower), got "
                f"{type(item_tower).__name__}. To build both towers from an encoder, call "
                "TwoTower.from_encoder(encoder, tokenizer, item_texts, projection_dim=...)."
            )
        user_tower = user_tower if user_tower is not None else UserTower(item_tower.dim)
        if user_tower.dim != item_tower.dim:
            raise CourseArgumentError(
                f"The user tower takes {user_tower.dim}-d item vectors but the "
                f"item tower gives {item_tower.dim}-d ones; build UserTower(item_tower.dim)."
            )
        self.item_tower, self.user_tower = item_tower, user_tower

    @classmethod
    def from_encoder(cls, encoder: nn.Module, tokenizer, item_texts: Sequence[str], *,
                     half_life: float = 5.0, learn_half_life: bool = True,
                     user_hidden: int | None = None, **item_kwargs) -> TwoTower:
        """Both towers at once; ``item_kwargs`` go to :class:`ItemTower`."""
        items = ItemTower(encoder, tokenizer, item_texts, **item_kwargs)
        return cls(items, UserTower(items.dim, half_life, learn_half_life, user_hidden))

    @property
    def num_items(self) -> int:
        """Catalog size."""
        return self.item_tower.num_items

    @property
    def dim(self) -> int:
        """Size of the user and item vectors."""
        return self.item_tower.dim

    @property
    def half_life(self) -> float:
        """The user tower's recency half-life, in purchases."""
        return self.user_tower.half_life

    @property
    def encoder(self) -> nn.Module:
        """The item tower's encoder."""
        return self.item_tower.encoder

    @property
    def item_cache(self) -> torch.Tensor:
        """The item tower's cached encoder outputs, ``[num_items, hidden]`` (frozen mode only)."""
        return self.item_tower.item_cache

    def train(self, mode: bool = True):
        """Like ``nn.Module.train``; a frozen encoder stays in eval mode."""
        super().train(mode)
        self.item_tower.train(mode)
        return self

    def item_vectors(self, item_ids: torch.Tensor | None = None) -> torch.Tensor:
        """See :meth:`ItemTower.forward`."""
        return self.item_tower(item_ids)

    def all_item_vectors(self, batch_size: int = 256) -> torch.Tensor:
        """See :meth:`ItemTower.all_item_vectors`."""
        return self.item_tower.all_item_vectors(batch_size)

    def user_vectors(self, history_ids: torch.Tensor, history_mask: torch.Tensor,
                     history_vecs: torch.Tensor | None = None) -> torch.Tensor:
        """L2-normalised user vectors ``[B, dim]`` from right-padded histories ``[B, H]``.

        Pass ``history_vecs`` (``[B, H, dim]``, or a ``[num_items, dim]`` table)
        to reuse item vectors computed already.
        """
        if history_vecs is None:
            history_vecs = self.item_vectors(history_ids)
        elif history_vecs.ndim == 2:
            history_vecs = history_vecs[history_ids]
        return self.user_tower(history_vecs, history_mask)

    def score(self, history_ids: torch.Tensor, history_mask: torch.Tensor,
              item_ids: torch.Tensor) -> torch.Tensor:
        """Cosine of each user with ``item_ids`` (``[B]`` -> ``[B]``, ``[B, n]`` -> ``[B, n]``)."""
        users = self.user_vectors(history_ids, history_mask)
        items = self.item_vectors(item_ids)
        if items.ndim == 2:
            return (users * items).sum(dim=-1)
        return torch.einsum("bd,bnd->bn", users, items)

    def forward(self, history_ids: torch.Tensor, history_mask: torch.Tensor,
                positive: torch.Tensor, negatives: torch.Tensor | None = None):
        """User vectors ``[B, dim]``, positive item vectors ``[B, dim]``, negatives ``[B, n, dim]``.

        Each distinct item of the batch (history, positives, negatives) is encoded once.
        """
        parts = [history_ids.reshape(-1), positive.reshape(-1)]
        if negatives is not None:
            parts.append(negatives.reshape(-1))
        table = self.item_vectors(torch.cat(parts))
        n_hist, n_pos = history_ids.numel(), positive.numel()
        history_vecs = table[:n_hist].reshape(*history_ids.shape, -1)
        users = self.user_tower(history_vecs, history_mask)
        pos = table[n_hist : n_hist + n_pos]
        neg = None
        if negatives is not None:
            neg = table[n_hist + n_pos :].reshape(*negatives.shape, table.shape[-1])
        return users, pos, neg

    def query_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """Query tower: the item tower over query text (search as retrieval), ``[n, dim]``."""
        return self.item_tower.text_vectors(texts)


def two_tower(model_name: str | None = None, item_texts: Sequence[str] = (), **kwargs) -> TwoTower:
    """A :class:`TwoTower` from a model name (``course.models.resolve_model``).

    ``kwargs`` go to :meth:`TwoTower.from_encoder`.
    """
    from course.models import load_encoder, load_tokenizer, resolve_model

    resolved = resolve_model(model_name)
    return TwoTower.from_encoder(load_encoder(resolved), load_tokenizer(resolved), item_texts,
                                 **kwargs)
