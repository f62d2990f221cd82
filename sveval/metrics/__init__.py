"""Detection metrics: error curves, EER variants, minDCF, Cllr and actual DCF; ties and file order."""
