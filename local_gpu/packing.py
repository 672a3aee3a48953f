"""Best-fit-decreasing packing of examples into rows, and rows into padding-free batches.

A row concatenates whole examples; position_ids restart at 0 for each one, which is how
transformers (SDPA/eager: a block-diagonal mask; flash-attention: varlen) keeps examples from
attending to each other. That only holds when the forward runs with use_cache=False.

A row is made of segments: an example, or (DPO) a prompt shared by two replies, whose
attention inside the segment is not plain causal. Each segment says, per token, which hidden
state predicts it, so a token need not be predicted from the one just before it in the row.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

import torch

from local_gpu.data import IGNORE_INDEX, TokenizedExample


@dataclass(frozen=True)
class PackedBatch:
    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    # Per token, the index (in the collated examples) of the example it belongs to; -1 = filler.
    owners: torch.Tensor
    # Tokens that belong to examples (the filler at row ends is excluded).
    real_tokens: int
    supervised_tokens: int
    # Flat ([rows * width]) indices of the labelled tokens and of the hidden states that
    # predict them, in the same order.
    target_index: torch.Tensor
    predict_index: torch.Tensor
    # Per row, its segments' lengths, and per segment its attention mask ([length, length],
    # True = may attend) or None for plain causal attention (segment_attention.py).
    segment_lengths: list[list[int]]
    segment_masks: list[list[torch.Tensor | None]]


@dataclass(frozen=True)
class Segment:
    """A run of a row attended as one unit: one example, or several sharing a prefix."""

    input_ids: list[int]
    labels: list[int]  # each token's own label (IGNORE_INDEX: not a target)
    positions: list[int]
    # Per token, the index (in this segment) of the hidden state that predicts it; -1 = none.
    predictors: list[int]
    owners: list[int]
    mask: torch.Tensor | None = None  # None = causal

    @classmethod
    def of_example(cls, example: TokenizedExample, owner: int) -> Segment:
        size = len(example.input_ids)
        return cls(
            example.input_ids,
            example.labels,
            list(range(size)),
            list(range(-1, size - 1)),
            [owner] * size,
        )

    @classmethod
    def filler(cls, size: int) -> Segment:
        """The pad at a short row's end: its own pseudo-example, so nothing attends into it."""
        return cls([0] * size, [IGNORE_INDEX] * size, list(range(size)), [-1] * size, [-1] * size)


def pack_rows(lengths: list[int], capacity: int, packing: bool = True) -> list[list[int]]:
    """Group example indices into rows of at most `capacity` tokens (best fit decreasing);
    without `packing`, one example per row (longest first)."""
    if not packing:
        return [[i] for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))]
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    # Sorted (remaining capacity, row index) pairs, so the tightest fitting row is a bisect away.
    free: list[tuple[int, int]] = []
    for index in order:
        size = lengths[index]
        slot = bisect.bisect_left(free, (size, -1))
        if slot == len(free):
            rows.append([index])
            bisect.insort(free, (capacity - size, len(rows) - 1))
            continue
        remaining, row = free.pop(slot)
        rows[row].append(index)
        bisect.insort(free, (remaining - size, row))
    return rows


def collate_rows(rows: list[list[int]], examples: list[TokenizedExample]) -> PackedBatch:
    """Stack rows of examples into one [rows, longest] batch; short rows end in a filler."""
    return collate_segments([[Segment.of_example(examples[i], i) for i in row] for row in rows])


def collate_segments(rows: list[list[Segment]]) -> PackedBatch:
    """Stack rows of segments into one [rows, longest] batch; short rows end in a filler."""
    width = max(sum(len(segment.input_ids) for segment in row) for row in rows)
    ids, positions, labels, owners = [], [], [], []
    target_index: list[int] = []
    predict_index: list[int] = []
    lengths: list[list[int]] = []
    masks: list[list[torch.Tensor | None]] = []
    real = 0
    for number, row in enumerate(rows):
        row_ids: list[int] = []
        row_pos: list[int] = []
        row_labels: list[int] = []
        row_owners: list[int] = []
        real += sum(len(segment.input_ids) for segment in row)
        filler = width - sum(len(segment.input_ids) for segment in row)
        segments = [*row, Segment.filler(filler)] if filler else row
        for segment in segments:
            start = number * width + len(row_ids)
            for offset, (label, predictor) in enumerate(
                zip(segment.labels, segment.predictors, strict=True)
            ):
                if label != IGNORE_INDEX and predictor >= 0:
                    target_index.append(start + offset)
                    predict_index.append(start + predictor)
            row_ids += segment.input_ids
            row_pos += segment.positions
            row_labels += segment.labels
            row_owners += segment.owners
        lengths.append([len(segment.input_ids) for segment in segments])
        masks.append([segment.mask for segment in segments])
        ids.append(row_ids)
        positions.append(row_pos)
        labels.append(row_labels)
        owners.append(row_owners)
    return PackedBatch(
        input_ids=torch.tensor(ids, dtype=torch.long),
        position_ids=torch.tensor(positions, dtype=torch.long),
        labels=torch.tensor(labels, dtype=torch.long),
        owners=torch.tensor(owners, dtype=torch.long),
        real_tokens=real,
        supervised_tokens=len(target_index),
        target_index=torch.tensor(target_index, dtype=torch.long),
        predict_index=torch.tensor(predict_index, dtype=torch.long),
        segment_lengths=lengths,
        segment_masks=masks,
    )


@dataclass(frozen=True)
class StepPlan:
    """Which rows go into each micro-batch of each optimizer step, for every epoch."""

    rows: list[list[int]]
    rows_per_batch: int
    accumulation: int
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        per_step = self.rows_per_batch * self.accumulation
        return -(-len(self.rows) // per_step)

    def step(self, epoch: int, index: int) -> list[list[list[int]]]:
        """The micro-batches (each a list of rows) of step `index` of `epoch`."""
        order = list(range(len(self.rows)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        per_step = self.rows_per_batch * self.accumulation
        chosen = order[index * per_step : (index + 1) * per_step]
        return [
            [self.rows[r] for r in chosen[start : start + self.rows_per_batch]]
            for start in range(0, len(chosen), self.rows_per_batch)
        ]
