"""`lra <stage> ...`: each DAG stage from the command line (what the Snakemake rules call), built
from the stage table (`lra.stages`), plus `lra show` (print a summary table) and `lra versions`."""

from __future__ import annotations

import argparse
import logging
import sys

from .core import threads
from .core.errors import LraError, Stopped
from .stages import STAGES, TABLE, run as run_stage

THREADS_HELP = ("threads of every pool (torch, FAISS, BLAS, pyarrow, workers); default: OMP_NUM_THREADS, "
                "else the CPUs this process may use")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lra", description=__doc__)
    sub = p.add_subparsers(dest="stage", required=True)
    for stage in TABLE:
        s = sub.add_parser(stage.command, help=stage.help)
        for a in stage.args:
            s.add_argument(*a.flags, **a.options)
        s.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    s = sub.add_parser("show", help="print summary.tsv aligned, or summary_mean.tsv as mean ± sd")
    s.add_argument("summary", help="summary.tsv or summary_mean.tsv")
    s.add_argument("--who-won", action="store_true",
                   help="one short line per cell: LRA, the best baseline, LRA minus it (%%, mean ± sd over seeds)")
    sub.add_parser("versions", help="each stage's code version and the modules it covers")
    return p


def run(args: argparse.Namespace) -> None:
    if args.stage == "show":
        from .report.summary import show

        print(show(args.summary, who=args.who_won))
        return
    if args.stage == "versions":
        from .core import versions

        for stage in TABLE:
            covered = sorted({m for m, _ in versions.closure(stage.target)})
            print(f"{stage.name:10s} {versions.code_version(stage.target)}  {', '.join(m.removeprefix('lra.') for m in covered)}")
        return
    stage = STAGES[args.stage.replace("-", "_")]
    result = run_stage(stage, args)
    if stage.prints:
        print(result.to_string(index=False))


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started (VmHWM; ru_maxrss where that is missing)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(who: str = "self") -> float:
    """User + system CPU time of this process (all its threads) so far; `children`: of its ended
    child processes (DataLoader workers decoding images) instead."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN if who == "children" else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    log = logging.getLogger("lra")
    stage = STAGES.get(args.stage.replace("-", "_"))
    try:
        if stage is not None:
            threads.apply(args.threads, stage.thread_libraries(args))
        run(args)
        if stage is not None:
            log.info("threads used: %s", threads.describe())
            # exact figures: Snakemake's benchmark files sample memory and CPU time only every 30 s after 15 s
            children = cpu_seconds("children")
            workers = f" (+ {children:.1f} s in its worker processes)" if children >= 0.05 else ""
            log.info("lra %s: peak RSS %.0f MiB, CPU %.1f s%s", args.stage, peak_rss_mib(), cpu_seconds(), workers)
    except Stopped as exc:  # SIGTERM/SIGINT: checkpoint saved; non-zero so SLURM and Snakemake rerun the job
        print(f"lra {args.stage}: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except LraError as exc:
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # an unknown key in a --params/--options JSON
        if "unexpected keyword" not in str(exc):
            raise
        print(f"lra {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0
