"""Benchmark: `mlstix sign`/`verify` against upstream `model_signing sign key`/`verify key`.

Creates a multi-file model (default 4 GB: 8 weight shards plus small config files) under
benchmarks/.work/, an EC P-256 key pair, then times in one run, each command as a subprocess
(what a user runs):

- raw read: every file read once with 8 MiB buffers (one thread, and one thread per file),
  the physical limit of the machine for these files;
- hashing alone, in this process: the library's hasher and mlstix's (no start-up);
- upstream `model_signing sign key` / `verify key` (SHA-256, whole files: all its CLI offers);
- `mlstix sign` / `verify` with the same settings;
- `mlstix` with its faster settings: BLAKE3, and SHA-256 / BLAKE2b sharded.

Every case runs once per round, rounds in shuffled order, so a busy machine slows all cases
alike; the table gives the median and the minimum. By default the page cache is warm: this
compares hashing and signing work, not the disk.
With --cold, the model's files (only those) are evicted from the page cache
(posix_fadvise DONTNEED) before every timed run, so each run reads from the disk as a model
fresh from a download would be. Prints a table and the ratios the issue asks for.

    .venv/bin/python benchmarks/sign_verify.py --size 2G
    .venv/bin/python benchmarks/sign_verify.py --size 2G --cold
    .venv/bin/python benchmarks/sign_verify.py --layout large-files   # six 512 MiB files

Layouts: ``shards`` (the default: --size split into --shards weight files, plus small config
files) and ``large-files`` (a 3 GiB model of six 512 MiB files, the layout of the field trial in
issue 11, where "never slower than upstream at the same settings" must hold too).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work" / "sign_verify"
BIN = Path(sys.executable).parent
BUFFER = 8 << 20


def parse_size(text: str) -> int:
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30}
    text = text.strip().lower().removesuffix("b")
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * units[suffix])
    return int(text)


def make_model(folder: Path, size: int, shards: int) -> None:
    marker = folder / ".size"
    if marker.is_file() and marker.read_text() == f"{size}/{shards}":
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per = size // shards
    block = os.urandom(16 << 20)
    for i in range(shards):
        with (folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors").open("wb") as fh:
            left = per
            while left > 0:
                # vary every block so no layer can deduplicate
                chunk = block[: min(left, len(block))]
                fh.write(left.to_bytes(8, "little") + chunk[8:])
                left -= len(chunk)
    (folder / "config.json").write_text('{"model_type": "llama", "architectures": ["X"]}')
    (folder / "tokenizer.json").write_text('{"version": "1.0"}' * 1000)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# bench\n")
    marker.write_text(f"{size}/{shards}")


def make_keys(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private, public = folder / "key.pem", folder / "key.pub"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


def model_files(model: Path) -> list[Path]:
    return sorted(p for p in model.rglob("*") if p.is_file() and p.name != ".size")


def read_all(files: list[Path]) -> None:
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    for path in files:
        with path.open("rb", buffering=0) as fh:
            while fh.readinto(view):
                pass


def read_parallel(files: list[Path]) -> None:
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(lambda p: read_all([p]), files))


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _sys() -> float:
    """Kernel CPU seconds of this process and its finished children (the read path's cost)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_stime + children.ru_stime


def evict(files: list[Path]) -> None:
    """Drop these files (only) from the page cache."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run(*argv: object) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {argv}\n{done.stdout}{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4G", help="total model size (e.g. 2G, 500M)")
    parser.add_argument("--shards", type=int, default=8, help="number of weight files")
    parser.add_argument(
        "--layout",
        choices=["shards", "large-files"],
        default="shards",
        help="large-files: six 512 MiB weight files (overrides --size and --shards)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds; every case once a round")
    parser.add_argument("--shard-size", default="256M", help="mlstix --shard-size for sharding")
    parser.add_argument("--cold", action="store_true", help="evict the files before every run")
    args = parser.parse_args()

    size = parse_size(args.size)
    model = WORK / "model"
    if args.layout == "large-files":
        size, args.shards = 6 * (512 << 20), 6
        model = WORK / "model-large-files"
    print(f"creating a {size / 1e9:.2f} GB model with {args.shards} weight files in {model} ...")
    make_model(model, size, args.shards)
    private, public = make_keys(WORK)
    files = model_files(model)
    total = sum(p.stat().st_size for p in files)
    upstream, mlstix = BIN / "model_signing", BIN / "mlstix"
    shard = args.shard_size
    settings = {
        "sha256": [],
        "blake3": ["--hash-algorithm", "blake3"],
        f"sha256 sharded {shard}": ["--shard-size", shard],
        f"blake2b sharded {shard}": ["--hash-algorithm", "blake2b", "--shard-size", shard],
    }

    def sig(name: str) -> Path:
        return WORK / f"{name.replace(' ', '-')}.sig"

    def up_sign(path: Path) -> None:
        run(upstream, "sign", "key", model, "--signature", path, "--private_key", private)

    def ml_sign(name: str, path: Path) -> None:
        run(mlstix, "sign", model, "--signature", path, "--private-key", private, *settings[name])

    # signatures for the verify cases
    up_sign(sig("upstream"))
    for name in settings:
        ml_sign(name, sig(name))

    from mlstix.integrity._fasthash import hash_model
    from mlstix.integrity.hashing import HashOptions, build_hashing_config

    cases: dict[str, Callable[[], object]] = {
        "raw read (1 thread, 8 MiB buffers)": lambda: read_all(files),
        "raw read (thread per file)": lambda: read_parallel(files),
        "model_signing sign key": lambda: up_sign(WORK / "out-upstream.sig"),
        "model_signing verify key": lambda: run(
            upstream,
            "verify",
            "key",
            model,
            "--signature",
            sig("upstream"),
            "--public_key",
            public,
        ),
        "in-process hash, model_signing library (sha256)": lambda: build_hashing_config(
            HashOptions(), model
        ).hash(model),
        "in-process hash, mlstix (sha256)": lambda: hash_model(model, HashOptions()),
        "in-process hash, mlstix (blake3)": lambda: hash_model(
            model, HashOptions(algorithm="blake3")
        ),
        "mlstix --version (start-up)": lambda: run(mlstix, "--version"),
        "model_signing --version (start-up)": lambda: run(upstream, "--version"),
    }
    for name in settings:
        cases[f"mlstix sign ({name})"] = lambda name=name: ml_sign(name, WORK / "out.sig")
        cases[f"mlstix verify ({name})"] = lambda name=name: run(
            mlstix, "verify", model, "--signature", sig(name), "--public-key", public
        )

    os.sync()
    read_all(files)  # warm the page cache
    print(
        f"{total / 1e9:.2f} GB in {len(files)} files, {os.cpu_count()} CPUs, "
        f"{'cold' if args.cold else 'warm'} cache, {args.repeat} rounds in shuffled order, "
        "wall seconds median (min), CPU seconds median"
    )
    times: dict[str, list[float]] = {label: [] for label in cases}
    cpu: dict[str, list[float]] = {label: [] for label in cases}
    kernel: dict[str, list[float]] = {label: [] for label in cases}
    shuffle = random.Random(4)
    for _ in range(args.repeat):
        order = list(cases)
        shuffle.shuffle(order)
        for label in order:
            if args.cold:
                evict(files)
            cpu_start, sys_start = _cpu(), _sys()
            start = time.perf_counter()
            cases[label]()
            times[label].append(time.perf_counter() - start)
            cpu[label].append(_cpu() - cpu_start)
            kernel[label].append(_sys() - sys_start)
    med = {label: statistics.median(t) for label, t in times.items()}
    print(f"  {'case':<50} {'wall s: median (min)':>21}  {'GB/s':>6}  {'CPU s':>6}  {'sys s':>6}")
    for label, values in times.items():
        print(
            f"  {label:<50} {med[label]:7.3f} ({min(values):6.3f})  "
            f"{total / med[label] / 1e9:6.2f}  {statistics.median(cpu[label]):6.2f}  "
            f"{statistics.median(kernel[label]):6.2f}"
        )

    physical = min(med["raw read (1 thread, 8 MiB buffers)"], med["raw read (thread per file)"])
    fast = {
        name: (med[f"mlstix sign ({name})"], med[f"mlstix verify ({name})"]) for name in settings
    }
    best_name = min(fast, key=lambda k: sum(fast[k]))
    up_s, up_v = med["model_signing sign key"], med["model_signing verify key"]
    same_s, same_v = fast["sha256"]
    f_s, f_v = fast[best_name]
    print()
    print("ratios, from medians (higher = mlstix faster)")
    print(f"  same settings (sha256) sign:    upstream / mlstix = {up_s / same_s:5.2f}x")
    print(f"  same settings (sha256) verify:  upstream / mlstix = {up_v / same_v:5.2f}x")
    print(f"  fastest ({best_name}) sign:     upstream / mlstix = {up_s / f_s:5.2f}x")
    print(f"  fastest ({best_name}) verify:   upstream / mlstix = {up_v / f_v:5.2f}x")
    lib, ours = (
        med["in-process hash, model_signing library (sha256)"],
        med["in-process hash, mlstix (sha256)"],
    )
    print(f"  in-process sha256 hashing:      library / mlstix  = {lib / ours:5.2f}x")
    cpu_med = {label: statistics.median(v) for label, v in cpu.items()}
    print("CPU seconds (robust when other work shares the machine; higher = mlstix cheaper)")
    for kind, up in (("sign", "model_signing sign key"), ("verify", "model_signing verify key")):
        print(
            f"  same settings {kind:<6}          upstream / mlstix = "
            f"{cpu_med[up] / cpu_med[f'mlstix {kind} (sha256)']:5.2f}x"
        )
    print("distance from the physical limit (raw read = 1.00x; lower = closer)")
    print(f"  fastest sign / raw read     = {f_s / physical:5.2f}x")
    print(f"  fastest verify / raw read   = {f_v / physical:5.2f}x")
    blake3 = med["in-process hash, mlstix (blake3)"]
    print(f"  in-process blake3 hashing / raw read = {blake3 / physical:5.2f}x")


if __name__ == "__main__":
    main()
