"""One error type for bad input: its message names the file, row or key and the fix."""


class LraError(Exception):
    """Input the pipeline cannot use. The CLI prints the message alone, without a traceback."""


class Stopped(Exception):
    """A stage stopped on SIGTERM/SIGINT after saving its progress (train: `train.ckpt`); a rerun
    resumes. The CLI exits 128 + the signal number, so SLURM and Snakemake see a failed job."""

    def __init__(self, signum: int, message: str):
        self.signum = signum
        super().__init__(message)
