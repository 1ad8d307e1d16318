"""Eval: metrics over predictions against gold, a resumable runner and a report."""
