"""Generated agent stores for the import benchmarks: one module per agent, each with
``generate(root, calls, seed=0) -> Path`` (the PATH to give ``spendtag import AGENT PATH``)."""
