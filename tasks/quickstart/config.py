# The download-free quickstart: SN, BSN and BSSN (scale 1.6) on generated 32x32 shapes, sized to
# finish in under 10 minutes on a 2-core AVX2 machine (~100 GFLOP/s fp32 matmul; measure with
# `python benchmarks/quickstart.py`, see docs/quickstart.md). Same grammar as the paper's task
# configs; only this task uses narrow networks (network_width 0.25) and a small batch.
config = {
    "scheduler_config": {
        "gpu": ["0"],
        "scheduler_log_file_path": "scheduler.log",
        "log_file": "worker.log",
    },
    "global_config": {
        "dataset": "shapes",
        "mg": 4,
        "network_width": 0.25,
        "iteration": 1200,
        "batch_size": 16,
        "latent_dim": 128,
        "g_lr": 0.0003,
        "d_lr": 0.0003,
        "g_beta1": 0.5,
        "d_beta1": 0.5,
        "g_beta2": 0.999,
        "d_beta2": 0.999,
        "n_dis": 1,
        "vis_freq": 300,
        "vis_num_h": 10,
        "vis_num_w": 10,
        "summary_freq": 10,
        "metric_freq": 400,
        "save_checkpoint_freq": 400,
        # Download-free metrics: SWD on pixels, FID/KID on a classifier of the shapes.
        "metrics": ["swd", "shapes"],
        "swd_num_samples": 1000,
        "fid_num_samples": 1000,
        "fid_num_real": 1000,
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
