"""A model card for the served search model, written with ``huggingface_hub``'s ``ModelCard``.

A model card (Mitchell et al., 2019, *Model Cards for Model Reporting*) says what a model is
for, what it was trained on, how well it does and where it fails. Lesson 05 writes one next
to the saved search service on every run (``README.md``, as on the Hugging Face Hub), and
``course serve`` names its path on ``/health``:

* :class:`CardFacts`: what the lesson knows about the served model;
* :func:`lesson06_metrics`: lesson 06's recorded behavioural-test failure rates and
  popularity-bias figures, when an executed lesson 06 notebook is found under ``build/``;
* :func:`write_model_card`: the card, with the sections of :data:`SECTIONS`;
* :func:`card_sections`: the level-2 headings of a written card (for tests and checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from course.errors import CourseDataError

__all__ = [
    "CARD_FILE",
    "SECTIONS",
    "CardFacts",
    "card_sections",
    "lesson06_metrics",
    "write_model_card",
]

CARD_FILE = "README.md"
SECTIONS = (
    "Model details",
    "Intended use",
    "Out-of-scope use",
    "Training data and licence",
    "Evaluation",
    "Behavioural tests and popularity bias",
    "Known limitations",
)
LESSON06 = "06-trust-business-value"


@dataclass
class CardFacts:
    """What the card says; every figure comes from the run that writes it.

    Args:
        base_model: the pretrained model both stages start from (a hub name).
        reranker: where the cross-encoder comes from and how it was trained, in words.
        bi_encoder: the same for the first-stage bi-encoder.
        data: the training data, in words (name, size, how it was made).
        data_licence: its licence.
        metrics: a table of validation and test metrics (rows: query family or ``all``).
        profile: the course profile of the run (``smoke``, ``cpu``, ``full``).
        lesson06: lesson 06's recorded metrics (:func:`lesson06_metrics`), or None.
        limitations: known limitations, one sentence each.
        serving: how it is served (depth, int8 scheme, latency), in words.
    """

    base_model: str
    reranker: str
    bi_encoder: str
    data: str
    data_licence: str
    metrics: pd.DataFrame
    profile: str
    lesson06: dict[str, Any] | None = None
    limitations: list[str] = field(default_factory=list)
    serving: str = ""


def lesson06_metrics(build: str | Path, profiles: tuple[str, ...] = ("cpu", "full", "smoke")
                     ) -> tuple[dict[str, Any] | None, Path | None]:
    """Lesson 06's recorded metrics from ``build/<profile>/06-...ipynb`` (the first found).

    ``course run`` writes executed lessons there. Returns ``(metrics, notebook)``, or
    ``(None, None)`` when lesson 06 has not been run with any of ``profiles``.
    """
    from course.record import read_metrics

    for profile in profiles:
        notebook = Path(build) / profile / f"{LESSON06}.ipynb"
        if notebook.is_file():
            metrics = read_metrics(notebook)
            if any(k.startswith(("fail_", "pop_")) for k in metrics):
                return metrics, notebook
    return None, None


def _lesson06_section(metrics: dict[str, Any] | None, source: str) -> str:
    if not metrics:
        return (
            "These figures come from lesson 06 (trust and business value), which tests the "
            "cross-encoder with behavioural tests (CheckList) and measures the popularity bias "
            "of lesson 04's recommenders. No executed lesson 06 was found when this card was "
            "written. To add them: `course run 06-trust-business-value` (it writes "
            "`build/<profile>/06-trust-business-value.ipynb`), then run lesson 05 again."
        )
    fails = {k[len("fail_"):]: v for k, v in metrics.items() if k.startswith("fail_")}
    pops = {k[len("pop_"):]: v for k, v in metrics.items() if k.startswith("pop_")}
    lines = [
        f"From lesson 06's recorded metrics ({source}). Lesson 06 tested "
        f"**{metrics.get('model_origin', 'its own cross-encoder')}**, which is not necessarily "
        "the model this card describes: read them as the behaviour of this recipe.",
        "",
        "| behavioural test (model_test) | failure rate |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in sorted(fails.items())],
        "",
        "| popularity bias (model_figure) | value |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in sorted(pops.items())],
    ]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    """A small DataFrame as a Markdown table (numbers to 3 decimals; no extra dependency)."""

    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    head = [frame.index.name or ""] + [str(c) for c in frame.columns]
    rows = [[str(i)] + [cell(v) for v in row]
            for i, row in zip(frame.index, frame.values, strict=True)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _metadata(facts: CardFacts) -> str:
    from huggingface_hub import ModelCardData

    data = ModelCardData(
        language="en",
        license="apache-2.0",
        base_model=facts.base_model,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["cross-encoder", "product-search", "re-ranking", "course"],
    )
    return data.to_yaml()


def write_model_card(folder: str | Path, facts: CardFacts, lesson06_source: str = "") -> Path:
    """Write ``folder/README.md`` (metadata, then the sections of :data:`SECTIONS`); its path."""
    from huggingface_hub import ModelCard

    if facts.metrics.empty:
        raise CourseDataError("The model card needs validation and test metrics; got none.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "Model details": (
            "A two-stage product search for the course's mini-shop "
            f"(profile `{facts.profile}`).\n\n"
            f"* Re-ranker (cross-encoder, 3 classes Exact / Partial / Irrelevant, scored as the "
            f"expected gain): {facts.reranker}.\n"
            f"* First stage: BM25 and a bi-encoder ({facts.bi_encoder}), fused.\n"
            f"* Base model: `{facts.base_model}`.\n"
            f"* Serving: {facts.serving or 'see the manifest'}."
        ),
        "Intended use": (
            "Teaching: ranking the products of a small furniture and home catalogue for short "
            "English shopping queries, and showing how such a model is evaluated and served."
        ),
        "Out-of-scope use": (
            "Real shops, other languages or product domains, long or adversarial inputs, and "
            "any decision about people. Its scores are not calibrated probabilities of purchase."
        ),
        "Training data and licence": (
            f"{facts.data} Licence of the data: {facts.data_licence}. The base model "
            f"`{facts.base_model}` is Apache-2.0; the course's code is Apache-2.0."
        ),
        "Evaluation": (
            "Validation chose every setting; the test split was read once. Per query family:\n\n"
            + _markdown_table(facts.metrics)
        ),
        "Behavioural tests and popularity bias": _lesson06_section(facts.lesson06,
                                                                   lesson06_source),
        "Known limitations": "\n".join(f"* {line}" for line in facts.limitations)
        or "* None recorded by this run.",
    }
    text = "\n\n".join(f"## {name}\n\n{body[name]}" for name in SECTIONS)
    content = f"---\n{_metadata(facts)}\n---\n\n# Mini-shop product search\n\n{text}\n"
    path = folder / CARD_FILE
    ModelCard(content).save(path)
    return path


def card_sections(path: str | Path) -> list[str]:
    """The ``## `` headings of a model card, in order."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(Path(path))
    return [line[3:].strip() for line in card.text.splitlines() if line.startswith("## ")]
