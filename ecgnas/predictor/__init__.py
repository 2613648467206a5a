"""Architecture-performance predictors: the DCL predictor (CLP + CLF) and its baselines."""
