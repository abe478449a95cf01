"""Solve a directory of npz files on a SLURM or PBS cluster, one Dask task per file.

dask-jobqueue submits batch jobs that start Dask workers; the workers read the inputs and
write the outputs atomically, so the output directory must be on a file system that the
login node and the compute nodes share. Re-running the script does only what is missing.

    pip install "sparserec[distributed]" dask-jobqueue
    python cluster_batch.py 'data/run*.npz' results --jobs 8 --system slurm --queue normal

The same runs from the command line once a scheduler is up (see docs/distributed.rst):

    sparserec solve 'data/run*.npz' --out-dir results --scheduler tcp://HOST:8786
"""

import argparse
import glob
import sys

from distributed import Client

from sparserec.batch import solve_files


def make_cluster(system, queue, account, walltime, memory):
    """One single-threaded worker per job core: each task already uses BLAS and numba."""
    import dask_jobqueue

    Cluster = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}[system]
    return Cluster(cores=1, processes=1, memory=memory, walltime=walltime, queue=queue,
                   account=account, log_directory="dask-logs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pattern", help="glob of input files, quoted, e.g. 'data/run*.npz'")
    parser.add_argument("out_dir")
    parser.add_argument("--method", default="sista")
    parser.add_argument("--lam1", type=float, default=0.1)
    parser.add_argument("--system", choices=["slurm", "pbs"], default="slurm")
    parser.add_argument("--jobs", type=int, default=4, help="batch jobs (= workers)")
    parser.add_argument("--queue", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--walltime", default="01:00:00")
    parser.add_argument("--memory", default="4GB")
    args = parser.parse_args()

    inputs = sorted(glob.glob(args.pattern))
    with make_cluster(args.system, args.queue, args.account, args.walltime,
                      args.memory) as cluster, Client(cluster) as client:
        cluster.scale(jobs=args.jobs)
        reports = solve_files(inputs, args.out_dir, args.method, client=client,
                              lam1=args.lam1)
    for report in reports:
        print(f"{report.status:8} {report.input}  {report.message}")
    sys.exit(1 if any(r.status == "failed" for r in reports) else 0)


if __name__ == "__main__":
    main()
