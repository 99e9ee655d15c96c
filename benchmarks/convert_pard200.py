"""Convert the `pard200` instances into the files `tradefolio allocate` takes.

Run: .venv/bin/python benchmarks/convert_pard200.py [--out DIR] [NAME ...]

The instances (../shared/data/mean-variance-min-buy-in/, see its README) are

    minimise x' Q x  s.t.  mu' x >= rho,  sum x = 1,  l_i y_i <= x_i <= u_i y_i,  y binary

For each instance NAME this writes DIR/NAME/ (default DIR: benchmarks/pard200/, not
committed) with

    c.csv      symbol,score,price   (score = mu_i, price 100: the candidates give prices)
    Q.csv      the covariance matrix, labelled by symbol on both sides
    mu.csv     symbol,mu
    bds.csv    symbol,min_weight,max_weight   (l_i, u_i)
    command.sh the allocate command that solves it (rho as --min-return)

Symbols are A000 ... A199 in the file order. Numbers are written with `repr` (17
significant digits), so the files hold exactly the instance's values. The problem is then

    tradefolio allocate --candidates c.csv --objective min-variance --min-return RHO \\
        --covariance-file Q.csv --expected-returns mu.csv --bounds bds.csv \\
        --min-invested 1 --max-positions 200 --fractional --format json

whose `objective` is x' Q x of the answer (compare with best_known.tsv).
"""

from __future__ import annotations

import argparse
import gzip
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mean-variance-min-buy-in"
NAMES = tuple(f"pard200_{letter}" for letter in "abcdefghij")


@dataclass(frozen=True)
class Instance:
    """One instance as arrays."""

    name: str
    mu: NDArray[np.float64]
    rho: float
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    covariance: NDArray[np.float64]

    @property
    def symbols(self) -> list[str]:
        return [f"A{i:03d}" for i in range(len(self.mu))]


def first_number(text: str) -> float:
    """The first token of `text` as a float (two .rho files carry a trailing comment)."""
    return float(text.split()[0])


def load_instance(name: str, data: Path = DATA) -> Instance:
    """Read NAME.txt, NAME.rho, NAME.bds and NAME.mat.gz (formats: the data README)."""
    numbers = np.array((data / f"{name}.txt").read_text().split(), dtype=np.float64)
    n = int(numbers[0])
    mu = numbers[1 : 1 + 2 * n].reshape(n, 2)[:, 0]
    rho = first_number((data / f"{name}.rho").read_text())
    bounds = np.array((data / f"{name}.bds").read_text().split(), dtype=np.float64).reshape(n, 2)
    with gzip.open(data / f"{name}.mat.gz", "rt") as handle:
        matrix = np.array(handle.read().split(), dtype=np.float64)
    if int(matrix[0]) != n or matrix.size != 1 + n * n:
        raise ValueError(f"{name}.mat.gz: expected {n} and {n}x{n} numbers")
    covariance = matrix[1:].reshape(n, n)
    return Instance(name, mu, rho, bounds[:, 0].copy(), bounds[:, 1].copy(), covariance)


def best_known(data: Path = DATA) -> dict[str, tuple[float, float]]:
    """Instance -> (best upper bound, best lower bound) from best_known.tsv."""
    rows = (data / "best_known.tsv").read_text().splitlines()[1:]
    known = {}
    for row in rows:
        name, upper, lower = row.split("\t")
        known[name] = (float(upper), float(lower))
    return known


def allocate_arguments(folder: Path, rho: float) -> list[str]:
    """The `allocate` arguments for the files in `folder`."""
    return [
        "allocate",
        "--candidates",
        str(folder / "c.csv"),
        "--objective",
        "min-variance",
        "--min-return",
        repr(float(rho)),
        "--covariance-file",
        str(folder / "Q.csv"),
        "--expected-returns",
        str(folder / "mu.csv"),
        "--bounds",
        str(folder / "bds.csv"),
        "--min-invested",
        "1",
        "--max-positions",
        "200",
        "--fractional",
        "--format",
        "json",
    ]


def write_instance(instance: Instance, folder: Path) -> list[str]:
    """Write the files of `instance` into `folder`; the allocate arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = instance.symbols
    with (folder / "c.csv").open("w") as handle:
        handle.write("symbol,score,price\n")
        for symbol, mu in zip(symbols, instance.mu, strict=True):
            handle.write(f"{symbol},{float(mu)!r},100\n")
    with (folder / "mu.csv").open("w") as handle:
        handle.write("symbol,mu\n")
        for symbol, mu in zip(symbols, instance.mu, strict=True):
            handle.write(f"{symbol},{float(mu)!r}\n")
    with (folder / "bds.csv").open("w") as handle:
        handle.write("symbol,min_weight,max_weight\n")
        for symbol, low, high in zip(symbols, instance.lower, instance.upper, strict=True):
            handle.write(f"{symbol},{float(low)!r},{float(high)!r}\n")
    with (folder / "Q.csv").open("w") as handle:
        handle.write("symbol," + ",".join(symbols) + "\n")
        for symbol, row in zip(symbols, instance.covariance, strict=True):
            handle.write(symbol + "," + ",".join(repr(float(v)) for v in row) + "\n")
    arguments = allocate_arguments(folder, instance.rho)
    (folder / "command.sh").write_text(
        "tradefolio " + " ".join(shlex.quote(a) for a in arguments) + "\n"
    )
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("pard200"))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    for name in args.names:
        instance = load_instance(name, args.data)
        write_instance(instance, args.out / name)
        print(f"{name}: {args.out / name}")


if __name__ == "__main__":
    main()
