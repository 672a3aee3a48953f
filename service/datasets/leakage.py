"""Leakage between the parts of a split: exact duplicates (same input, same input+output) and
near duplicates (datasketch MinHash LSH over character 5-gram shingles of the normalised text,
candidates verified by exact Jaccard). Character shingles keep short examples comparable
(word 5-grams are noisy under ~20 words, EVALUATION.md §6). Listed pairs are bounded."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from datasketch import MinHash, MinHashLSH

from service.datasets.split import Example, full_hash, input_hash, normalise_text, text_of

SHINGLE = 5
NUM_PERM = 128
NEAR_THRESHOLD = 0.8
MAX_PAIRS = 100
MAX_NEAR_EXAMPLES = 50_000


def _shingles(text: str) -> set[str]:
    text = normalise_text(text)
    if len(text) <= SHINGLE:
        return {text} if text else set()
    return {text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


def _minhash(shingles: set[str]) -> MinHash:
    signature = MinHash(num_perm=NUM_PERM, seed=1)
    signature.update_batch([s.encode() for s in shingles])
    return signature


@dataclass
class PairList:
    count: int = 0
    pairs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, pair: dict[str, Any]) -> None:
        self.count += 1
        if len(self.pairs) < MAX_PAIRS:
            self.pairs.append(pair)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "pairs": self.pairs, "truncated": self.count > len(self.pairs)}


def _exact(train: list[Example], test: list[Example], key: Any) -> PairList:
    lines: dict[str, list[int]] = defaultdict(list)
    for example in train:
        lines[key(example.record)].append(example.line)
    found = PairList()
    for example in test:
        for train_line in lines.get(key(example.record), []):
            found.add({"train_line": train_line, "test_line": example.line})
    return found


def _within_test(test: list[Example]) -> PairList:
    first: dict[str, int] = {}
    found = PairList()
    for example in test:
        key = full_hash(example.record)
        if key in first:
            found.add({"test_line": first[key], "duplicate_line": example.line})
        else:
            first[key] = example.line
    return found


def _near(train: list[Example], test: list[Example]) -> dict[str, Any]:
    if len(train) + len(test) > MAX_NEAR_EXAMPLES:
        return {"skipped": f"more than {MAX_NEAR_EXAMPLES} examples", "count": None, "pairs": []}
    index = MinHashLSH(threshold=NEAR_THRESHOLD * 0.8, num_perm=NUM_PERM)
    train_shingles: dict[int, set[str]] = {}
    for example in train:
        shingles = _shingles(text_of(example.record))
        train_shingles[example.line] = shingles
        index.insert(str(example.line), _minhash(shingles))
    found = PairList()
    for example in test:
        shingles = _shingles(text_of(example.record))
        best: tuple[float, int] | None = None
        for candidate in index.query(_minhash(shingles)):
            other = train_shingles[int(candidate)]
            union = len(shingles | other)
            jaccard = len(shingles & other) / union if union else 1.0
            if jaccard >= NEAR_THRESHOLD and (best is None or jaccard > best[0]):
                best = (jaccard, int(candidate))
        if best is not None:
            found.add(
                {"train_line": best[1], "test_line": example.line, "similarity": round(best[0], 3)}
            )
    return {**found.as_dict(), "threshold": NEAR_THRESHOLD, "method": "minhash-lsh char-5-gram"}


def leakage_report(train: list[Example], test: list[Example]) -> dict[str, Any]:
    return {
        "exact_input_duplicates": _exact(train, test, input_hash).as_dict(),
        "exact_duplicates": _exact(train, test, full_hash).as_dict(),
        "near_duplicates": _near(train, test),
        "duplicates_within_test": _within_test(test).as_dict(),
    }
