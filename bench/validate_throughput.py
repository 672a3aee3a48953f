"""Validation throughput against named baselines, measured in one run on the same file.

    python bench/validate_throughput.py --size-mb 200

(a) structural + semantic validation (no token counting) vs Together 1.x ``check_file``,
    run in its own virtualenv (created on first use: ``python -m venv bench/.venv-together &&
    bench/.venv-together/bin/pip install together==1.5.34``); goal ≥ 3×.
(b) validation with exact o200k counting vs tiktoken ``encode_ordinary_batch`` alone over the
    same texts, both on every core; goal ≥ 0.8×.
(c) peak RSS of the validating process; goal < 300 MB.
Each measurement runs in a fresh child process so that its peak RSS is its own.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOGETHER_VENV = ROOT / "bench" / ".venv-together"
TOGETHER_CHECK = (
    "import sys, time, json\n"
    "from together.utils.files import check_file\n"
    "t = time.perf_counter(); r = check_file(sys.argv[1])\n"
    "print(json.dumps({'seconds': time.perf_counter() - t, 'ok': r['is_check_passed']}))\n"
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


def _child(mode: str, path: str) -> None:
    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    if mode in ("structural", "counting"):
        from service.datasets.validate import ValidationOptions, validate_file

        options = ValidationOptions(count_tokens=mode == "counting")
        report = validate_file(path, provider="together", options=options)
        extra = {
            "valid": report.valid,
            "examples": report.examples,
            "tokens": report.tokens.total if report.tokens else None,
        }
        seconds = time.perf_counter() - start
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
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, **extra}))


def _run(cmd: list[str]) -> dict[str, object]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


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

    t = time.perf_counter()
    subprocess.run(
        [str(together_python), "-c", TOGETHER_CHECK, str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    together_s = time.perf_counter() - t
    structural = _run([*me, "structural", str(path)])
    counting = _run([*me, "counting", str(path)])
    baseline = _run([*me, "tiktoken", str(path)])

    s_struct, s_count = float(structural["seconds"]), float(counting["seconds"])  # type: ignore[arg-type]
    s_tok = float(baseline["seconds"])  # type: ignore[arg-type]
    print(f"file: {size_mb:.0f} MB, {structural['examples']} examples, cores: {os.cpu_count()}")
    print(f"(a) together 1.5.34 check_file: {size_mb / together_s:7.1f} MB/s ({together_s:.1f} s)")
    print(
        f"    tuneforge structural+semantic: {size_mb / s_struct:7.1f} MB/s ({s_struct:.1f} s)"
        f"  ratio {together_s / s_struct:.2f}x (goal >= 3x)"
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
        f"(c) peak RSS: structural {structural['rss_mb']:.0f} MB, with counting "
        f"{counting['rss_mb']:.0f} MB (goal < 300 MB)"
    )


if __name__ == "__main__":
    main()
