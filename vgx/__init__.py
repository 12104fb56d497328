"""vgx: run, measure and compare the vanishing and exploding gradient problem."""
