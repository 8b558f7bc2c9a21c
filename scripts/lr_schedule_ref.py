#!/usr/bin/python3
"""Reference learning-rate schedules: PyTorch's LambdaLR driven the way Hugging Face's Trainer drives it
(optimizer.step() then scheduler.step()), with the lambdas of transformers' get_{constant,linear,cosine}_schedule_with_warmup
(transformers is not installed here; its lambdas are reproduced from the published source).

stdin: JSON list of cases {"kind", "total", "warmup_steps" (or null), "warmup_ratio" (or null), "lr"}
stdout: JSON list, per case the list of learning rates used at each optimizer step.
"""
import json
import math
import sys

import torch


def schedule(kind, total, warmup_steps, warmup_ratio, peak):
    warmup = warmup_steps if warmup_steps is not None else math.ceil(total * (warmup_ratio or 0))

    def constant(step):
        return step / max(1.0, warmup) if step < warmup else 1.0

    def linear(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    def cosine(step, num_cycles=0.5):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))

    lam = {"constant": constant, "linear": linear, "cosine": cosine}[kind]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=peak)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def main():
    cases = json.load(sys.stdin)
    print(json.dumps([schedule(c["kind"], c["total"], c["warmup_steps"], c["warmup_ratio"], c["lr"]) for c in cases]))


if __name__ == "__main__":
    main()
