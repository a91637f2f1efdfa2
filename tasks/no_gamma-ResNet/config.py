"""no_gamma-ResNet: hinge loss, ResNet networks on ImageNet 128x128, D kernels normalized (SN or
BSN) then times a constant ``scale`` (SSN/BSSN when != 1). The paper's sweep: 24 runs.

The values are the original's. The original's task code was written for ImageNet and the ResNet
only; this port chooses both by the two keys marked below (global keys stay out of folder
names). Data: ``data/ImageNet/<class>/<image>.npy`` from ``python -m datasets.imagenet``.
Run it with ``python main.py no_gamma-ResNet`` from the repository root.
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
        "iteration": 500000,
        "vis_freq": 200,
        "vis_num_h": 10,
        "vis_num_w": 10,
        "latent_dim": 128,
        "summary_freq": 1,
        "metric_freq": 10000,
        "extra_checkpoint_freq": 50000,
        "save_checkpoint_freq": 10000,
        # This port selects the data and the networks by config keys:
        "dataset": "imagenet",
        "network": "resnet",
        # "restore": True
    },
    "test_config": [
        {
            "run": range(3),
            "g_lr": [0.0002],
            "d_lr": [0.0002],
            "g_beta1": [0.0],
            "d_beta1": [0.0],
            "g_beta2": [0.9],
            "d_beta2": [0.9],
            "n_dis": [5],
            "num_gpus": [1],
            "d_batch_size": [16],
            "g_batch_size": [32],
            "scale": [1.0, 1.2, 1.4, 1.6],
            "sn_mode": ["SN", "BSN"],
        }
    ],
}
