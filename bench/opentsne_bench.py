"""openTSNE on the points `repro bench tsne` wrote, for a same-run comparison.

Usage: python3 opentsne_bench.py POINTS.f32 N D DIMS OUT.f64 THREADS
Reads N x D float32 (little-endian), runs openTSNE with its defaults
(2-D: FFT gradients; 3-D: Barnes-Hut, since FFT is 2-D only), writes the
N x DIMS embedding as float64 and prints {"seconds": ...} as JSON.
"""
import json
import sys
import time

import numpy as np
from openTSNE import TSNE


def main():
    points, n, d, dims, out, threads = sys.argv[1:7]
    x = np.fromfile(points, dtype="<f4").reshape(int(n), int(d)).astype(np.float64)
    dims, threads = int(dims), int(threads)
    method = "fft" if dims == 2 else "bh"
    started = time.perf_counter()
    y = TSNE(n_components=dims, negative_gradient_method=method, n_jobs=threads, random_state=0).fit(x)
    seconds = time.perf_counter() - started
    np.asarray(y, dtype="<f8").tofile(out)
    print(json.dumps({"seconds": seconds, "method": method}))


if __name__ == "__main__":
    main()
