"""The debrief after a run: findings from its epochs, counterfactual branches, reference players."""
