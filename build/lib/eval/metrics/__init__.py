"""One module per metric family."""
