#!/usr/bin/env python3
"""GreenChain performance benchmark: limits, ledger, network, catch-up, proofs, memory.

Usage::

    .venv/bin/python scripts/bench.py [--json] [--quick] [--phases limits,ledger,...]

Prints one JSON object as the last line of stdout (with --json, the only line); progress
goes to stderr. Every figure is measured on this machine in this run, side by side, so the
ratios compare like with like. Phases: limits (Ed25519, LevelDB, msgpack, SHA-256),
ledger (apply_block on one core), network (4 local validators: saturation throughput,
then latency at half of it), catchup (a fresh validator syncing a pre-built chain; also
provenance proofs and the validator's peak RSS). --quick shrinks every size (~1 minute);
the full run takes a few minutes. Exit status 1 if a phase failed (its error is in the
JSON under "errors").
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench_catchup import run_catchup
from bench_common import FULL, QUICK, Sizes, cpu_count, progress
from bench_ledger import run_ledger
from bench_limits import run_limits
from bench_network import run_network

PHASES = ("limits", "ledger", "network", "catchup")
VALIDATORS = 4
TARGETS: dict[str, tuple[str, float]] = {
    "ledger_ratio_to_verify_limit": (">=", 0.6),
    "network_ratio_to_limit": (">=", 0.5),
    "network_p99_latency_s": ("<", 1.5),
    "catchup_ratio_to_apply": (">=", 0.8),
    "proof_verify_ms": ("<", 50.0),
    "validator_peak_rss_mb": ("<", 300.0),
}


def ratio(numerator: Any, denominator: Any) -> float | None:
    """Return numerator / denominator rounded to 3 decimals, or None if either is missing."""
    if not numerator or not denominator:
        return None if numerator is None or not denominator else 0.0
    return round(float(numerator) / float(denominator), 3)


def ledger_figures(ledger: dict[str, Any]) -> dict[str, Any]:
    """Return the top-level ledger figures (the mix is the headline; attest-only beside).

    The ratio to the verify limit is paired per block (see bench_ledger.summarise): apply
    time with signatures against the node verifier's time on the same signatures.
    """
    mix, attest = ledger["mix"], ledger["attest"]
    return {
        "ledger_apply_tx_per_s": mix["txs_per_s_with_signatures"],
        "ledger_apply_tx_per_s_no_signatures": mix["txs_per_s_without_signatures"],
        "ledger_ratio_to_verify_limit": mix["ratio_to_verify"],
        "ledger_ratio_to_verify_limit_attest": attest["ratio_to_verify"],
        "state_root_ms_per_block": mix["state_root_ms_per_block"],
        "state_root_us_per_key": mix["state_root_us_per_key"],
    }


def derived(results: dict[str, Any]) -> dict[str, Any]:
    """Return the ratios that combine phases."""
    verify = results.get("verifications_per_s_per_core")
    limit = 2 * verify / VALIDATORS if verify else None
    no_sig = results.get("ledger_apply_tx_per_s_no_signatures")
    return {
        "network_limit_tx_per_s": round(limit, 1) if limit else None,
        "network_ratio_to_limit": ratio(results.get("network_committed_tx_per_s"), limit),
        "catchup_ratio_to_apply": ratio(results.get("catchup_tx_per_s"), no_sig),
    }


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return each target of the issue with its value and whether it is met."""
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = results.get(key)
        met = value is not None and (value >= bound if op == ">=" else value < bound)
        out[key] = {"target": f"{op} {bound:g}", "value": value, "met": met}
    return out


def run_phase(name: str, fn: Callable[[Sizes], dict[str, Any]], sizes: Sizes,
              errors: dict[str, str]) -> dict[str, Any]:
    """Run one phase; on failure record the error and return nothing.

    A phase may also return partial figures with an ``errors`` entry of its own.
    """
    started = time.monotonic()
    try:
        out = fn(sizes)
    except Exception as exc:  # noqa: BLE001 - report every phase, whatever breaks
        traceback.print_exc(file=sys.stderr)
        errors[name] = f"{type(exc).__name__}: {exc}"
        return {}
    errors.update(out.pop("errors", {}))
    progress(f"{name} done in {time.monotonic() - started:.1f} s")
    return out


def run(phases: list[str], sizes: Sizes, quick: bool) -> dict[str, Any]:
    """Run the selected phases and return the report."""
    started = time.monotonic()
    errors: dict[str, str] = {}
    results: dict[str, Any] = {"quick": quick, "cpus": cpu_count(),
                               "python": platform.python_version()}
    if "limits" in phases:
        results |= run_phase("limits", run_limits, sizes, errors)
    if "ledger" in phases:
        ledger = run_phase("ledger", run_ledger, sizes, errors)
        if ledger:
            results["ledger"] = ledger
            results |= ledger_figures(ledger)
    if "network" in phases:
        results |= run_phase("network", run_network, sizes, errors)
    if "catchup" in phases:
        results |= run_phase("catchup", run_catchup, sizes, errors)
    results |= derived(results)
    results["targets"] = targets(results)
    results["errors"] = errors
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Return a short human-readable summary of the targets."""
    lines = ["target                          value      goal    met"]
    for key, target in results["targets"].items():
        value = "-" if target["value"] is None else f"{target['value']:g}"
        lines.append(f"{key:<31} {value:>9}  {target['target']:>7}   "
                     f"{'yes' if target['met'] else 'NO'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the bench, print the JSON; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--quick", action="store_true", help="small sizes (~1 minute)")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)}")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like an exception, so every phase's finally stops its nodes.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases: {', '.join(unknown)}")
    results = run(phases, QUICK if args.quick else FULL, args.quick)
    if not args.json:
        print("\n".join(summary_lines(results)))
    print(json.dumps(results, sort_keys=True))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
