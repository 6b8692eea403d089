"""``guardq label``'s file handling: readers, writers, checkpoints and the labeling loop."""
