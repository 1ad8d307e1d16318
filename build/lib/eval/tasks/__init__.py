"""One scorer per task: it turns matched (gold, prediction) pairs into metrics, report sections and plots."""
