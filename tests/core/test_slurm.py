"""parallel=slurm builds a real dask_jobqueue SLURMCluster from config (no SLURM here to run it)."""

from cmbml.core import compose
from cmbml.core.parallel import make_slurm_cluster


def test_slurm_cluster_is_built_from_config():
    cfg = compose(
        "config_sims",
        [
            "parallel=slurm",
            "parallel.slurm.queue=cosmo",
            "parallel.slurm.walltime=01:30:00",
            "parallel.slurm.memory=16GB",
            "parallel.slurm.cores=4",
        ],
    )
    cluster = make_slurm_cluster(cfg.parallel)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p cosmo" in script
    assert "#SBATCH -t 01:30:00" in script
    assert "#SBATCH --cpus-per-task=4" in script
    assert "--memory-limit" in script and "#SBATCH --mem=15G" in script
