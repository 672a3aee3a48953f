"""Validation throughput against named baselines, measured in one run on the same file.

    python bench/validate_throughput.py --size-mb 200

(a) structural + semantic validation (no token counting) vs Together 1.x ``check_file``,
    run in its own virtualenv (created on first use: ``python -m venv bench/.venv-together &&
    bench/.venv-together/bin/pip install together==1.5.34``); goal ≥ 3×.
(b) validation with exact o200k counting vs tiktoken ``encode_ordinary_batch`` alone over the
    same texts, both on every core; goal ≥ 0.8×.
(c) peak RSS of the validating process plus its child processes (sampled sum, so pages they
    share are counted once per process: an upper bound); goal < 300 MB.
Each measurement runs in a fresh child process so that its peak RSS is its own. Timings leave
out interpreter start-up and imports on both sides (check_file times itself); ``--repeat N``
keeps the best of N runs of every measurement alike, for a machine shared with other work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOGETHER_VENV = ROOT / "bench" / ".venv-together"
TOGETHER_CHECK = (
    "import sys, time, json\n"
    "from together.utils.files import check_file\n"
    "t, c = time.perf_counter(), time.process_time(); r = check_file(sys.argv[1])\n"
    "print(json.dumps({'seconds': time.perf_counter() - t, 'cpu': time.process_time() - c,\n"
    "                  'ok': r['is_check_passed']}))\n"
)


def generate(path: Path, size_mb: int) -> None:
    rng = random.Random(42)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(5000)]
    target = size_mb * 1024 * 1024
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < target:

            def sentence(n: int) -> str:
                return " ".join(rng.choices(words, k=n)) + "."

            row = {
                "messages": [
                    {"role": "system", "content": sentence(15)},
                    {"role": "user", "content": sentence(rng.randint(40, 160))},
                    {"role": "assistant", "content": sentence(rng.randint(80, 300))},
                ]
            }
            line = json.dumps(row) + "\n"
            handle.write(line)
            written += len(line)


def _tree_rss_kb(root: int) -> int:
    """Resident KB of ``root`` and its direct children, read from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if int(entry.name) != root and ppid != root:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.wait(0.1):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(me))


def _child(mode: str, path: str) -> None:
    sys.path.insert(0, str(ROOT))
    sampler = _RssSampler()
    sampler.start()
    if mode in ("structural", "counting"):
        from service.datasets.validate import ValidationOptions, validate_file

        options = ValidationOptions(count_tokens=mode == "counting")
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        report = validate_file(path, provider="together", options=options)
        seconds = time.perf_counter() - start
        extra = {
            "valid": report.valid,
            "examples": report.examples,
            "tokens": report.tokens.total if report.tokens else None,
            "cpu": _cpu_seconds() - cpu_before,  # this process and its chunk children
        }
    else:  # plain tiktoken over the same texts; only the encoding is timed
        from service.datasets.tokens import load_encoding

        enc = load_encoding("o200k_base")
        seconds = 0.0
        tokens = 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal seconds, tokens
            t = time.perf_counter()
            tokens += sum(
                map(len, enc.encode_ordinary_batch(batch, num_threads=os.cpu_count() or 1))
            )
            seconds += time.perf_counter() - t
            batch.clear()

        with open(path, encoding="utf-8") as handle:
            for line in handle:
                batch.extend(m["content"] for m in json.loads(line)["messages"])
                if len(batch) >= 3000:
                    flush()
        flush()
        extra = {"tokens": tokens}
    sampler.stop.set()
    sampler.join()
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    tree_mb = max(sampler.peak_kb / 1024, own_mb)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_mb": tree_mb,
                "own_rss_mb": own_mb,
                "largest_child_rss_mb": children_mb,
                **extra,
            }
        )
    )


def _run(cmd: list[str], repeat: int = 1) -> dict[str, Any]:
    """The run with the fewest seconds out of ``repeat``; RSS is the worst seen."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best: dict[str, Any] = min(runs, key=lambda r: float(r["seconds"]))
    if "rss_mb" in best:
        best["rss_mb"] = max(float(r["rss_mb"]) for r in runs)
    return best


def ensure_together() -> Path:
    python = TOGETHER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOGETHER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "together==1.5.34"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--file", type=Path, default=None, help="reuse this JSONL")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs, for each side")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    path = args.file or Path(tempfile.gettempdir()) / f"tuneforge-bench-chat-{args.size_mb}mb.jsonl"
    if not path.exists():
        print(f"generating {path} ({args.size_mb} MB)…", flush=True)
        generate(path, args.size_mb)
    size_mb = path.stat().st_size / 1024 / 1024
    me = [sys.executable, __file__, "--child"]
    together_python = ensure_together()

    together = _run([str(together_python), "-c", TOGETHER_CHECK, str(path)], args.repeat)
    together_s = float(together["seconds"])
    structural = _run([*me, "structural", str(path)], args.repeat)
    counting = _run([*me, "counting", str(path)], args.repeat)
    baseline = _run([*me, "tiktoken", str(path)], args.repeat)

    s_struct, s_count = float(structural["seconds"]), float(counting["seconds"])
    s_tok = float(baseline["seconds"])
    print(f"file: {size_mb:.0f} MB, {structural['examples']} examples, cores: {os.cpu_count()}")
    print(f"(a) together 1.5.34 check_file: {size_mb / together_s:7.1f} MB/s ({together_s:.1f} s)")
    print(
        f"    tuneforge structural+semantic: {size_mb / s_struct:7.1f} MB/s ({s_struct:.1f} s)"
        f"  ratio {together_s / s_struct:.2f}x (goal >= 3x)"
    )
    print(
        f"    CPU efficiency: together {size_mb / float(together['cpu']):.0f} MB per CPU-second, "
        f"tuneforge {size_mb / float(structural['cpu']):.0f} (all processes)"
    )
    print(
        f"(b) tiktoken encode_ordinary_batch: {size_mb / s_tok:7.1f} MB/s ({s_tok:.1f} s, "
        f"{baseline['tokens']} tokens)"
    )
    print(
        f"    tuneforge validate + o200k: {size_mb / s_count:7.1f} MB/s ({s_count:.1f} s, "
        f"{counting['tokens']} tokens)  ratio {s_tok / s_count:.2f}x (goal >= 0.8x)"
    )
    print(
        f"(c) peak RSS incl. child processes: structural {structural['rss_mb']:.0f} MB "
        f"(own {structural['own_rss_mb']:.0f}, largest child "
        f"{structural['largest_child_rss_mb']:.0f}), with counting {counting['rss_mb']:.0f} MB "
        f"(goal < 300 MB)"
    )


if __name__ == "__main__":
    main()
