"""The world and the shared internet: ground truth, documents, site graph, watermark, error
registry, learners and the vectorised kernels agents call. Knows nothing of Mesa agents."""
