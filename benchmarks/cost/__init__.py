"""What a model costs: FLOPs counted twice and timing (``measure``, ``timing``), the
conditions a timing was taken under (``conditions``), peak memory and the training-memory
check that refuses a job before its model is built.
"""
