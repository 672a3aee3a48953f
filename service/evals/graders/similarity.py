"""``text_similarity`` metrics, one pinned library call each (EVALUATION.md §2).

OpenAI publishes names, not implementations, so exact parity with its numbers is not
promised; ``IMPLEMENTATIONS`` records what each metric runs and is stored beside every score.
- fuzzy_match: rapidfuzz ``fuzz.WRatio`` with ``utils.default_process`` / 100 (OpenAI's own
  python-grader example).
- bleu: NLTK ``sentence_bleu`` with ``SmoothingFunction().method4`` (unsmoothed sentence BLEU
  collapses to ~0 on short texts), NLTK word tokens.
- gleu: NLTK ``sentence_gleu`` (1-4-grams), NLTK word tokens.
- meteor: NLTK ``meteor_score`` (alpha 0.9, beta 3, gamma 0.5) on NLTK word tokens, synonyms
  from WordNet 3.0 read offline (``wordnet.py``).
- rouge_1…rouge_5, rouge_l: rouge-score ``RougeScorer`` F-measure, no stemming (its tokeniser
  keeps only [a-z0-9], so non-Latin text scores 0).
- cosine: needs an embeddings model; none is configured in tuneforge, so it is refused at
  eval create."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz import fuzz, utils
from rouge_score import rouge_scorer

from service.evals.graders.wordnet import wordnet

IMPLEMENTATIONS = {
    "fuzzy_match": "rapidfuzz.fuzz.WRatio(default_process)/100",
    "bleu": "nltk.sentence_bleu(method4)",
    "gleu": "nltk.sentence_gleu",
    "meteor": "nltk.meteor_score(alpha=0.9,beta=3,gamma=0.5,wordnet-3.0)",
    **{f"rouge_{n}": f"rouge_score.rouge{n}.fmeasure" for n in ("1", "2", "3", "4", "5")},
    "rouge_l": "rouge_score.rougeL.fmeasure",
}

_tokenizer = NLTKWordTokenizer()


def _tokens(text: str) -> list[str]:
    return list(_tokenizer.tokenize(text))


def fuzzy_match(hypothesis: str, reference: str) -> float:
    return float(fuzz.WRatio(hypothesis, reference, processor=utils.default_process)) / 100


def _token_metric(
    metric: Callable[[list[str], list[str]], float],
) -> Callable[[str, str], float]:
    def score(hypothesis: str, reference: str) -> float:
        hyp, ref = _tokens(hypothesis), _tokens(reference)
        if not hyp or not ref:
            return 1.0 if hyp == ref else 0.0
        return float(metric(hyp, ref))

    return score


bleu = _token_metric(
    lambda hyp, ref: sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method4)
)
gleu = _token_metric(lambda hyp, ref: sentence_gleu([ref], hyp))


def meteor(hypothesis: str, reference: str, wordnet_dir: Path) -> float:
    reader = wordnet(wordnet_dir)
    return _token_metric(
        lambda hyp, ref: meteor_score([ref], hyp, alpha=0.9, beta=3, gamma=0.5, wordnet=reader)
    )(hypothesis, reference)


@functools.cache
def _rouge(kind: str) -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer([kind], use_stemmer=False)


def rouge(hypothesis: str, reference: str, n: str) -> float:
    kind = "rougeL" if n == "l" else f"rouge{n}"
    return float(_rouge(kind).score(reference, hypothesis)[kind].fmeasure)


def similarity(metric: str, hypothesis: str, reference: str, wordnet_dir: Path) -> float:
    """The score in [0, 1]; ``metric`` has been validated at eval create."""
    if metric == "fuzzy_match":
        return fuzzy_match(hypothesis, reference)
    if metric == "bleu":
        return bleu(hypothesis, reference)
    if metric == "gleu":
        return gleu(hypothesis, reference)
    if metric == "meteor":
        return meteor(hypothesis, reference, wordnet_dir)
    if metric.startswith("rouge_"):
        return rouge(hypothesis, reference, metric.removeprefix("rouge_"))
    raise ValueError(f"metric {metric!r} cannot be computed here")
