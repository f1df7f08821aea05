"""Random but reproducible classification datasets, one module per family."""

from engine.datasets.base import FAMILIES, SIZES, Dataset, Family, make_dataset, parse_ref, playable_families

# Importing the family modules registers them.
from engine.datasets import motifs, shapes, teacher, textures, vectors  # noqa: F401,E402

__all__ = ["FAMILIES", "SIZES", "Dataset", "Family", "make_dataset", "parse_ref", "playable_families", "load"]


def load(ref: str, size: str = "small") -> Dataset:
    """Generate the dataset named by a ``family:seed`` string."""
    family, seed = parse_ref(ref)
    return make_dataset(family, seed, size)
