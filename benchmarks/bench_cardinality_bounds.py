"""Root bounds of the λ = 200, K = 10 synthetic sets: plain, diagonal split, DNN certificate.

Run: .venv/bin/python benchmarks/bench_cardinality_bounds.py [--sizes 100 200] [--limit 30]
         [--accuracies 1e-4 1e-6] [--no-record]

The problem is `bench_mean_variance.py --speed`'s (maximise mu^T w - 200 w^T Σ w, sum w = 1,
w >= 0, at most 10 names, Σ the sample covariance of 252 daily returns of seeded synthetic
GBM prices). Each row is a valid lower bound of the minimised -utility at the root
(`portfolio/dnn_bound.py`): the plain relaxation (the big-M one: caps of 1 make the count
row slack), the perspective of the cheap diagonal split, and the doubly-nonnegative
certificate from SCS at each accuracy (its time is SCS's plus the repair and the bound).
"Gap" is against the incumbent of tradefolio's search with `--limit` seconds (the optimum
where that search proves it, else an upper bound on the true root gap).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from _machine import append_results, machine_stamp
from bench_mean_variance import MAX_POSITIONS, SPEED_AVERSION, returns_for, solve_tradefolio
from tradefolio.portfolio.dnn_bound import (
    SimplexCardinality,
    certificate_bound,
    dnn_certificate,
    plain_certificate,
    split_certificate,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 200])
    parser.add_argument("--limit", type=float, default=30.0)
    parser.add_argument("--accuracies", type=float, nargs="*", default=[1e-4, 1e-6])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    lines = [
        "| N | bound | value (min -utility) | gap vs incumbent | CPU s | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for n in args.sizes:
        returns = returns_for(n)
        mu = returns.mean().to_numpy()
        sigma = returns.cov().to_numpy()
        problem = SimplexCardinality(SPEED_AVERSION * sigma, mu, MAX_POSITIONS)
        found = solve_tradefolio(returns, SPEED_AVERSION, "highs", args.limit)
        weights = np.clip(found.weights, 0.0, None)
        incumbent = problem.objective(weights / weights.sum())
        print(f"N={n} incumbent {incumbent:.10g} ({found.status})", flush=True)
        kinds = [
            ("plain relaxation (big-M)", plain_certificate),
            ("cheap split", split_certificate),
        ]
        for accuracy in args.accuracies:
            kinds.append(
                (
                    f"DNN certificate, SCS eps {accuracy:g}",
                    lambda p, a=accuracy: dnn_certificate(p, accuracy=a),
                )
            )
        for label, make in kinds:
            start, cpu = time.perf_counter(), time.process_time()
            certificate = make(problem)
            value = (
                math.nan if certificate is None else certificate_bound(problem, certificate).bound
            )
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            gap = (incumbent - value) / abs(incumbent)
            lines.append(f"| {n} | {label} | {value:.10g} | {gap:.3%} | {cpu:.2f} | {wall:.2f} |")
            print(lines[-1], flush=True)
        lines.append(
            f"| {n} | incumbent ({found.status}, {args.limit:g} s) | {incumbent:.10g} | | | |"
        )
    print("\n".join(lines))
    if not args.no_record:
        append_results(
            "Cardinality λ = 200, K = 10: root bounds (bench_cardinality_bounds.py)",
            machine_stamp("numpy", "cvxpy", "scs"),
            "\n".join(lines),
            "Valid lower bounds of min -utility at the root (portfolio/dnn_bound.py): plain "
            "= the big-M relaxation; cheap split = perspective of perspective.py's scaled "
            "split; DNN certificate = the dual of the doubly-nonnegative SDP (W >= 0, W 1 = w, "
            "perspective) by SCS, repaired to an exact certificate, then the same perspective "
            "bound. Gap against tradefolio's incumbent within the stated limit.",
        )


if __name__ == "__main__":
    main()
