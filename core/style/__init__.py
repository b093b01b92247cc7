"""Style transfer and its building blocks (colour transfer)."""
