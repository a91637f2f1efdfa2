"""no_gamma-CNN: hinge loss, CNN networks, D kernels normalized (SN or BSN) then times a
constant ``scale`` (SSN/BSSN when != 1). The sweep of the paper: 9 test blocks, 480 runs.

Run it with ``python main.py no_gamma-CNN`` from the repository root (or ``python main.py`` in
this folder); ``--dry_run`` lists the runs, ``--only`` and ``--set`` pick and change them.
"""

config = {
    "scheduler_config": {
        "gpu": ["0"],
        "temp_folder": "temp",
        "scheduler_log_file_path": "scheduler.log",
        "log_file": "worker.log",
        # "force_rerun": True
    },

    "global_config": {
        "batch_size": 64,
        "vis_freq": 200,
        "vis_num_h": 10,
        "vis_num_w": 10,
        "latent_dim": 128,
        "summary_freq": 1,
        "metric_freq": 10000,
        "extra_checkpoint_freq": 100000,
        "save_checkpoint_freq": 10000,
        # "restore": True
    },

    "test_config": [
        {
            "dataset": ["cifar10"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [4],
            "sn_mode": ["SN", "BSN"],
            "scale": [0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8,
                      3.0, 3.2, 3.4, 3.6, 3.8, 4.0]
        },
        {
            "dataset": ["stl10"],
            "iteration": [800000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [6],
            "sn_mode": ["SN", "BSN"],
            "scale": [0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6]
        },
        {
            "dataset": ["celeba"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [8],
            "sn_mode": ["SN", "BSN"],
            "scale": [0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6]
        },
        {
            "dataset": ["cifar10"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001, 0.0002],
            "d_lr": [0.0001, 0.0002],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [4],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        },
        {
            "dataset": ["stl10"],
            "iteration": [800000],
            "run": range(5),
            "g_lr": [0.0001, 0.0002],
            "d_lr": [0.0001, 0.0002],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [6],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        },
        {
            "dataset": ["celeba"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001, 0.0002],
            "d_lr": [0.0001, 0.0002],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.999],
            "d_beta2": [0.999],
            "n_dis": [1],
            "mg": [8],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        },
        {
            "dataset": ["cifar10"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.9],
            "d_beta2": [0.9],
            "n_dis": [5],
            "mg": [4],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        },
        {
            "dataset": ["stl10"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.9],
            "d_beta2": [0.9],
            "n_dis": [5],
            "mg": [6],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        },
        {
            "dataset": ["celeba"],
            "iteration": [400000],
            "run": range(5),
            "g_lr": [0.0001],
            "d_lr": [0.0001],
            "g_beta1": [0.5],
            "d_beta1": [0.5],
            "g_beta2": [0.9],
            "d_beta2": [0.9],
            "n_dis": [5],
            "mg": [8],
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0]
        }
    ]
}
