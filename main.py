"""``python main.py [task folder] [flags]``: the project's command line (``gan/cli.py``).

Kept at the root so that ``python main.py`` works from a clone; the installed package runs the
same CLI as a console script.
"""

from gan.cli import main, main_for_task, run_cli  # noqa: F401  (task folders import these)

if __name__ == "__main__":
    main()
