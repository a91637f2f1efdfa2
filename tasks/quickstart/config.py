# The download-free quickstart: SN, BSN and BSSN (scale 1.6) on generated 32x32 shapes, sized to
# finish on 2 CPU cores in a few minutes. Same grammar as the paper's task configs.
config = {
    "scheduler_config": {
        "gpu": ["0"],
        "scheduler_log_file_path": "scheduler.log",
        "log_file": "worker.log",
    },

    "global_config": {
        "dataset": "shapes",
        "mg": 4,
        "iteration": 300,
        "batch_size": 32,
        "latent_dim": 128,
        "g_lr": 0.0002,
        "d_lr": 0.0002,
        "g_beta1": 0.5,
        "d_beta1": 0.5,
        "g_beta2": 0.999,
        "d_beta2": 0.999,
        "n_dis": 1,
        "vis_freq": 50,
        "vis_num_h": 10,
        "vis_num_w": 10,
        "summary_freq": 5,
        "metric_freq": 100,
        "save_checkpoint_freq": 100,
        # Download-free metrics: SWD on pixels, FID/KID on a classifier of the shapes.
        "metrics": ["swd", "shapes"],
        "swd_num_samples": 1000,
        "fid_num_samples": 2000,
        "fid_num_real": 2000,
        "seed": 0,
    },

    "test_config": [
        {
            "sn_mode": ["SN", "BSN"],
            "scale": [1.0],
        },
        {
            "sn_mode": ["BSN"],
            "scale": [1.6],
        },
    ],
}
