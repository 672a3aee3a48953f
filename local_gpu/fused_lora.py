"""One autograd op per LoRA linear layer instead of peft's chain of small ones.

peft's ``lora.Linear`` computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling``: besides
the three matmuls that is a full-size multiply and a full-size add in forward, and in backward
another full-size multiply (the scaling) and a full-size add of the two input-gradient paths.
Here the scaling rides on the small [tokens, rank] tensors or on the GEMM's alpha, and the
LoRA term is accumulated into the base output (and into the input gradient) in place by
``addmm_``, so each full-size tensor is written once.

Only plain LoRA (with or without dropout) on an unquantized, frozen ``nn.Linear`` is fused;
with dropout the LoRA branch reads the dropped-out input, so the input gradient comes back on
two paths that autograd adds, as in peft. Anything else (DoRA and other variants, several
active adapters, merged or disabled adapters, autocast, mixed dtypes, bitsandbytes layers)
runs peft's own forward. The LoRA parameters stay the same
Parameter objects, so saving the adapter, the optimizer, checkpoints and merging are unchanged.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from peft.tuners.lora.layer import Linear as LoraLinear
from torch import nn


class _FusedLoraLinear(torch.autograd.Function):
    """y = x W^T + b + s (x' A^T) B^T for a 2-D x, with W and b frozen; x' is the dropped-out
    x given as ``x_lora``, or x itself when ``x_lora`` is None (no dropout)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        x_lora: torch.Tensor | None,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scaling: float,
    ) -> torch.Tensor:
        source = x if x_lora is None else x_lora
        out = F.linear(x, weight, bias)
        xa = source.mm(lora_a.t())  # [tokens, rank]
        out.addmm_(xa, lora_b.t(), alpha=scaling)  # scaled inside the GEMM, added in place
        ctx.save_for_backward(source, xa, weight, lora_a, lora_b)
        ctx.scaling = scaling
        ctx.shared = x_lora is None
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        source, xa, weight, lora_a, lora_b = ctx.saved_tensors
        scaling: float = ctx.scaling
        need_x, need_x_lora, _, _, need_a, need_b, _ = ctx.needs_input_grad
        grad_x = grad_x_lora = grad_a = grad_b = None
        if need_b:
            grad_b = grad_out.t().mm(xa).mul_(scaling)  # [out, rank]
        if need_x or need_x_lora or need_a:
            gxa = grad_out.mm(lora_b).mul_(scaling)  # [tokens, rank]
            if need_a:
                grad_a = gxa.t().mm(source)  # [rank, in]
            if ctx.shared:
                if need_x:
                    grad_x = grad_out.mm(weight).addmm_(gxa, lora_a)
            else:
                # Two paths into x: autograd adds this one after dropout's backward.
                if need_x:
                    grad_x = grad_out.mm(weight)
                if need_x_lora:
                    grad_x_lora = gxa.mm(lora_a)
        return grad_x, grad_x_lora, None, None, grad_a, grad_b, None


def fused_lora_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    scaling: float,
    dropout: nn.Module | None = None,
) -> torch.Tensor:
    """x [..., in] -> [..., out]; weight and bias must not require grad. ``dropout`` (peft's
    LoRA dropout module) applies to the LoRA branch's input only, as in peft."""
    if weight.requires_grad or (bias is not None and bias.requires_grad):
        raise ValueError("fused LoRA needs a frozen base layer (weight and bias without grad)")
    flat = x.reshape(-1, x.shape[-1])
    dropped = None
    if isinstance(dropout, nn.Dropout) and dropout.training and dropout.p > 0:
        dropped = dropout(flat)
    out: torch.Tensor = _FusedLoraLinear.apply(  # type: ignore[no-untyped-call]
        flat, dropped, weight, bias, lora_a, lora_b, scaling
    )
    return out.view(*x.shape[:-1], out.shape[-1])


def _single_plain_adapter(module: LoraLinear) -> str | None:
    """The one active adapter of a peft lora.Linear when it is plain LoRA, else None."""
    if module.disable_adapters or module.merged or module.fan_in_fan_out:
        return None
    active = module.active_adapters
    if len(active) != 1:
        return None
    name: str = active[0]
    if (
        name not in module.lora_A
        or name in module.lora_variant
        or module.use_dora.get(name, False)
        or type(module.lora_dropout[name]) not in (nn.Identity, nn.Dropout)
        or module.lora_A[name].bias is not None
        or module.lora_B[name].bias is not None
    ):
        return None
    return name


class FusedLoraLinear(LoraLinear):
    """A peft lora.Linear whose forward uses the fused op when it safely can.

    fuse_lora_layers switches an existing instance to this class rather than storing a bound
    method on it: a method in the instance's __dict__ would be a reference cycle, and peft
    models are otherwise cycle-free, so the whole model (GPU memory included) would outlive
    its last reference until the cyclic garbage collector ran.
    """

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        name = None
        if (
            not args
            and not kwargs
            and (self.training or torch.is_grad_enabled())
            and not torch.is_autocast_enabled(x.device.type)
        ):
            name = _single_plain_adapter(self)
        if name is not None:
            base = cast(nn.Linear, self.base_layer)
            bias = base.bias
            lora_a = cast(torch.Tensor, self.lora_A[name].weight)
            lora_b = cast(torch.Tensor, self.lora_B[name].weight)
            if (
                not base.weight.requires_grad
                and (bias is None or not bias.requires_grad)
                and x.dtype == base.weight.dtype == lora_a.dtype == lora_b.dtype
            ):
                scaling = float(self.scaling[name])
                dropout = self.lora_dropout[name]
                return fused_lora_linear(x, base.weight, bias, lora_a, lora_b, scaling, dropout)
        result: torch.Tensor = super().forward(x, *args, **kwargs)  # peft's own forward
        return result


def fuse_lora_layers(model: nn.Module) -> int:
    """Fuse every eligible peft LoRA linear layer of model in place; returns how many.

    Eligible: a peft ``lora.Linear`` over exactly ``torch.nn.Linear`` (not a bitsandbytes
    layer) with a frozen base, one active plain-LoRA adapter (plain or no dropout; no DoRA,
    other variant or LoRA bias), not merged and not fan_in_fan_out. Each call still re-checks
    what can change later (merge, disable, active adapter, grad mode, autocast, dtypes) and
    otherwise runs peft's forward.
    """
    fused = 0
    for module in model.modules():
        if type(module) is not LoraLinear:  # not already fused, not a subclass we don't know
            continue
        base = module.base_layer
        if type(base) is not nn.Linear or base.weight.requires_grad:
            continue
        if base.bias is not None and base.bias.requires_grad:
            continue
        if _single_plain_adapter(module) is None:
            continue
        module.__class__ = FusedLoraLinear
        fused += 1
    return fused
