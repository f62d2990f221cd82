"""The only code in sveval that opens files: trial lists, score files, result files, embeddings."""
