#!/usr/bin/env python3
"""Capture PyTorch memory snapshots on a GPU for `fraglab fidelity`.

usage: capture_snapshots.py OUTDIR [--steps N] [--device N]

Plain PyTorch, no other package. Writes into OUTDIR:
  train.pickle   a small transformer's training steps (forward, backward,
                 AdamW step) with torch.cuda.memory._record_memory_history
  infer.pickle   an inference loop over varying batch sizes and sequence
                 lengths (the drifting shapes that fragment the cache)
The allocator runs with whatever PYTORCH_CUDA_ALLOC_CONF the environment sets
(run it again with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True into
another folder for expandable segments). Exits 2 when torch or a GPU is
missing, saying which.

UNVERIFIED here: written without a GPU; scripts/gpu-check.sh runs it.
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=4, help="training steps (default 4)")
    ap.add_argument("--device", type=int, default=0, help="CUDA device (default 0)")
    args = ap.parse_args()

    try:
        import torch
        from torch import nn
    except ImportError as e:
        print("capture_snapshots: no PyTorch here (%s): pip install torch" % e, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("capture_snapshots: torch %s sees no CUDA GPU" % torch.__version__, file=sys.stderr)
        return 2

    os.makedirs(args.outdir, exist_ok=True)
    dev = torch.device("cuda", args.device)
    torch.manual_seed(0)

    def model():
        layer = nn.TransformerEncoderLayer(d_model=512, nhead=8, dim_feedforward=2048, batch_first=True)
        return nn.Sequential(nn.Embedding(8192, 512), nn.TransformerEncoder(layer, num_layers=4),
                             nn.Linear(512, 8192)).to(dev)

    def capture(name, work):
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.memory._record_memory_history(max_entries=200000)
        try:
            work()
            torch.cuda.synchronize(dev)
            path = os.path.join(args.outdir, name)
            torch.cuda.memory._dump_snapshot(path)
        finally:
            torch.cuda.memory._record_memory_history(enabled=None)
        print("wrote %s" % path)

    def train():
        m = model()
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        for step in range(args.steps):
            batch, seq = 8 + 4 * (step % 3), 128 + 64 * (step % 2)
            x = torch.randint(0, 8192, (batch, seq), device=dev)
            y = torch.randint(0, 8192, (batch, seq), device=dev)
            opt.zero_grad(set_to_none=True)
            out = m(x)
            loss = loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            loss.backward()
            opt.step()
        del m, opt

    def infer():
        m = model().eval()
        with torch.no_grad():
            for i, batch in enumerate([1, 3, 8, 5, 16, 2, 12, 7, 32, 4, 24, 9]):
                seq = (64, 200, 128, 333)[i % 4]
                x = torch.randint(0, 8192, (batch, seq), device=dev)
                out = m(x)
                out.argmax(-1).cpu()
        del m

    capture("train.pickle", train)
    capture("infer.pickle", infer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
