"""Dataset preparation: downloaded archives (or tensorflow-datasets) -> files under data_root.

Run each as a module from the repository root, e.g. ``python -m datasets.cifar10``; see README
"Datasets". Importing these modules defines no flags and has no side effects.
"""
