"""A task's runs on a Slurm cluster: ``python main.py submit <task>`` and ``status <task>``.

``submit`` turns the task's unfinished runs into one Slurm job array (:mod:`gan.cluster.slurm`:
a generated ``sbatch`` script and a plan file naming each element's runs); each element runs
its runs with the local scheduler (:mod:`gan.cluster.element`), so Slurm runs go through the
same run-folder contract (``.lock``, ``status.json``, exit codes 0/2/75) as local ones.
``status`` (:mod:`gan.cluster.status`) counts a task's runs by state from their folders, lists
the runs that need a resubmit and the submitted Slurm jobs; it never imports TensorFlow.
The command-line side (flags, argument checks) is :mod:`gan.cluster.commands`.
"""
