"""``hyperquest worker``: a Celery worker running background jobs of some lanes (scaled-out mode)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

from app.jobs.lanes import PLAYERS, TRAINING_LANES, parse_lanes
from engine.errors import ConfigError

MAX_PROCESSES = 64

DESCRIPTION = """\
Start one Celery worker. Each of its pool processes (--processes K, default 1) runs one job at a
time, taking the lanes it serves in priority order: players' epochs, then what a player waits
for after Done (test accuracy, debrief branches), then baselines of datasets nobody can play yet,
then reference players (--queues picks lanes; a worker with `--queues players` keeps its capacity
for players' epochs). CUDA is initialised only in the pool processes, never in the parent.

Several players per GPU: the game's networks are small, so one epoch at a time leaves a GPU mostly
idle (the time goes to Python and kernel launches, not arithmetic). `--gpu N --processes K` serves
GPU N with K processes, each with its own CUDA context, so K players' epochs share the GPU and keep
it busy. Under CUDA MPS (start its daemon with `nvidia-cuda-mps-control -d`) the kernels of those
processes run concurrently; without it they take turns. Run one worker per GPU; choose K with
`bench/gpu_check.sh` (`python -m bench.gpu_check`, in a checkout) on that machine.

--gpu N sets CUDA_VISIBLE_DEVICES to GPU N (an index among the GPUs this process sees) and
HYPERQUEST_DEVICE=cuda for the pool processes; GPUs are counted in a short subprocess. Without
--gpu the worker trains on HYPERQUEST_DEVICE (auto: a GPU if one is visible, else the CPU), and
--processes K still runs K epochs at once. With K > 1 and HYPERQUEST_TRAINING_THREADS unset, the
CPU threads are split between the processes. Each process keeps its own cache of datasets (on
the GPU with --gpu), so memory grows with K, and trains one tiny epoch as it starts
(HYPERQUEST_WARM_UP), so no player's first epoch pays its one-off set-up."""


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "worker",
        help="start a Celery worker (needs HYPERQUEST_REDIS_URL)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queues", default=",".join(TRAINING_LANES),
                        help=f"lanes to serve, comma-separated: {', '.join(TRAINING_LANES)} (default all)")
    parser.add_argument("--gpu", type=int, default=None, metavar="N",
                        help="train on GPU N only (CUDA_VISIBLE_DEVICES=N, HYPERQUEST_DEVICE=cuda)")
    parser.add_argument("--processes", type=int, default=1, metavar="K",
                        help=f"pool processes, i.e. epochs trained at once (1-{MAX_PROCESSES}, default 1)")
    parser.add_argument("--name", default=None,
                        help="worker name (default hyperquest-PID@HOST, hyperquest-gpuN-PID@HOST with --gpu)")
    parser.add_argument("--loglevel", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(run=run)


def celery_argv(queues: list[str], name: str, loglevel: str, processes: int = 1) -> list[str]:
    """The arguments handed to Celery's ``worker_main``.

    prefork: time limits and reject-on-worker-lost need a pool parent that survives its
    children, and the children (not the parent) are where CUDA gets initialised.
    """
    return [
        "worker", "--pool", "prefork", "--concurrency", str(processes), "--queues", ",".join(queues),
        "--hostname", name, "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]


def default_name(gpu: int | None) -> str:
    """hyperquest-PID@HOST, with the GPU in it when the worker serves one."""
    gpu_part = "" if gpu is None else f"gpu{gpu}-"
    return f"hyperquest-{gpu_part}{os.getpid()}@{socket.gethostname()}"


def check_processes(processes: int) -> None:
    """ConfigError unless 1 <= processes <= MAX_PROCESSES."""
    if not 1 <= processes <= MAX_PROCESSES:
        raise ConfigError(f"--processes must be between 1 and {MAX_PROCESSES}, got {processes}")


_CUDA_PROBE = (
    "import json, sys, torch\n"
    "gpu = int(sys.argv[1])\n"
    "count = torch.cuda.device_count() if torch.version.cuda else 0\n"
    "name = torch.cuda.get_device_name(gpu) if 0 <= gpu < count else None\n"
    "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'count': count, 'name': name}))\n"
)


def probe_cuda(gpu: int, env: dict[str, str] | None = None) -> dict:
    """torch version, CUDA version, GPU count and GPU ``gpu``'s name, as a fresh process sees them.

    A subprocess, so that CUDA is never initialised in this process, which forks the pool.
    """
    try:
        result = subprocess.run([sys.executable, "-c", _CUDA_PROBE, str(gpu)], env=env, capture_output=True,
                                text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ConfigError("--gpu: counting the GPUs took over 120 s (is the NVIDIA driver hung?)") from None
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"--gpu: could not count the GPUs: {detail}")
    return json.loads(lines[-1])


def select_gpu(gpu: int, probe: dict, visible: str | None) -> str:
    """The CUDA_VISIBLE_DEVICES value for GPU ``gpu``; ConfigError (one line) when there is no such GPU.

    ``gpu`` indexes the GPUs this process sees: with CUDA_VISIBLE_DEVICES=2,3 already set, --gpu 1
    means physical GPU 3.
    """
    if gpu < 0:
        raise ConfigError(f"--gpu must be 0 or more, got {gpu}")
    if probe["cuda"] is None:
        raise ConfigError(f"--gpu {gpu}: this PyTorch ({probe['torch']}) is a CPU-only build, so it cannot use a GPU; "
                          "install a CUDA build of torch, or leave out --gpu to train on the CPU")
    count = probe["count"]
    if count == 0:
        hint = " (CUDA_VISIBLE_DEVICES is empty)" if visible is not None and not visible.strip() else ""
        raise ConfigError(f"--gpu {gpu}: no CUDA GPU is visible{hint}; leave out --gpu to train on the CPU")
    if gpu >= count:
        raise ConfigError(f"--gpu {gpu}: only {count} GPU(s) visible, numbered 0 to {count - 1}")
    entries = [v.strip() for v in visible.split(",")] if visible else []
    return entries[gpu] if gpu < len(entries) else str(gpu)


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    """Validate the settings, then hand over to Celery's worker until it is stopped."""
    from app.settings import load_settings

    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError("set HYPERQUEST_REDIS_URL: workers exist only in the scaled-out mode")
    try:
        lanes = parse_lanes(args.queues)
    except ValueError as exc:
        raise ConfigError(f"--queues: {exc}") from None
    check_processes(args.processes)
    if args.gpu is not None and args.gpu < 0:
        raise ConfigError(f"--gpu must be 0 or more, got {args.gpu}")

    startup = f"{args.processes} pool process{'es' if args.processes > 1 else ''}"
    hint = None
    if args.gpu is not None:
        from engine.devices import mps_pipe_directory

        probe = probe_cuda(args.gpu)
        visible = select_gpu(args.gpu, probe, os.environ.get("CUDA_VISIBLE_DEVICES"))
        # Inherited by the pool processes, which are forked after this and initialise CUDA there.
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
        os.environ["HYPERQUEST_DEVICE"] = "cuda"
        mps = mps_pipe_directory()
        startup += (f" on GPU {args.gpu} ({probe['name']}, CUDA_VISIBLE_DEVICES={visible}); "
                    + (f"CUDA MPS in use ({mps})" if mps else "CUDA MPS not running"))
        if not mps and args.processes > 1:
            hint = (f"hint: without CUDA MPS the {args.processes} processes' kernels take turns on the GPU; "
                    "start its daemon (nvidia-cuda-mps-control -d) to run them concurrently")
    else:
        startup += f" on device {settings.device}"
    if args.processes > 1 and settings.training_threads is None:
        threads = max(1, cpu_cores() // args.processes)
        os.environ["HYPERQUEST_TRAINING_THREADS"] = str(threads)
        startup += f", {threads} CPU thread{'s' if threads > 1 else ''} each"

    from celery.utils.nodenames import host_format

    from app.jobs.celery_config import LANES_ENV, OWN_QUEUE_ENV, lane_queue, own_queue
    from worker.celery_app import app
    from worker.heartbeat import keep_alive

    name = args.name or default_name(args.gpu)
    # Highest priority first: the broker transport takes a worker's queues in this order.
    queues = [lane_queue(settings, lane) for lane in lanes]
    os.environ[LANES_ENV] = ",".join(lanes)  # read by the pool processes (the lanes a job may yield to)
    if PLAYERS in lanes:
        # Its own queue first: the web app sends a run's next epoch here while this worker lives, since
        # its processes already hold that run's dataset (generated and placed on the device).
        mine = own_queue(settings, host_format(name))  # %h etc. expanded, as Celery does for the name
        queues.insert(0, mine)
        os.environ[OWN_QUEUE_ENV] = mine
        keep_alive(settings, mine, args.processes)
    print(f"hyperquest worker {name}: {startup}; lanes {', '.join(lanes)}", flush=True)
    if hint:
        print(f"hyperquest worker: {hint}", flush=True)
    app.worker_main(celery_argv(queues, name, args.loglevel, args.processes))
    return 0
