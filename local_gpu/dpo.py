"""Direct Preference Optimization on a LoRA/QLoRA model (Rafailov et al., 2023; TRL's sigmoid
loss): loss = -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), where pi and ref are the
summed log-probabilities of a reply's tokens under the trained model and the reference.

The reference is the same model with its adapter disabled, so no second copy of the weights
is held. Chosen and rejected replies of a micro-batch's pairs are packed into the same rows
and share one forward. With segment attention (segment_attention.py) a pair is one segment,
prompt + chosen reply + rejected reply: the prompt's tokens go through the model once, and a
mask lets the rejected reply attend to the prompt but not to the chosen one (its positions
continue from the prompt, and its first token is predicted from the prompt's last); the
log-probs are those of the two separate sequences.

The reference log-probabilities of a pair never change, so they are computed once (without
grad) and cached. On a miss they are computed for the pairs of the coming steps too, in one
chunk of up to twice a micro-batch's token cap (a no-grad forward keeps no activations for
backward, so a chunk costs less memory than a training micro-batch): far fewer, larger
forwards than one reference forward per micro-batch (TRL's default).

Dropout is off (every nn.Dropout, LoRA's included), as in TRL's DPO default: with it the
policy's log-probs would be noisy and differ from the reference's even before any update.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from local_gpu.config import Evaluation, TrainingConfig
from local_gpu.data import IGNORE_INDEX, LoadedPairs, PreferencePair, TokenizedExample
from local_gpu.loading import TrainingModel
from local_gpu.loss import sequence_logps, uses_segment_attention
from local_gpu.objective import StepStats, describe_dataset
from local_gpu.packing import PackedBatch, Segment, collate_rows, collate_segments, pack_rows

# A reference chunk holds up to REFERENCE_CHUNK * rows_per_batch * max_seq_len tokens: twice
# the most a micro-batch of pairs (2 * rows_per_batch sequences) can hold.
REFERENCE_CHUNK = 4


def dpo_losses(
    policy: torch.Tensor, reference: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """policy, reference: [2 * pairs] log-probs, chosen at even and rejected at odd indices.
    Returns (per-pair loss, chosen rewards, rejected rewards); rewards are detached."""
    chosen = policy[0::2] - reference[0::2]
    rejected = policy[1::2] - reference[1::2]
    losses = -F.logsigmoid(beta * (chosen - rejected))
    return losses, beta * chosen.detach(), beta * rejected.detach()


def shared_prompt_length(pair: PreferencePair) -> int:
    """How many leading tokens chosen and rejected share before either has a target."""
    chosen, rejected = pair.chosen, pair.rejected
    shared = 0
    for a, b, label_a, label_b in zip(
        chosen.input_ids, rejected.input_ids, chosen.labels, rejected.labels, strict=False
    ):
        if a != b or label_a != IGNORE_INDEX or label_b != IGNORE_INDEX:
            break
        shared += 1
    return shared


def shared_prompt_segment(pair: PreferencePair, owner: int) -> Segment:
    """prompt + chosen reply + rejected reply as one segment; chosen's tokens are owned by
    `owner`, rejected's by `owner + 1`."""
    chosen, rejected = pair.chosen, pair.rejected
    shared, size = shared_prompt_length(pair), len(chosen.input_ids)
    tail = len(rejected.input_ids) - shared
    length = size + tail
    mask = torch.ones(length, length, dtype=torch.bool).tril()
    mask[size:, shared:size] = False  # the rejected reply does not see the chosen one
    # Rejected token k (k >= shared) sits at size + k - shared; the one before the first is the
    # prompt's last token.
    rejected_predictors = [shared - 1, *range(size, size + tail - 1)]
    return Segment(
        input_ids=chosen.input_ids + rejected.input_ids[shared:],
        labels=chosen.labels + rejected.labels[shared:],
        positions=list(range(size)) + list(range(shared, len(rejected.input_ids))),
        predictors=list(range(-1, size - 1)) + rejected_predictors,
        owners=[owner] * size + [owner + 1] * tail,
        mask=mask,
    )


class PairBatches:
    """Micro-batches of pairs, each packed into rows (one forward for chosen and rejected);
    with `share_prompt`, each pair is one shared-prompt segment."""

    def __init__(
        self, pairs: list[PreferencePair], capacity: int, packing: bool, share_prompt: bool
    ) -> None:
        self.pairs = pairs
        self.capacity = capacity
        self.packing = packing
        self.share_prompt = share_prompt and packing

    def collate(self, indices: list[int]) -> PackedBatch:
        """Sequences 2*i and 2*i + 1 of the batch are the chosen and rejected of indices[i]."""
        if self.share_prompt:
            segments = [
                shared_prompt_segment(self.pairs[index], 2 * slot)
                for slot, index in enumerate(indices)
            ]
            rows = pack_rows([len(s.input_ids) for s in segments], self.capacity)
            return collate_segments([[segments[i] for i in row] for row in rows])
        sequences: list[TokenizedExample] = []
        for index in indices:
            sequences += [self.pairs[index].chosen, self.pairs[index].rejected]
        rows = pack_rows([len(s.input_ids) for s in sequences], self.capacity, self.packing)
        return collate_rows(rows, sequences)


def disable_dropout(model: nn.Module) -> int:
    """Set p=0 on every dropout module; returns how many had p > 0."""
    changed = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p > 0:
            module.p = 0.0
            changed += 1
    return changed


class PreferenceObjective:
    def __init__(
        self,
        loaded: TrainingModel,
        config: TrainingConfig,
        train: LoadedPairs,
        valid: LoadedPairs | None,
        packing: bool,
    ) -> None:
        self.loaded = loaded
        self.config = config
        self.beta = config.dpo_beta
        self.train = train
        # The shared-prompt mask needs segment attention (the CPU path; not flash-attention).
        share = uses_segment_attention(loaded.model)
        self.train_batches = PairBatches(train.pairs, config.max_seq_len, packing, share)
        self.valid_batches = (
            PairBatches(valid.pairs, config.max_seq_len, packing, share)
            if valid is not None
            else None
        )
        self.pairs_per_micro = config.rows_per_batch
        self.pairs_per_step = config.rows_per_batch * config.gradient_accumulation_steps
        # Per pair index: reference log-probs (chosen, rejected), filled on first use.
        self._reference: dict[tuple[str, int], tuple[float, float]] = {}
        self._reference_budget = REFERENCE_CHUNK * config.rows_per_batch * config.max_seq_len
        self.dropout_disabled = disable_dropout(loaded.model)

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train.pairs) // self.pairs_per_step)

    def summary(self) -> str:
        data = self.train
        line = describe_dataset(
            len(data.pairs),
            data.tokens,
            data.truncated,
            data.dropped_without_loss,
            self.config.max_seq_len,
        ).replace("examples", "preference pairs", 1)
        notes = []
        if self.train_batches.share_prompt:
            shared = sum(shared_prompt_length(pair) for pair in data.pairs)
            notes.append(
                f"prompt shared by chosen and rejected ({shared / max(data.tokens, 1):.0%} "
                "fewer tokens through the model)"
            )
        if self.dropout_disabled:
            notes.append("dropout off for DPO")
        return "; ".join([line, *notes])

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.train.pairs), generator=generator).tolist()

    def _fill_reference(
        self, split: str, batches: PairBatches, needed: list[int], coming: list[int]
    ) -> None:
        """Cache the reference log-probs of the pairs `needed` now, in one no-grad forward
        with those of the pairs `coming` next (in that order) that fit the chunk's budget."""
        cached = self._reference
        chunk = [i for i in needed if (split, i) not in cached]
        if not chunk:
            return
        used = sum(batches.pairs[i].tokens for i in chunk)
        taken = set(chunk)
        for index in coming:
            if (split, index) in cached or index in taken:
                continue
            used += batches.pairs[index].tokens
            if used > self._reference_budget:
                break
            chunk.append(index)
            taken.add(index)
        loaded = self.loaded
        with torch.no_grad(), loaded.model.disable_adapter():
            batch = batches.collate(chunk)
            logps = sequence_logps(
                loaded.model, batch, 2 * len(chunk), loaded.device, loaded.autocast_dtype
            ).tolist()
        for slot, index in enumerate(chunk):
            cached[(split, index)] = (logps[2 * slot], logps[2 * slot + 1])

    def _pairs_forward(
        self,
        split: str,
        batches: PairBatches,
        indices: list[int],
        coming: list[int],
        scale: int | None,
    ) -> StepStats:
        """One micro-batch; backward (loss summed / `scale`) unless `scale` is None. `coming`:
        the pairs after this micro-batch, whose reference log-probs may be computed now."""
        loaded = self.loaded
        self._fill_reference(split, batches, indices, coming)
        flat = [value for i in indices for value in self._reference[(split, i)]]
        reference = torch.tensor(flat, device=loaded.device)
        batch = batches.collate(indices)
        policy = sequence_logps(
            loaded.model, batch, 2 * len(indices), loaded.device, loaded.autocast_dtype
        )
        losses, chosen, rejected = dpo_losses(policy, reference, self.beta)
        if scale is not None:
            (losses.sum() / scale).backward()  # type: ignore[no-untyped-call]
        return StepStats(
            loss_sum=losses.sum().item(),
            weight=len(indices),
            correct=int((chosen > rejected).sum().item()),
            # The pairs' own tokens, however the prompt is shared in the forward.
            tokens=sum(batches.pairs[i].tokens for i in indices),
            chosen_sum=chosen.sum().item(),
            rejected_sum=rejected.sum().item(),
            preference=True,
        )

    def train_step(self, epoch: int, index: int) -> StepStats:
        order = self._order(epoch)
        first = index * self.pairs_per_step
        chosen = order[first : first + self.pairs_per_step]
        stats = StepStats(preference=True)
        for start in range(0, len(chosen), self.pairs_per_micro):
            micro = chosen[start : start + self.pairs_per_micro]
            coming = order[first + start + len(micro) :]
            stats.add(self._pairs_forward("train", self.train_batches, micro, coming, len(chosen)))
        return stats

    def evaluate(self) -> Evaluation | None:
        if self.valid_batches is None:
            return None
        model = self.loaded.model
        was_training = model.training
        model.eval()
        stats = StepStats(preference=True)
        try:
            with torch.no_grad():
                count = len(self.valid_batches.pairs)
                for start in range(0, count, self.pairs_per_micro):
                    end = min(start + self.pairs_per_micro, count)
                    micro, coming = list(range(start, end)), list(range(end, count))
                    stats.add(self._pairs_forward("valid", self.valid_batches, micro, coming, None))
        finally:
            model.train(was_training)
        return stats.evaluation()
