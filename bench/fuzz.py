"""A million fuzz inputs through the heartbeat codec and the config loader: zero crashes,
zero accepted forgeries.

    python3 bench/fuzz.py --inputs 1000000 [--runs 3] [--seed 1] [--json out.json]
    python3 bench/fuzz.py --atheris 200000        # coverage-guided, in a child process

Two engines:

* the default, a **structure-aware in-process mutator** (``tests/fuzz/targets.py``): each
  input is drawn by one of the targets below from a seeded ``random.Random``, so a crash
  is reproduced by the seed and its input index (both printed, and the input is saved);
* ``--atheris N``: libFuzzer's coverage-guided search via atheris over the same checks
  (the first input byte picks the target). It learns from coverage, but the HMAC stops it
  at the signature for unsigned input, which is why the signed-payload target exists.

Targets and their share of the inputs::

    raw        random bytes, often starting with the magic and version  (unsigned)
    mutate     a valid signed datagram with 1-4 byte edits              (unsigned)
    forge      a valid beat signed with a wrong key                     (always bad_signature)
    signed     a structurally mutated JSON payload signed with the key  (Beat or drop)
    config     a mutated config document, rendered as TOML              (Config or ConfigError)
    configtxt  the config text with byte edits                          (Config or ConfigError)

Exit 0 only when no target crashed (an exception other than the documented ones) and no
oracle failed (an accepted forgery among them). JSON: per target the inputs, outcomes and
inputs/s, per run and as median/min/max over the runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dualbeat.heartbeat import Beat, encode
from dualbeat.heartbeat.codec import MAGIC, VERSION
from tests.fuzz import targets

Target = Callable[[random.Random], tuple[str, bytes]]


def _raw(rng: random.Random) -> tuple[str, bytes]:
    head = MAGIC + bytes([VERSION]) if rng.random() < 0.7 else b""
    data = head + rng.randbytes(rng.choice([0, 8, 40, 200, 1000]))
    return targets.check_unsigned(data), data


class Codec:
    """Pools of valid datagrams (refreshed now and then) so inputs vary cheaply."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pool = [self._fresh() for _ in range(64)]

    def _fresh(self) -> tuple[Beat, bytes]:
        b = targets.beat(self.rng)
        return b, encode(b, targets.KEY)

    def pick(self) -> tuple[Beat, bytes]:
        if self.rng.random() < 0.02:
            self.pool[self.rng.randrange(len(self.pool))] = self._fresh()
        return self.rng.choice(self.pool)

    def mutate(self, rng: random.Random) -> tuple[str, bytes]:
        b, signed = self.pick()
        donor = self.pick()[1]
        data = targets.mutate_bytes(rng, signed, donor)
        return targets.check_unsigned(data, signed, b), data

    def forge(self, rng: random.Random) -> tuple[str, bytes]:
        b, _ = self.pick()
        key = bytearray(targets.KEY)
        match rng.randrange(4):
            case 0:
                key = bytearray(rng.randbytes(32))
            case 1:
                bit = rng.randrange(256)
                key[bit // 8] ^= 1 << (bit % 8)
            case 2:
                key = key[: rng.randrange(32)]
            case _:
                key += rng.randbytes(rng.randint(1, 32))
        return targets.check_wrong_key(b, bytes(key)), bytes(key)

    def signed(self, rng: random.Random) -> tuple[str, bytes]:
        b, _ = self.pick()
        payload = targets.payload_of(targets.mutate_fields(rng, targets.fields_of(b)), rng)
        return targets.check_signed(payload), payload


class Configs:
    def __init__(self, directory: Path) -> None:
        self.text = targets.config_files(directory)
        self.doc = targets.base_config(directory)

    def document(self, rng: random.Random) -> tuple[str, bytes]:
        text = targets.render(targets.mutate_config(rng, self.doc))
        return targets.check_config(text), text.encode("utf-8", errors="surrogatepass")

    def text_edits(self, rng: random.Random) -> tuple[str, bytes]:
        data = targets.mutate_bytes(rng, self.text.encode())
        return targets.check_config(data.decode("utf-8", errors="replace")), data


def fuzz(inputs: int, seed: int, crash_dir: Path) -> dict[str, Any]:
    """One run of ``inputs`` inputs; per target: outcomes, failures, seconds."""
    rng = random.Random(seed)
    codec = Codec(random.Random(seed ^ 0x5EED))
    with tempfile.TemporaryDirectory() as tmp:
        configs = Configs(Path(tmp))
        plan: dict[str, tuple[Target, float]] = {
            "raw": (_raw, 0.15),
            "mutate": (codec.mutate, 0.35),
            "forge": (codec.forge, 0.10),
            "signed": (codec.signed, 0.25),
            "config": (configs.document, 0.10),
            "configtxt": (configs.text_edits, 0.05),
        }
        names = list(plan)
        weights = [plan[n][1] for n in names]
        outcomes: dict[str, Counter[str]] = {n: Counter() for n in names}
        seconds = dict.fromkeys(names, 0.0)
        failures: list[dict[str, Any]] = []
        order = rng.choices(names, weights=weights, k=inputs)
        for index, name in enumerate(order):
            case_rng = random.Random(f"{seed}:{index}")
            started = time.perf_counter()
            try:
                outcome, _ = plan[name][0](case_rng)
            except Exception as exc:  # a crash or a failed oracle: record, keep fuzzing
                outcome = "FAILED"
                failures.append(_failure(name, seed, index, exc, crash_dir))
            seconds[name] += time.perf_counter() - started
            outcomes[name][outcome] += 1
    return {
        "seed": seed,
        "inputs": inputs,
        "seconds": round(sum(seconds.values()), 3),
        "targets": {
            n: {
                "inputs": sum(outcomes[n].values()),
                "outcomes": dict(outcomes[n].most_common()),
                "inputs_per_s": round(sum(outcomes[n].values()) / seconds[n])
                if seconds[n]
                else None,
            }
            for n in names
        },
        "failures": failures,
    }


def _failure(name: str, seed: int, index: int, exc: Exception, crash_dir: Path) -> dict[str, Any]:
    crash_dir.mkdir(parents=True, exist_ok=True)
    path = crash_dir / f"{name}-{seed}-{index}.txt"
    path.write_text("".join(traceback.format_exception(exc)))
    kind = "oracle" if isinstance(exc, AssertionError) else "crash"
    print(f"{kind} in {name}, seed {seed} input {index}: {exc!r:.300} ({path})", file=sys.stderr)
    return {
        "target": name,
        "index": index,
        "kind": kind,
        "error": repr(exc)[:300],
        "file": str(path),
    }


# --- atheris -------------------------------------------------------------------------------


def atheris_child(runs: int) -> None:
    """Run libFuzzer for ``runs`` inputs over the same checks; never returns.

    The first byte picks the target: unsigned datagram, payload signed with the key (the
    only way coverage can guide past the HMAC), or config text."""
    atheris: Any = importlib.import_module("atheris")  # optional: only this mode needs it
    atheris.instrument_all()

    def one(data: bytes) -> None:
        if not data:
            return
        rest = data[1:]
        match data[0] % 3:
            case 0:
                targets.check_unsigned(rest)
            case 1:
                targets.check_signed(rest)
            case _:
                targets.check_config(rest.decode("utf-8", errors="replace"))

    atheris.Setup([sys.argv[0], f"-runs={runs}", "-print_final_stats=1"], one)
    atheris.Fuzz()


def run_atheris(runs: int) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--atheris-child", str(runs)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    stats = {
        line.split(":")[2].strip(): line.split(":")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("stat::")
    }
    executed = int(stats.get("number_of_executed_units", "0").split()[0] or 0)
    crashed = done.returncode != 0
    if crashed:
        print(done.stderr[-3000:], file=sys.stderr)
    return {
        "engine": "atheris",
        "runs": executed,
        "seconds": round(took, 1),
        "inputs_per_s": round(executed / took) if took else None,  # start-up included
        "exit": done.returncode,
        "crashed": crashed,
        "stats": stats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="inputs per run")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1, help="first run's seed (+1 per run)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--atheris", type=int, metavar="N", help="coverage-guided, N inputs")
    parser.add_argument("--atheris-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_child:
        atheris_child(args.atheris_child)
        return 0
    if args.atheris:
        result = run_atheris(args.atheris)
        print(json.dumps(result, indent=1))
        return 1 if result["crashed"] else 0
    runs = [fuzz(args.inputs, args.seed + i, args.crash_dir) for i in range(args.runs)]
    rates = [r["inputs"] / r["seconds"] for r in runs]
    failures = sum(len(r["failures"]) for r in runs)
    result = {
        "engine": "structure-aware mutator",
        "python": sys.version.split()[0],
        "inputs_total": sum(r["inputs"] for r in runs),
        "failures_total": failures,
        "inputs_per_s": {
            "median": round(statistics.median(rates)),
            "min": round(min(rates)),
            "max": round(max(rates)),
        },
        "runs": runs,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k != "runs"}
    summary["per_target"] = {
        n: {"inputs": t["inputs"], "inputs_per_s": t["inputs_per_s"], "outcomes": t["outcomes"]}
        for n, t in runs[0]["targets"].items()
    }
    print(json.dumps(summary, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
