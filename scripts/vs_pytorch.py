"""Inkset's recognizer against PyTorch on the CPU, side by side in one run (issue 18).

The PyTorch side is the anchor every comparison uses, ../shared/anchors/torch_recognizer.py:
its loader, rasterizer (Pillow, 4x supersampled), network, split and unknown cap are
imported from it unchanged. This script only adds what the anchor's main() does not print:
held-out accuracy after every epoch (evaluation time not counted), network-only training
speed on a ready batch, and batch-1 latency quantiles. The Inkset side is the release
`inkset-trainer`: `train` on the same folders with the same epochs, batch and learning rate
(its per-epoch history is in the artifact's manifest), then `speed` on the trained network.

With `--channels C1,C2,C3 --hidden H` both sides train another width of the same network
(the anchor's layers, with those channel counts and hidden width) instead of the anchor's
32/64/128, hidden 128; everything else stays the anchor's.

Usage: python3 vs_pytorch.py SHARED_DATA TRAINER_BIN [--epochs 30] [--targets 0.95,0.96,0.97]
       [--json OUT.json] [--threads 2] [--channels 32,64,128 --hidden 128]
"""
import argparse, json, math, os, random, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("trainer")
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--targets", default="0.95,0.96,0.97", help="held-out accuracies for the time-to-accuracy rows")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--json")
ap.add_argument("--channels", help="C1,C2,C3: the three convolutions' channels (default: the anchor's 32,64,128)")
ap.add_argument("--hidden", type=int, help="the hidden layer's width (default: the anchor's 128)")
ap.add_argument("--skip-torch", action="store_true", help="Inkset side only (for quick reruns)")
args = ap.parse_args()

os.environ["THREADS"] = str(args.threads)
anchors = os.path.join(os.path.dirname(os.path.abspath(args.data.rstrip("/"))), "anchors")
sys.path.insert(0, anchors)


def quantile(sorted_values, q):
    """Nearest rank, as inkset_model::stats::quantile."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def torch_side():
    import numpy as np
    import torch
    import torch.nn as nn
    import torch_recognizer as anchor  # seeds torch, random and numpy at import, as its main() does

    if args.channels or args.hidden:
        c1, c2, c3 = (int(c) for c in (args.channels or "32,64,128").split(","))
        hidden = args.hidden or 128
        cells = (anchor.N // 8) ** 2

        def net():
            """The anchor's network (its net()) at other widths."""
            return nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(c3 * cells, hidden), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(hidden, 6))
    else:
        net = anchor.net

    rows = anchor.load(os.path.join(args.data, "quickdraw")) + anchor.load(os.path.join(args.data, "derived"))
    tr, va, te = anchor.split(rows)
    unk = [r for r in tr if r[1] == 5]
    random.shuffle(unk)
    tr = [r for r in tr if r[1] != 5] + unk[:756]
    m = net()
    opt = torch.optim.Adam(m.parameters(), 2e-3)
    lossf = nn.CrossEntropyLoss()
    steps = args.epochs * math.ceil(len(tr) / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    aug = np.random.default_rng(42)
    x_te = torch.from_numpy(np.stack([anchor.raster(r[2]) for r in te]))[:, None]
    y_te = np.array([r[1] for r in te])
    history, train_s, seen = [], 0.0, 0
    for ep in range(args.epochs):
        t0 = time.time()
        m.train()
        random.shuffle(tr)
        for i in range(0, len(tr), 64):
            b = tr[i:i + 64]
            x = torch.from_numpy(np.stack([anchor.raster(r[2], aug) for r in b]))[:, None]
            y = torch.tensor([r[1] for r in b])
            opt.zero_grad()
            loss = lossf(m(x), y)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(b)
        train_s += time.time() - t0
        m.eval()
        with torch.no_grad():
            acc = float((m(x_te).argmax(1).numpy() == y_te).mean())
        history.append({"epoch": ep + 1, "train_seconds": train_s, "test_accuracy": acc})
        print(f"torch epoch {ep + 1:>3}  held-out {acc:.4f}  {train_s:.1f} s", file=sys.stderr, flush=True)

    # network only: one ready batch of 64, forward + loss + backward + Adam
    xb = torch.from_numpy(np.stack([anchor.raster(r[2]) for r in tr[:64]]))[:, None]
    yb = torch.tensor([r[1] for r in tr[:64]])
    net2 = net()
    opt2 = torch.optim.Adam(net2.parameters(), 1e-3)
    net2.train()
    for k in range(43):
        if k == 3:
            t = time.perf_counter()
        opt2.zero_grad()
        lossf(net2(xb), yb).backward()
        opt2.step()
    net_only = 40 * 64 / (time.perf_counter() - t)

    m.eval()
    with torch.no_grad():
        x1 = torch.rand(1, 1, anchor.N, anchor.N)
        for _ in range(20):
            m(x1)
        single = []
        for _ in range(300):
            t = time.perf_counter()
            m(x1)
            single.append((time.perf_counter() - t) * 1e3)
        single.sort()
        xb = torch.rand(64, 1, anchor.N, anchor.N)
        for _ in range(3):
            m(xb)
        t = time.perf_counter()
        for _ in range(30):
            m(xb)
        b64 = 64 * 30 / (time.perf_counter() - t)
    return {
        "framework": f"torch {torch.__version__} cpu, {torch.get_num_threads()} threads",
        "train_drawings": len(tr),
        "test_drawings": len(te),
        "train_seconds": train_s,
        "samples_per_sec": seen / train_s,
        "network_only_samples_per_sec": net_only,
        "final_test_accuracy": history[-1]["test_accuracy"],
        "history": history,
        "single_p50_ms": quantile(single, 0.5),
        "single_p99_ms": quantile(single, 0.99),
        "batch64_rows_per_sec": b64,
    }


def inkset_side():
    out = tempfile.mkdtemp(prefix="inkset-vs-torch-")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    cmd = [args.trainer, "train", "--data", os.path.join(args.data, "quickdraw"), os.path.join(args.data, "derived"),
           "--out", out, "--epochs", str(args.epochs), "--batch-size", "64", "--learning-rate", "0.002"]
    if args.channels:
        cmd += ["--channels", args.channels]
    if args.hidden:
        cmd += ["--hidden", str(args.hidden)]
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    n_train = sum(manifest["data"]["train_counts"])
    history, train_s = [], 0.0
    for e in manifest["history"]:
        train_s += n_train / e["samples_per_sec"]
        history.append({"epoch": e["epoch"], "train_seconds": train_s, "test_accuracy": e["test_accuracy"]})
    speed = json.loads(subprocess.run([args.trainer, "speed", "--model", out, "--json"], check=True, env=env,
                                      capture_output=True, text=True).stdout)
    return {
        "framework": f"inkset-trainer (native CPU training step and inference engine; burn flex for comparison), {speed['threads']} threads",
        "train_drawings": n_train,
        "test_drawings": sum(manifest["data"]["test_counts"]),
        "train_seconds": train_s,
        "command_seconds": wall,
        "samples_per_sec": n_train * len(history) / train_s,
        # what training runs on the CPU: the native step (model/src/native_train.rs)
        "network_only_samples_per_sec": speed["native_train_samples_per_sec"],
        "burn_network_only_samples_per_sec": speed["train_samples_per_sec"],
        "final_test_accuracy": history[-1]["test_accuracy"],
        "history": history,
        # what serves on the CPU: the native engine (model/src/native.rs)
        "single_p50_ms": speed["native_single_ms"][0],
        "single_p99_ms": speed["native_single_ms"][1],
        "batch64_rows_per_sec": speed["native_batch_rows_per_sec"],
        "native_max_difference": speed["native_max_difference"],
        # the same network on burn's flex backend
        "burn_single_p50_ms": speed["single_p50_ms"],
        "burn_single_p99_ms": speed["single_p99_ms"],
        "burn_batch64_rows_per_sec": speed["batch_rows_per_sec"],
    }


targets = [float(t) for t in args.targets.split(",") if t]


def to_target(side, target):
    for h in side["history"]:
        if h["test_accuracy"] >= target:
            return h["train_seconds"], h["epoch"]
    return None, None


torch_r = None if args.skip_torch else torch_side()
ink = inkset_side()
rows = [
    ("training samples/s, rasterization included", "samples_per_sec", True),
    ("training samples/s, network only (ready batch of 64; Inkset: native CPU step)", "network_only_samples_per_sec", True),
    ("training time, all epochs (s)", "train_seconds", False),
    ("held-out accuracy after the last epoch", "final_test_accuracy", None),
    ("batch-1 latency p50 (ms; Inkset: native CPU engine)", "single_p50_ms", False),
    ("batch-1 latency p99 (ms; Inkset: native CPU engine)", "single_p99_ms", False),
    ("batch-64 throughput (rows/s; Inkset: native CPU engine)", "batch64_rows_per_sec", True),
]
sides = [("PyTorch", torch_r), ("Inkset", ink)]
print(f"\n{args.epochs} epochs, batch 64, Adam 2e-3 cosine, {args.threads} threads each")
for name, s in sides:
    if s:
        print(f"  {name}: {s['framework']}; {s['train_drawings']} training drawings, {s['test_drawings']} held out")
print(f"\n| measurement | PyTorch | Inkset | Inkset speed / PyTorch |\n|---|---|---|---|")
for label, key, higher in rows:
    a = torch_r[key] if torch_r else None
    b = ink[key]
    ratio = "-"
    if a and b and higher is not None:
        ratio = f"{(b / a if higher else a / b):.2f}x"
    fmt = (lambda v: f"{v:.3f}") if "accuracy" in key or "ms" in key else (lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.1f}")
    print(f"| {label} | {fmt(a) if a is not None else '-'} | {fmt(b)} | {ratio} |")
for label, key, base in [("training samples/s, network only, Inkset on burn flex", "burn_network_only_samples_per_sec", "network_only_samples_per_sec"),
                         ("batch-1 latency p50 (ms), Inkset on burn flex", "burn_single_p50_ms", "single_p50_ms"),
                         ("batch-64 throughput (rows/s), Inkset on burn flex", "burn_batch64_rows_per_sec", "batch64_rows_per_sec")]:
    a = torch_r[base] if torch_r else None
    b = ink[key]
    higher = "rows" in key or "samples" in key
    ratio = f"{(b / a if higher else a / b):.2f}x" if a else "-"
    print(f"| {label} | {'-' if a is None else (f'{a:.3f}' if not higher else f'{a:,.0f}')} | {f'{b:.3f}' if not higher else f'{b:,.0f}'} | {ratio} |")
fmt_t = lambda t: "not reached" if t[0] is None else f"{t[0]:.1f} s (epoch {t[1]})"
for target in targets:
    ta = to_target(torch_r, target) if torch_r else (None, None)
    tb = to_target(ink, target)
    ratio = f"{ta[0] / tb[0]:.2f}x" if ta[0] and tb[0] else "-"
    print(f"| training time to held-out accuracy {target} | {fmt_t(ta)} | {fmt_t(tb)} | {ratio} |")
print(f"(native engine vs burn on the same batch: largest probability difference {ink['native_max_difference']:.1e})")
if args.json:
    json.dump({"torch": torch_r, "inkset": ink, "targets": targets, "epochs": args.epochs}, open(args.json, "w"), indent=1)
