"""GPU check: one epoch on the GPU against the CPU, and how many players one GPU serves.

``python -m bench.gpu_check`` (or ``bench/gpu_check.sh``) prints, within a time budget
(``--seconds``, default 255: under five minutes with start-up and shutdown):

1. **Epochs**: the seconds of one epoch (train + val) at ``--size`` for each ``--configs``
   network on ``--device`` (median of a few epochs after a warm-up epoch, with
   ``torch.cuda.synchronize`` around each) and on the CPU (one or two epochs after a warm-up on
   a slice, as bench.training does), and their ratio.
2. **Players**: for each K in ``--players``, K worker processes (spawned) share the device, the
   way ``hyperquest worker --gpu N --processes K`` does. K simulated players each submit a
   Continue to one shared job queue as soon as their previous epoch is done; a worker does what
   an epoch job does (checkpoint from bytes, ``continue_training`` on the dataset it generated and
   placed on the device once, checkpoint to bytes). Reported: epochs per second overall and
   p50/p95 seconds from a Continue being queued to its epoch coming back.

Every part is time-boxed; when the budget runs out the figures finished so far are printed and
the rest is reported as skipped. ``--device cpu --size tiny`` runs the same code on a CPU (tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import queue as queue_module
import statistics
import sys
import time

import torch
import torch.multiprocessing as mp

from bench.training import EPOCH_CONFIGS, TRAIN_FLOP_FACTOR
from engine import checkpoint, devices
from engine.config import DEFAULT_DEPTH, DEFAULT_LR, DEFAULT_WIDTH, HyperParams
from engine.datasets import SIZES, Dataset, make_dataset
from engine.errors import ConfigError, HyperQuestError
from engine.models import architecture_for, count_flops
from engine.session import continue_training
from engine.training import new_state, place, train_epoch

#: The dataset every figure is measured on (the one ``hyperquest bench`` times epochs on).
FAMILY, SEED = "shapes", 1
DEFAULT_PLAYERS = (1, 4, 8, 16)
DEFAULT_SECONDS = 255.0
#: Share of the budget the epoch part may use; the players part gets the rest.
EPOCH_PART_SHARE = 0.35
#: Epochs timed per network on the device after the warm-up, and at most on the CPU.
DEVICE_EPOCHS, CPU_EPOCHS = 3, 2
#: Examples the CPU warm-up trains on (a full warm-up epoch would double the CPU's cost).
CPU_WARMUP_EXAMPLES = 256
class OutOfTime(Exception):
    """The part's deadline passed in the middle of an epoch."""


def parse_configs(text: str) -> list[tuple[int, int]]:
    """``32x2,64x4`` -> [(32, 2), (64, 4)]; ConfigError on anything else."""
    configs = []
    for token in (t.strip() for t in text.split(",")):
        try:
            width, depth = (int(v) for v in token.lower().split("x"))
        except ValueError:
            raise ConfigError(f"network must look like WIDTHxDEPTH (e.g. 64x4), got {token!r}") from None
        HyperParams(width, depth, DEFAULT_LR)  # validates the ranges
        configs.append((width, depth))
    return configs


def parse_players(text: str) -> list[int]:
    """``1,4,8`` -> [1, 4, 8], each between 1 and 64."""
    try:
        players = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--players must be comma-separated whole numbers, got {text!r}") from None
    if not players or any(not 1 <= k <= 64 for k in players):
        raise ConfigError(f"--players must be numbers between 1 and 64, got {text!r}")
    return players


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def check_device(name: str) -> torch.device:
    """The device to measure; ConfigError (one line) when CUDA is asked for and absent."""
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; choose cuda or cpu")
    if torch.version.cuda is None:
        raise ConfigError(f"--device {name}: this PyTorch ({torch.__version__}) is a CPU-only build; run on a machine "
                          "with an NVIDIA GPU and a CUDA build of torch, or pass --device cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), "
                          "or pass --device cpu")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) visible")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels, so a timing covers them."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def machine_info(device: torch.device, size: str) -> dict:
    """Device name, torch, CUDA and cuDNN versions, CPU threads, MPS state."""
    info = {
        "device": str(device), "device_name": _cpu_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": None, "cpu": _cpu_name(), "cpu_threads": torch.get_num_threads(), "mps": None, "size": size,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(device_name=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version(),
                    mps=devices.mps_pipe_directory())
    return info


def _stop_at(deadline: float):
    """A progress callback that aborts the epoch once ``deadline`` (perf_counter) has passed."""

    def check(_done: int, _total: int) -> None:
        if time.perf_counter() > deadline:
            raise OutOfTime()

    return check


def timed_epochs(dataset: Dataset, width: int, depth: int, device: torch.device, epochs: int, deadline: float,
                 warm_examples: int | None = None) -> list[float]:
    """Seconds of up to ``epochs`` epochs after one warm-up epoch (on ``warm_examples`` only, if given).

    Stops before an epoch that would, at the pace so far, end after ``deadline``; an epoch under
    way when the deadline passes is abandoned. May return an empty list.
    """
    hparams = HyperParams(width, depth, DEFAULT_LR)
    data = place(dataset, device)
    warm = dataset
    if warm_examples is not None:
        warm = dataclasses.replace(dataset, train_x=dataset.train_x[:warm_examples],
                                   train_y=dataset.train_y[:warm_examples])
    stop = _stop_at(deadline)
    seconds: list[float] = []
    try:
        # Warm-up: the first pass through a network shape pays one-off set-up (cuDNN/oneDNN
        # kernel choice, allocator growth) that no later epoch pays.
        warm_data = data if warm is dataset else place(warm, device)
        train_epoch(new_state(warm, hparams, SEED, device), warm_data, stop)
        state = new_state(dataset, hparams, SEED, device)
        for _ in range(epochs):
            if seconds and time.perf_counter() + statistics.fmean(seconds) > deadline:
                break
            synchronize(device)
            started = time.perf_counter()
            train_epoch(state, data, stop)
            synchronize(device)
            seconds.append(time.perf_counter() - started)
    except OutOfTime:
        pass
    return seconds


def epoch_part(dataset: Dataset, size: str, configs: list[tuple[int, int]], device: torch.device, deadline: float,
               emit) -> None:
    """Part 1: epoch seconds on the device and on the CPU for each network."""
    examples = len(dataset.train_y)
    for index, (width, depth) in enumerate(configs):
        net = f"{width}x{depth}"
        now = time.perf_counter()
        if now >= deadline:
            emit({"type": "skipped", "part": "epochs", "net": net, "reason": "out of time"})
            continue
        # Leave the networks still to come their share of what is left.
        share = (deadline - now) / (len(configs) - index)
        own_deadline = now + share if index < len(configs) - 1 else deadline
        on_device = timed_epochs(dataset, width, depth, device, DEVICE_EPOCHS,
                                 now + share * (0.5 if device.type == "cuda" else 1.0))
        if device.type == "cuda":
            on_cpu = timed_epochs(dataset, width, depth, torch.device("cpu"), CPU_EPOCHS, own_deadline,
                                  warm_examples=CPU_WARMUP_EXAMPLES)
        else:
            on_cpu = on_device
        record = {"type": "epoch", "net": net, "size": size, "examples": examples, "device": str(device),
                  "device_seconds": None, "device_epochs": len(on_device),
                  "cpu_seconds": None, "cpu_epochs": len(on_cpu), "cpu_over_device": None, "device_gflops": None}
        if on_device:
            record["device_seconds"] = statistics.median(on_device)
            arch = architecture_for(dataset.input_shape, dataset.num_classes, width, depth)
            flops = count_flops(arch) * (TRAIN_FLOP_FACTOR * examples + len(dataset.val_y))
            record["device_gflops"] = flops / record["device_seconds"] / 1e9
        if on_cpu:
            record["cpu_seconds"] = statistics.median(on_cpu)
        if on_device and on_cpu:
            record["cpu_over_device"] = record["cpu_seconds"] / record["device_seconds"]
        emit(record)


def _player_worker(rank: int, device_name: str, size: str, net: tuple[int, int], threads: int,
                   jobs, results) -> None:
    """One pool process: generate and place the dataset once, warm up, then serve epoch jobs."""
    try:
        torch.set_num_threads(threads)
        device = torch.device(device_name)
        dataset = make_dataset(FAMILY, SEED, size)
        data = place(dataset, device)  # once per process, as a worker caches it
        hparams = HyperParams(net[0], net[1], DEFAULT_LR)
        train_epoch(new_state(dataset, hparams, 10_000 + rank, device), data)  # warm-up
        synchronize(device)
        results.put(("ready", rank))
        while True:
            job = jobs.get()
            if job is None:
                return
            player, blob = job
            started = time.perf_counter()
            state = checkpoint.from_bytes(blob, device)
            state, metrics, _ = continue_training(state, {}, data)
            blob = checkpoint.to_bytes(state)  # copies to the CPU, so the epoch's kernels are done
            results.put(("done", player, blob, metrics.seconds, time.perf_counter() - started))
    except Exception as exc:  # reported to the parent, which stops this K
        results.put(("error", rank, f"{type(exc).__name__}: {exc}"))


@dataclasses.dataclass
class PlayersResult:
    """What K players sharing the device achieved."""

    players: int
    epochs: int
    seconds: float
    latencies: list[float]
    job_seconds: list[float]
    train_seconds: list[float]
    threads: int = 1
    startup_seconds: float | None = None
    note: str | None = None

    def record(self, net: str, device: torch.device) -> dict:
        """JSON-ready summary."""
        out = {"type": "players", "players": self.players, "net": net, "device": str(device), "epochs": self.epochs,
               "seconds": self.seconds, "epochs_per_second": None, "latency_p50": None, "latency_p95": None,
               "job_seconds_mean": None, "train_seconds_mean": None, "startup_seconds": self.startup_seconds,
               "threads_per_process": self.threads, "note": self.note}
        if self.epochs and self.seconds > 0:
            out.update(epochs_per_second=self.epochs / self.seconds,
                       latency_p50=percentile(self.latencies, 50), latency_p95=percentile(self.latencies, 95),
                       job_seconds_mean=statistics.fmean(self.job_seconds),
                       train_seconds_mean=statistics.fmean(self.train_seconds))
        return out


def players_run(k: int, device: torch.device, size: str, net: tuple[int, int], dataset: Dataset,
                epochs_per_player: int, deadline: float) -> PlayersResult:
    """K spawned worker processes on ``device``; K closed-loop players; stops by ``deadline``."""
    context = mp.get_context("spawn")
    jobs, results = context.Queue(), context.Queue()
    # The CPU threads are split between the processes, as `hyperquest worker --processes K` does.
    threads = max(1, torch.get_num_threads() // k)
    hparams = HyperParams(net[0], net[1], DEFAULT_LR)
    blobs = [checkpoint.to_bytes(new_state(dataset, hparams, player)) for player in range(k)]
    # The module by name, not __main__, so spawned children find the function under ``-m`` too.
    from bench import gpu_check

    processes = [context.Process(target=gpu_check._player_worker,
                                 args=(rank, str(device), size, net, threads, jobs, results), daemon=True)
                 for rank in range(k)]
    result = PlayersResult(k, 0, 0.0, [], [], [], threads=threads)
    began = time.perf_counter()
    try:
        for process in processes:
            process.start()
        # Start-up (interpreter, torch, CUDA context, data, warm-up) may use three quarters of the slot.
        ready_by = deadline - max(2.0, (deadline - time.perf_counter()) * 0.25)
        ready = 0
        while ready < k:
            message = _get(results, ready_by, processes)
            if message is None:
                result.note = f"only {ready} of {k} processes were ready in time"
                return result
            if message[0] == "error":
                result.note = f"process {message[1]} failed: {message[2]}"
                return result
            ready += 1
        result.startup_seconds = time.perf_counter() - began

        submitted: dict[int, float] = {}
        done = [0] * k
        started = time.perf_counter()
        last_done = started
        for player in range(k):
            submitted[player] = time.perf_counter()
            jobs.put((player, blobs[player]))
        while submitted:
            message = _get(results, deadline, processes)
            if message is None:
                result.note = f"out of time with {len(submitted)} epochs in flight"
                break
            if message[0] == "error":
                result.note = f"process {message[1]} failed: {message[2]}"
                break
            _, player, blob, train_seconds, job_seconds = message
            now = time.perf_counter()
            last_done = now
            result.latencies.append(now - submitted.pop(player))
            result.job_seconds.append(job_seconds)
            result.train_seconds.append(train_seconds)
            done[player] += 1
            # Submit the next Continue at once, unless this player is done or it would end too late.
            slowest = max(result.latencies)
            if done[player] < epochs_per_player and now + 1.5 * slowest < deadline:
                submitted[player] = time.perf_counter()
                jobs.put((player, blob))
        result.epochs = len(result.latencies)
        result.seconds = last_done - started
        return result
    finally:
        for _ in processes:
            jobs.put(None)
        for process in processes:
            process.join(timeout=5)
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        jobs.cancel_join_thread()
        results.cancel_join_thread()


def _get(results, deadline: float, processes):
    """The next message from ``results``; None once ``deadline`` passes; an error once a process died."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        try:
            return results.get(timeout=min(left, 0.5))
        except queue_module.Empty:
            for rank, process in enumerate(processes):
                if process.exitcode is not None:
                    return ("error", rank, f"exited with status {process.exitcode}")


def players_part(players: list[int], device: torch.device, size: str, net: tuple[int, int], dataset: Dataset,
                 epochs_per_player: int, deadline: float, emit) -> None:
    """Part 2: throughput and latency with K players for each K."""
    net_name = f"{net[0]}x{net[1]}"
    for index, k in enumerate(players):
        now = time.perf_counter()
        if deadline - now < 5:
            emit({"type": "skipped", "part": "players", "players": k, "reason": "out of time"})
            continue
        # An even share of what is left, weighted towards larger K (more processes to start).
        weights = [1 + p / 8 for p in players[index:]]
        slot = (deadline - now) * weights[0] / sum(weights)
        emit(players_run(k, device, size, net, dataset, epochs_per_player, now + slot).record(net_name, device))


class Printer:
    """Prints records as tables (or JSON lines) as soon as they are measured."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.last_type: str | None = None

    def __call__(self, record: dict) -> None:
        if self.as_json:
            print(json.dumps(record), flush=True)
            return
        kind = record["type"]
        if kind == "machine":
            self._machine(record)
        elif kind == "epoch":
            self._epoch(record, header=self.last_type != "epoch")
        elif kind == "players":
            if self.last_type != "players":
                print(f"\nPlayers sharing {record['device']} ({record['net']}, one pool process each, next Continue "
                      "as soon as the epoch is back): seconds from Continue queued to epoch back")
                print(f"{'players':>7} {'epochs':>6} {'seconds':>8} {'epochs/s':>9} {'p50 s':>7} {'p95 s':>7} "
                      f"{'train s':>8} {'job s':>7} {'start s':>8}")
            print(f"{record['players']:>7} {record['epochs']:>6} {_fmt(record['seconds'], 1):>8} "
                  f"{_fmt(record['epochs_per_second'], 2):>9} {_fmt(record['latency_p50'], 3):>7} "
                  f"{_fmt(record['latency_p95'], 3):>7} {_fmt(record['train_seconds_mean'], 3):>8} "
                  f"{_fmt(record['job_seconds_mean'], 3):>7} {_fmt(record['startup_seconds'], 1):>8}"
                  + (f"  ({record['note']})" if record["note"] else ""), flush=True)
        elif kind == "skipped":
            what = record.get("net") or f"{record.get('players')} players"
            print(f"skipped ({record['part']}, {what}): {record['reason']}", flush=True)
        elif kind == "done":
            status = "finished" if record["complete"] else "budget reached, some parts skipped or cut short"
            print(f"\n{status} in {record['seconds']:.1f} s (budget {record['budget_seconds']:.0f} s)", flush=True)
        self.last_type = kind

    @staticmethod
    def _epoch(record: dict, header: bool) -> None:
        on_cpu = record["device"] == "cpu"  # then the device is the CPU: no second column
        if header:
            print(f"\nOne epoch (train + val) on {FAMILY}:{SEED}, size {record['size']}, "
                  f"{record['examples']} training examples: median seconds")
            columns = f"{'net':<7} {record['device'] + ' s':>10} {'epochs':>6} "
            if not on_cpu:
                columns += f"{'cpu s':>8} {'epochs':>6} {'cpu/' + record['device']:>10} "
            print(columns + f"{'GFLOP/s':>9}")
        line = f"{record['net']:<7} {_fmt(record['device_seconds'], 3):>10} {record['device_epochs']:>6} "
        if not on_cpu:
            line += (f"{_fmt(record['cpu_seconds'], 3):>8} {record['cpu_epochs']:>6} "
                     f"{_fmt(record['cpu_over_device'], 2, 'x'):>10} ")
        print(line + f"{_fmt(record['device_gflops'], 1):>9}", flush=True)

    @staticmethod
    def _machine(record: dict) -> None:
        extra = ""
        if "memory_gib" in record:
            extra = f", {record['memory_gib']} GiB, compute capability {record['capability']}"
        print(f"device {record['device']}: {record['device_name']}{extra}")
        print(f"torch {record['torch']}, CUDA {record['cuda'] or 'none'}, cuDNN {record['cudnn'] or 'none'}; "
              f"CPU {record['cpu']}, {record['cpu_threads']} threads; size {record['size']}")
        if record["device"].startswith("cuda"):
            print(f"CUDA MPS: {'in use (' + record['mps'] + ')' if record['mps'] else 'not running'}", flush=True)


def _fmt(value: float | None, digits: int, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.gpu_check",
        description="Epoch time on a GPU against the CPU, and throughput and latency with K players sharing one "
                    "GPU (K pool processes), within a time budget.",
    )
    parser.add_argument("--device", default="cuda", help="device to measure: cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--size", default="full", choices=tuple(SIZES), help="dataset size (default full)")
    parser.add_argument("--configs", default=",".join(f"{w}x{d}" for w, d in EPOCH_CONFIGS),
                        help="WIDTHxDEPTH networks for the epoch part (default 32x2,64x4,128x8)")
    parser.add_argument("--players", default=",".join(map(str, DEFAULT_PLAYERS)),
                        help="numbers of concurrent players (and pool processes) to try (default 1,4,8,16)")
    parser.add_argument("--player-net", default=f"{DEFAULT_WIDTH}x{DEFAULT_DEPTH}",
                        help="WIDTHxDEPTH network the players train (default the game's 64x4)")
    parser.add_argument("--epochs-per-player", type=int, default=12,
                        help="Continues each player makes per K, time allowing (default 12)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"time budget for everything (default {DEFAULT_SECONDS:.0f})")
    parser.add_argument("--parts", default="epochs,players", help="epochs, players or both (default both)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    return parser


def run(args: argparse.Namespace) -> int:
    """Measure and print; returns the exit status."""
    began = time.perf_counter()
    if not 5 <= args.seconds <= 3600:
        raise ConfigError(f"--seconds must be between 5 and 3600, got {args.seconds}")
    if not 1 <= args.epochs_per_player <= 1000:
        raise ConfigError(f"--epochs-per-player must be between 1 and 1000, got {args.epochs_per_player}")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - {"epochs", "players"}:
        raise ConfigError(f"--parts must name epochs and/or players, got {args.parts!r}")
    configs = parse_configs(args.configs)
    players = parse_players(args.players)
    (player_net,) = parse_configs(args.player_net)
    device = check_device(args.device)
    deadline = began + args.seconds

    emit = Printer(args.json)
    emit({"type": "machine", **machine_info(device, args.size), "budget_seconds": args.seconds})
    dataset = make_dataset(FAMILY, SEED, args.size)
    complete = True

    def track(record: dict) -> None:
        nonlocal complete
        if record["type"] == "skipped" or record.get("note") or record.get("device_epochs") == 0:
            complete = False
        emit(record)

    if "epochs" in parts:
        share = EPOCH_PART_SHARE if "players" in parts else 1.0
        epoch_part(dataset, args.size, configs, device, began + args.seconds * share, track)
    if "players" in parts:
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the parent's cached blocks are of no use to the workers
        players_part(players, device, args.size, player_net, dataset, args.epochs_per_player, deadline, track)
    emit({"type": "done", "seconds": time.perf_counter() - began, "budget_seconds": args.seconds,
          "complete": complete})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: a bad flag or a missing GPU is one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HyperQuestError as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gpu_check: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
