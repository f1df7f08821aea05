"""Benchmark: training same-shape runs together (grouped convolutions, or vmap) against one after another.

The reference players of a dataset are same-shape networks (width 64, depth 4) that start from the
same weights and see the same data order; they differ in learning rate. This trains K of them for a
few epochs three ways on one dataset and prints seconds per epoch (all K runs) and how far the
validation curves lie from the sequential ones:

* sequential: engine.training.train_epoch on each run in turn (what the game does);
* grouped: one network whose convolutions have K groups (every layer K times as wide, each group one
  run), BatchNorm per channel, a per-run classifier, the K losses summed, SGD with momentum and a
  learning rate per run;
* vmap: torch.func.functional_call over the stacked parameters of the K networks under torch.func.vmap.
  BatchNorm running statistics cannot be updated in place under vmap, so this variant trains with
  batch statistics only and is timed, not compared (it is a lower bound on what a full version costs);
  it runs in float32 (bfloat16 autocast fails in its backward pass), so compare it with ``--float32``.

    OMP_NUM_THREADS=1 python bench/batched_training.py --family shapes --seed 1000 --size small --runs 3 --epochs 3
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from engine.config import default_hparams  # noqa: E402
from engine.datasets import make_dataset  # noqa: E402
from engine.training import BATCH_SIZE, MOMENTUM, _autocast, new_state, place, train_epoch  # noqa: E402

LEARNING_RATES = (0.1, 0.01, 0.03, 0.003)


class Grouped(nn.Module):
    """K same-shape CNNs of engine.models as one network: grouped convolutions, K*width channels."""

    def __init__(self, nets: list[nn.Module]) -> None:
        super().__init__()
        self.k = len(nets)
        self.arch = nets[0].arch
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for i, block in enumerate(nets[0].blocks):
            weight = torch.cat([n.blocks[i].layer.weight.detach() for n in nets])
            conv = nn.Conv2d(weight.shape[1] * self.k, weight.shape[0], 3, padding=1, groups=self.k, bias=False)
            conv.weight = nn.Parameter(weight.clone())
            bn = nn.BatchNorm2d(weight.shape[0])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, name).data.copy_(torch.cat([getattr(n.blocks[i].bn, name).detach() for n in nets]))
            self.convs.append(conv)
            self.bns.append(bn)
        self.cls_weight = nn.Parameter(torch.stack([n.classifier.weight.detach() for n in nets]).clone())
        self.cls_bias = nn.Parameter(torch.stack([n.classifier.bias.detach() for n in nets]).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [batch, K, classes]."""
        x = x.repeat(1, self.k, 1, 1)
        layers = iter(zip(self.convs, self.bns))
        for stage, count in enumerate(self.arch.stages):
            if stage > 0:
                x = F.avg_pool2d(x, 2)
            for _ in range(count):
                conv, bn = next(layers)
                x = F.relu(bn(conv(x)))
        x = x.mean(dim=(2, 3)).view(len(x), self.k, -1)
        return torch.einsum("bkw,kcw->bkc", x, self.cls_weight) + self.cls_bias


def per_run_lr(param: torch.Tensor, lrs: torch.Tensor) -> torch.Tensor:
    """The learning rate of every element's run, shaped to broadcast over ``param`` (runs along dim 0)."""
    rows = lrs.repeat_interleave(param.shape[0] // len(lrs))
    return rows.view(-1, *([1] * (param.dim() - 1)))


def grouped_epoch(model: Grouped, buffers: dict, lrs: torch.Tensor, data, rng: torch.Generator) -> None:
    """One epoch of the grouped network: the engine's batching and SGD with momentum, one lr per run."""
    model.train()
    n = len(data.train_y)
    order = torch.randperm(n, generator=rng)
    torch.randint(0, 2**62, (1,), generator=rng)  # the dropout seed train_epoch draws: same data order next epoch
    for batch in order.tensor_split(max(1, round(n / BATCH_SIZE))):
        x, y = data.train_x[batch], data.train_y[batch]
        with _autocast(data.device, training=True):
            logits = model(x)
            loss = sum(F.cross_entropy(logits[:, k], y) for k in range(model.k))
        model.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for name, p in model.named_parameters():
                buf = buffers.get(name)
                buffers[name] = p.grad.clone() if buf is None else buf.mul_(MOMENTUM).add_(p.grad)
                p.sub_(per_run_lr(p, lrs) * buffers[name])


@torch.inference_mode()
def grouped_val(model: Grouped, data) -> list[float]:
    """Validation accuracy of each run."""
    model.eval()
    logits = model(data.val_x).float()
    return [(logits[:, k].argmax(1) == data.val_y).double().mean().item() for k in range(model.k)]


def vmap_epoch(nets: list[nn.Module], params: dict, buffers: dict, moms: dict, lrs: torch.Tensor, data, rng) -> None:
    """One epoch of the K networks through functional_call under vmap (batch-statistics BatchNorm)."""
    base = copy.deepcopy(nets[0]).to("meta")
    for module in base.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.track_running_stats = False
            module.running_mean = module.running_var = None

    def loss_of(p, b, x, y):
        return F.cross_entropy(torch.func.functional_call(base, (p, b), (x,)), y)

    grad_fn = torch.vmap(torch.func.grad(loss_of), in_dims=(0, 0, None, None))
    n = len(data.train_y)
    order = torch.randperm(n, generator=rng)
    torch.randint(0, 2**62, (1,), generator=rng)
    for batch in order.tensor_split(max(1, round(n / BATCH_SIZE))):
        x, y = data.train_x[batch], data.train_y[batch]
        grads = grad_fn(params, buffers, x, y)  # float32: bfloat16 autocast fails inside vmap's backward
        with torch.no_grad():
            for name, g in grads.items():
                moms[name] = g.clone() if name not in moms else moms[name].mul_(MOMENTUM).add_(g)
                params[name].sub_(lrs.view(-1, *([1] * (g.dim() - 1))) * moms[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="shapes")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--size", default="small")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--float32", action="store_true", help="train in float32 even where the CPU has bfloat16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.float32:
        import engine.training

        engine.training.cpu_has_native_bf16 = lambda: False
    dataset = make_dataset(args.family, args.seed, args.size)
    data = place(dataset)
    lrs = LEARNING_RATES[: args.runs]
    print(f"{dataset.ref} {args.size}: {len(dataset.train_y)} training images, {args.runs} runs of 64x4 (lr {lrs}), "
          f"{args.epochs} epochs, {torch.get_num_threads()} thread(s), "
          f"{'bfloat16' if _autocast(data.device, True)._enabled else 'float32'}")

    states = [new_state(dataset, default_hparams().replace(lr=lr), 0) for lr in lrs]
    nets0 = [copy.deepcopy(s.network) for s in states]
    started = time.perf_counter()
    sequential = [[train_epoch(s, data).val_acc for _ in range(args.epochs)] for s in states]
    seq_seconds = (time.perf_counter() - started) / args.epochs
    print(f"sequential: {seq_seconds:.2f} s per epoch of all runs; val acc {sequential}")

    model = Grouped(nets0).to(memory_format=torch.channels_last)
    lr_tensor = torch.tensor(lrs)
    rng = torch.Generator().manual_seed(0)
    buffers: dict = {}
    grouped = [[] for _ in lrs]
    started = time.perf_counter()
    for _ in range(args.epochs):
        grouped_epoch(model, buffers, lr_tensor, data, rng)
        for run, acc in zip(grouped, grouped_val(model, data)):
            run.append(acc)
    grp_seconds = (time.perf_counter() - started) / args.epochs
    gap = max(abs(a - b) for s, g in zip(sequential, grouped) for a, b in zip(s, g))
    print(f"grouped:    {grp_seconds:.2f} s per epoch of all runs ({seq_seconds / grp_seconds:.2f}x); val acc {grouped}; "
          f"largest difference from sequential {gap:.3f}")

    params, bufs = torch.func.stack_module_state(nets0)
    params = {k: v.detach().clone() for k, v in params.items()}
    moms: dict = {}
    rng = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(args.epochs):
        vmap_epoch(nets0, params, {k: v for k, v in bufs.items() if "num_batches" not in k and "running" not in k},
                   moms, lr_tensor, data, rng)
    vmap_seconds = (time.perf_counter() - started) / args.epochs
    print(f"vmap:       {vmap_seconds:.2f} s per epoch of all runs ({seq_seconds / vmap_seconds:.2f}x), training only, "
          f"batch-statistics BatchNorm")


if __name__ == "__main__":
    main()
