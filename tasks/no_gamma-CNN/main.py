"""``python main.py [flags]`` here runs this task folder like ``python <repo>/main.py <it>``."""

import os
import sys

TASK_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(TASK_DIR)))
from main import main_for_task  # noqa: E402

if __name__ == "__main__":
    main_for_task(TASK_DIR)
