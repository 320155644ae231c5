#!/usr/bin/env python3
"""The GPTQ update rule on a 2x4 example, in numpy, as the paper states it (Frantar et al. 2022,
Algorithm 1): U = upper Cholesky factor of (H + damp*mean(diag H)*I)^-1; columns quantized in order,
the error of column j divided by U[j, j] and subtracted along row j of U from the later columns.

"Rounding" is to a grid of step 0.5 (a stand-in for a number format), applied either column by
column (block width 1) or to a block of 2 columns at once, with the block's values as they stand
when its first column comes up (what quantd does with a ggml block).

Prints the values Tests/QuantizationTests/GPTQTests.swift checks against:
    python3 scripts/gptq/gptq_reference.py
"""
import json
import numpy as np

# Chosen so that every value rounded is at least 0.03 from a rounding tie (0.25 + k/2), and the
# three results differ.
W = np.array([[0.31, -0.22, 0.87, 0.78],
              [-0.22, 0.47, -0.12, 0.68]], dtype=np.float64)
X = np.array([[1.0, 0.8, 0.1, -0.3],
              [0.2, 1.1, 0.9, 0.4],
              [-0.5, 0.3, 1.2, 0.7],
              [0.9, -0.2, 0.4, 1.3],
              [0.3, 0.6, -0.8, 0.5]], dtype=np.float64)
H = X.T @ X
damp = 0.01


def factor(H, damp):
    Hd = H + damp * np.mean(np.diag(H)) * np.eye(H.shape[0])
    return np.linalg.cholesky(np.linalg.inv(Hd)).T  # upper, Hinv = U^T U


def rnd(v):
    return np.round(v * 2) / 2


def gptq(W, U, block):
    W = W.copy()
    Q = np.zeros_like(W)
    n = W.shape[1]
    for j in range(n):
        if j % block == 0:
            Q[:, j:j + block] = rnd(W[:, j:j + block])
        err = (W[:, j] - Q[:, j]) / U[j, j]
        W[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    return Q


def output_error(A, B, H):
    E = A - B
    return float(np.trace(E @ H @ E.T))


U = factor(H, damp)
q1 = gptq(W, U, 1)
q2 = gptq(W, U, 2)
print(json.dumps({
    "H": H.tolist(),
    "U": U.tolist(),
    "rtn": rnd(W).tolist(),
    "gptq_block1": q1.tolist(),
    "gptq_block2": q2.tolist(),
    "error_rtn": output_error(W, rnd(W), H),
    "error_block1": output_error(W, q1, H),
    "error_block2": output_error(W, q2, H),
}))
