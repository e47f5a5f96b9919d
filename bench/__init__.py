# Benchmarks: each script prints its figures and writes them into README.md's results table.
