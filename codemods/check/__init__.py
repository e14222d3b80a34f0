"""The check wing: where the recipe's old names still occur, reported for CI."""
