"""Best-fit-decreasing packing of examples into rows, and rows into padding-free batches.

A row concatenates whole examples; position_ids restart at 0 for each one, which is how
transformers (SDPA/eager: a block-diagonal mask; flash-attention: varlen) keeps examples from
attending to each other. That only holds when the forward runs with use_cache=False.
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
    """Stack rows into one [rows, longest] batch; the short rows end in a label-free filler."""
    width = max(sum(len(examples[i].input_ids) for i in row) for row in rows)
    ids, positions, labels, owners = [], [], [], []
    real = supervised = 0
    for row in rows:
        row_ids: list[int] = []
        row_pos: list[int] = []
        row_labels: list[int] = []
        row_owners: list[int] = []
        for index in row:
            example = examples[index]
            row_ids += example.input_ids
            row_pos += range(len(example.input_ids))
            row_labels += example.labels
            row_owners += [index] * len(example.input_ids)
            supervised += example.supervised_tokens
        real += len(row_ids)
        filler = width - len(row_ids)
        # The filler is its own pseudo-example (positions from 0): nothing attends into it.
        row_ids += [0] * filler
        row_pos += range(filler)
        row_labels += [IGNORE_INDEX] * filler
        row_owners += [-1] * filler
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
        supervised_tokens=supervised,
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
