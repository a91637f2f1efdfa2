"""``python -m gan.metrics.inception``: find or download the Inception graph, check it and
print its path (run it where there is internet, then copy the cached file)."""

from __future__ import annotations

from gan.metrics.inception.graph import (
    InceptionUnavailable,
    find_inception_graph,
    load_inception_graph_def,
)


def main() -> None:
    """``python -m gan.metrics.inception``: find or download the graph and print its path."""
    try:
        path = find_inception_graph(None)
        load_inception_graph_def(path)
    except InceptionUnavailable as e:
        raise SystemExit(f"error: {e}") from None
    print(path)


if __name__ == "__main__":
    main()
