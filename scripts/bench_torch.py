#!/usr/bin/python3
"""PyTorch peer of `kiln bench`: the reference models of WORKLOADS.md in NCHW.

A long-lived server: it reads one JSON request per line on stdin,
  {"model", "batch", "mode": "train"|"infer", "threads", "warmup", "steps",
   "maxSeconds", "seed"}
and answers one JSON line on stdout,
  {"ok": true, "imagesPerSecond", "medianStepSeconds", "steps", "warmup",
   "peakRssMB", "rssMB", "threads"}  or  {"ok": false, "error"}.
The first line it writes describes the runtime. The Node side alternates
requests with kiln's own measurements, so one process serves the whole run.
PyTorch's defaults (oneDNN convolutions, its own thread pool) are left as is;
only torch.set_num_threads follows the request.
"""
import gc
import json
import re
import resource
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except ImportError as error:  # the Node side reports the peer as missing
    print(json.dumps({"ready": False, "error": f"cannot import torch: {error}"}), flush=True)
    sys.exit(0)

INPUT_SHAPES = {"lenet5": (1, 28, 28), "alexnet-s": (3, 32, 32), "resnet20": (3, 32, 32)}


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def alexnet_s():
    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(2304, 1024), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(1024, 1024), nn.ReLU(),
        nn.Linear(1024, 10),
    )


def batch_norm(channels):
    # kiln's momentum 0.9 (Keras convention: weight of the old statistic) is PyTorch's 0.1.
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = batch_norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = batch_norm(channels)
        self.shortcut = None
        if stride != 1 or in_channels != channels:
            # "option B": a 1x1 projection where the shape changes
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), batch_norm(channels))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Module):
    def __init__(self, in_channels=3, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), batch_norm(16), nn.ReLU())
        blocks = []
        channels = 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


BUILDERS = {"lenet5": lenet5, "alexnet-s": alexnet_s, "resnet20": ResNet20}


def rss_mb():
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def reset_peak_rss():
    # Linux >= 4.0: 5 resets the high-water mark, so the peak covers one measurement.
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def peak_rss_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(request):
    name = request["model"]
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}")
    batch = int(request["batch"])
    mode = request["mode"]
    threads = int(request["threads"])
    warmup = int(request.get("warmup", 3))
    steps = int(request.get("steps", 10))
    max_seconds = float(request.get("maxSeconds", 1e9))
    torch.set_num_threads(threads)
    gc.collect()
    reset_peak_rss()
    torch.manual_seed(int(request.get("seed", 0)))

    model = BUILDERS[name]()
    x = torch.rand(batch, *INPUT_SHAPES[name]) * 2 - 1
    y = torch.randint(0, 10, (batch,))
    if mode == "train":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0)
        criterion = nn.CrossEntropyLoss()  # mean over the batch

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
    elif mode == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    else:
        raise ValueError(f"unknown mode {mode!r}")

    started = time.perf_counter()
    done_warmup = 0
    for _ in range(warmup):
        step()
        done_warmup += 1
        if time.perf_counter() - started > max_seconds:
            break
    times = []
    started = time.perf_counter()
    while len(times) < steps:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - started > max_seconds:
            break
    median = statistics.median(times)
    return {
        "ok": True,
        "imagesPerSecond": batch / median,
        "medianStepSeconds": median,
        "stepSeconds": times,
        "steps": len(times),
        "warmup": done_warmup,
        "threads": torch.get_num_threads(),
        "peakRssMB": peak_rss_mb(),
        "rssMB": rss_mb(),
    }


def main():
    # torch.backends.cpu.get_cpu_capability() appeared in 2.0; the build summary has it in every version.
    found = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    print(json.dumps({
        "ready": True,
        "version": torch.__version__,
        "isa": found.group(1) if found else "unknown",
        "blas": blas.group(1) if blas else "unknown",
        "mkldnn": torch.backends.mkldnn.is_available(),
        "defaultThreads": torch.get_num_threads(),
    }), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = measure(json.loads(line))
        except Exception as error:  # reported to the Node side, the server keeps serving
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
