"""Direct Preference Optimization on a LoRA/QLoRA model (Rafailov et al., 2023; TRL's sigmoid
loss): loss = -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), where pi and ref are the
summed log-probabilities of a reply's tokens under the trained model and the reference.

The reference is the same model with its adapter disabled, so no second copy of the weights
is held. Chosen and rejected replies of a micro-batch's pairs are packed into the same rows
and share one forward. The reference log-probabilities of a pair never change, so they are
computed once (without grad) and reused in later epochs and evaluations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from local_gpu.config import Evaluation, TrainingConfig
from local_gpu.data import LoadedPairs, PreferencePair, TokenizedExample
from local_gpu.loading import TrainingModel
from local_gpu.loss import sequence_logps
from local_gpu.objective import StepStats, describe_dataset
from local_gpu.packing import PackedBatch, collate_rows, pack_rows


def dpo_losses(
    policy: torch.Tensor, reference: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """policy, reference: [2 * pairs] log-probs, chosen at even and rejected at odd indices.
    Returns (per-pair loss, chosen rewards, rejected rewards); rewards are detached."""
    chosen = policy[0::2] - reference[0::2]
    rejected = policy[1::2] - reference[1::2]
    losses = -F.logsigmoid(beta * (chosen - rejected))
    return losses, beta * chosen.detach(), beta * rejected.detach()


class PairBatches:
    """Micro-batches of pairs, each packed into rows (one forward for chosen and rejected)."""

    def __init__(self, pairs: list[PreferencePair], capacity: int, packing: bool) -> None:
        self.pairs = pairs
        self.capacity = capacity
        self.packing = packing

    def collate(self, indices: list[int]) -> PackedBatch:
        sequences: list[TokenizedExample] = []
        for index in indices:
            sequences += [self.pairs[index].chosen, self.pairs[index].rejected]
        rows = pack_rows([len(s.input_ids) for s in sequences], self.capacity, self.packing)
        return collate_rows(rows, sequences)


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
        self.train_batches = PairBatches(train.pairs, config.max_seq_len, packing)
        self.valid_batches = (
            PairBatches(valid.pairs, config.max_seq_len, packing) if valid is not None else None
        )
        self.pairs_per_micro = config.rows_per_batch
        self.pairs_per_step = config.rows_per_batch * config.gradient_accumulation_steps
        # Per pair index: reference log-probs (chosen, rejected), filled on first use.
        self._reference: dict[tuple[str, int], tuple[float, float]] = {}

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train.pairs) // self.pairs_per_step)

    def summary(self) -> str:
        data = self.train
        return describe_dataset(
            len(data.pairs),
            data.tokens,
            data.truncated,
            data.dropped_without_loss,
            self.config.max_seq_len,
        ).replace("examples", "preference pairs", 1)

    def _order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.train.pairs), generator=generator).tolist()

    def _reference_logps(self, split: str, indices: list[int], batch: PackedBatch) -> torch.Tensor:
        missing = [i for i in indices if (split, i) not in self._reference]
        if missing:
            loaded = self.loaded
            with torch.no_grad(), loaded.model.disable_adapter():
                logps = sequence_logps(
                    loaded.model, batch, 2 * len(indices), loaded.device, loaded.autocast_dtype
                ).tolist()
            for slot, index in enumerate(indices):
                self._reference[(split, index)] = (logps[2 * slot], logps[2 * slot + 1])
        flat = [value for i in indices for value in self._reference[(split, i)]]
        return torch.tensor(flat, device=self.loaded.device)

    def _pairs_forward(
        self, split: str, batches: PairBatches, indices: list[int], scale: int | None
    ) -> StepStats:
        """One micro-batch; backward (loss summed / `scale`) unless `scale` is None."""
        loaded = self.loaded
        batch = batches.collate(indices)
        reference = self._reference_logps(split, indices, batch)
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
            tokens=batch.real_tokens,
            chosen_sum=chosen.sum().item(),
            rejected_sum=rejected.sum().item(),
            preference=True,
        )

    def train_step(self, epoch: int, index: int) -> StepStats:
        order = self._order(epoch)
        chosen = order[index * self.pairs_per_step : (index + 1) * self.pairs_per_step]
        stats = StepStats(preference=True)
        for start in range(0, len(chosen), self.pairs_per_micro):
            micro = chosen[start : start + self.pairs_per_micro]
            stats.add(self._pairs_forward("train", self.train_batches, micro, len(chosen)))
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
                    micro = list(range(start, min(start + self.pairs_per_micro, count)))
                    stats.add(self._pairs_forward("valid", self.valid_batches, micro, None))
        finally:
            model.train(was_training)
        return stats.evaluation()
