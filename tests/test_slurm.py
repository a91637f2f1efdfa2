"""Slurm: the submitted job array's script and plan, an element's run through the run-folder
contract, ``status``, and (tests marked ``slurm``) a real single-node Slurm."""

from __future__ import annotations

import json

from gan import run_folder as rf

# ---------------------------------------------------------------------------------------------
# status.json's Slurm job


def test_status_json_records_the_slurm_job_and_older_files_still_read(tmp_path):
    env = {"SLURM_JOB_ID": "107", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "7"}
    assert rf.slurm_job_id(env) == "100_7"
    assert rf.slurm_job_id({"SLURM_JOB_ID": "107"}) == "107"
    assert rf.slurm_job_id({}) is None
    old = {"state": "interrupted", "iteration": 5, "total": 10, "pid": 1, "host": "h"}
    (tmp_path / rf.STATUS_FILE).write_text(json.dumps(old))
    status = rf.read_status(str(tmp_path))
    assert (status.state, status.slurm_job) == (rf.INTERRUPTED, None)
    rf.update_status(str(tmp_path), **rf.process_status(rf.RUNNING))
    assert rf.read_status(str(tmp_path)).slurm_job == rf.slurm_job_id()
