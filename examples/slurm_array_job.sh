#!/bin/bash
# Solve many npz files with a SLURM job array, no Dask needed: task k of n takes every
# n-th file, starting at the k-th. Outputs are written atomically and complete ones are
# skipped, so resubmitting the same array after a failure or a timeout does only what is
# missing. Submit with
#
#     sparserec warmup      # once: compile the kernels into numba's cache for all tasks
#     sbatch --array=0-15 slurm_array_job.sh data results
#
# On PBS Pro use "#PBS -J 0-15" and PBS_ARRAY_INDEX (Torque: "#PBS -t", PBS_ARRAYID) in
# place of the SLURM variables.

#SBATCH --job-name=sparserec
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=sparserec-%A_%a.out

set -euo pipefail
in_dir=${1:?usage: slurm_array_job.sh IN_DIR OUT_DIR}
out_dir=${2:?usage: slurm_array_job.sh IN_DIR OUT_DIR}
task=${SLURM_ARRAY_TASK_ID:-0}
n_tasks=${SLURM_ARRAY_TASK_COUNT:-1}

# One BLAS thread per task: the job has one core.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1

mapfile -t files < <(find "$in_dir" -maxdepth 1 -name '*.npz' | sort)
mine=()
for ((i = task; i < ${#files[@]}; i += n_tasks)); do
    mine+=("${files[i]}")
done
if ((${#mine[@]} == 0)); then
    echo "task $task of $n_tasks: no files"
    exit 0
fi

# Exit code 1 when a file failed (the table says which); 2 for a usage error.
sparserec solve --method sista --out-dir "$out_dir" "${mine[@]}"
