import os

# Tests run on the CPU with few threads: results must not depend on a GPU being present.
os.environ.setdefault("OMP_NUM_THREADS", "2")
