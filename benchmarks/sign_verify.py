"""Benchmark: `mlstix sign`/`verify` against upstream `model_signing sign key`/`verify key`.

Creates a multi-file model (default 4 GB: 8 weight shards plus small config files) under
benchmarks/.work/, an EC P-256 key pair, then times in one run, each command as a subprocess
(what a user runs), best of --repeat:

- raw read: every file read once with 8 MiB buffers (one thread, and one thread per file),
  the physical limit of the machine for these files;
- upstream `model_signing sign key` / `verify key` (SHA-256, whole files: all its CLI offers);
- `mlstix sign` / `verify` with the same settings;
- `mlstix` with its faster settings: BLAKE3, and SHA-256 / BLAKE2b sharded.

By default the page cache is warm: this compares hashing and signing work, not the disk.
With --cold, the model's files (only those) are evicted from the page cache
(posix_fadvise DONTNEED) before every timed run, so each run reads from the disk as a model
fresh from a download would be. Prints a table and the ratios the issue asks for.

    .venv/bin/python benchmarks/sign_verify.py --size 2G
    .venv/bin/python benchmarks/sign_verify.py --size 2G --cold
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
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


def evict(files: list[Path]) -> None:
    """Drop these files (only) from the page cache."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def best(repeat: int, action, prepare=lambda: None) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def run(*argv: object) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {argv}\n{done.stdout}{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4G", help="total model size (e.g. 2G, 500M)")
    parser.add_argument("--shards", type=int, default=8, help="number of weight files")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per command")
    parser.add_argument("--shard-size", default="256M", help="mlstix --shard-size for sharding")
    parser.add_argument("--cold", action="store_true", help="evict the files before every run")
    args = parser.parse_args()

    size = parse_size(args.size)
    model = WORK / "model"
    print(f"creating a {size / 1e9:.2f} GB model with {args.shards} weight files in {model} ...")
    make_model(model, size, args.shards)
    private, public = make_keys(WORK)
    files = model_files(model)
    total = sum(p.stat().st_size for p in files)
    sig = WORK / "model.sig"
    upstream, mlstix = BIN / "model_signing", BIN / "mlstix"
    os.sync()
    read_all(files)  # warm the page cache
    prepare = (lambda: evict(files)) if args.cold else (lambda: None)

    rows: list[tuple[str, float]] = []

    def measure(label: str, action) -> float:
        seconds = best(args.repeat, action, prepare)
        rows.append((label, seconds))
        print(f"  {label:<48} {seconds:7.3f} s  {total / seconds / 1e9:6.2f} GB/s", flush=True)
        return seconds

    print(
        f"{total / 1e9:.2f} GB in {len(files)} files, {os.cpu_count()} CPUs, "
        f"{'cold' if args.cold else 'warm'} cache, "
        f"best of {args.repeat}"
    )
    raw = measure("raw read (1 thread, 8 MiB buffers)", lambda: read_all(files))
    raw_par = measure("raw read (thread per file)", lambda: read_parallel(files))
    physical = min(raw, raw_par)

    up_sign = measure(
        "model_signing sign key (sha256)",
        lambda: run(upstream, "sign", "key", model, "--signature", sig, "--private_key", private),
    )
    up_verify = measure(
        "model_signing verify key (sha256)",
        lambda: run(upstream, "verify", "key", model, "--signature", sig, "--public_key", public),
    )
    ml_sign = measure(
        "mlstix sign (sha256, same settings)",
        lambda: run(mlstix, "sign", model, "--signature", sig, "--private-key", private),
    )
    ml_verify = measure(
        "mlstix verify (sha256, same settings)",
        lambda: run(mlstix, "verify", model, "--signature", sig, "--public-key", public),
    )
    fast: dict[str, tuple[float, float]] = {}
    for label, settings in (
        ("blake3", ["--hash-algorithm", "blake3"]),
        (f"sha256 sharded {args.shard_size}", ["--shard-size", args.shard_size]),
        (
            f"blake2b sharded {args.shard_size}",
            ["--hash-algorithm", "blake2b", "--shard-size", args.shard_size],
        ),
    ):
        s = measure(
            f"mlstix sign ({label})",
            lambda settings=settings: run(
                mlstix, "sign", model, "--signature", sig, "--private-key", private, *settings
            ),
        )
        v = measure(
            f"mlstix verify ({label})",
            lambda: run(mlstix, "verify", model, "--signature", sig, "--public-key", public),
        )
        fast[label] = (s, v)
    startup = measure("mlstix --version (process start-up)", lambda: run(mlstix, "--version"))
    measure("model_signing --version (process start-up)", lambda: run(upstream, "--version"))

    best_label = min(fast, key=lambda k: sum(fast[k]))
    f_sign, f_verify = fast[best_label]
    print()
    print("ratios (higher = mlstix faster)")
    print(f"  same settings  sign:   upstream / mlstix = {up_sign / ml_sign:5.2f}x")
    print(f"  same settings  verify: upstream / mlstix = {up_verify / ml_verify:5.2f}x")
    print(f"  fastest ({best_label}) sign:   upstream / mlstix = {up_sign / f_sign:5.2f}x")
    print(f"  fastest ({best_label}) verify: upstream / mlstix = {up_verify / f_verify:5.2f}x")
    print("distance from the physical limit (lower = closer; raw read = 1.00x)")
    print(f"  fastest sign   / raw read = {f_sign / physical:5.2f}x")
    print(f"  fastest verify / raw read = {f_verify / physical:5.2f}x")
    print(
        f"  same, without process start-up ({startup:.2f} s): "
        f"sign {(f_sign - startup) / physical:5.2f}x, "
        f"verify {(f_verify - startup) / physical:5.2f}x"
    )


if __name__ == "__main__":
    main()
