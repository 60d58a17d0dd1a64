"""The polynomials of the vector exp (Sources/LossKitRowMathBaseline/VectorExp.swift).

exp(r) = 1 + r + r^2 * P(r) on the reduced interval |r| <= ln2/2, with P a Chebyshev fit (near
minimax) of g(r) = (e^r - 1 - r) / r^2, computed in 40-digit arithmetic. Prints the coefficients,
highest degree first (the Horner order of the Swift code), and the fit's error on exp in units of
the format's half ulp at 1. Run: python3 scripts/exp_polynomials.py  (needs mpmath).
"""
import mpmath as mp

mp.mp.dps = 40
# A hair wider than ln2/2: the rounded n·ln2 leaves |r| a few ulps past it.
HALF_WIDTH = mp.log(2) / 2 * mp.mpf("1.0001")


def g(r):
    if abs(r) < mp.mpf("1e-12"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.exp(r) - 1 - r) / r**2


for name, degree, half_ulp in (("Float", 4, mp.mpf(2) ** -24), ("Double", 9, mp.mpf(2) ** -53)):
    coefficients, error = mp.chebyfit(g, [-HALF_WIDTH, HALF_WIDTH], degree + 1, error=True)
    print(f"{name}: P of degree {degree}, fit error on exp {mp.nstr(error * HALF_WIDTH**2 / half_ulp, 3)} half ulp")
    for c in coefficients:
        print("   ", mp.nstr(c, 22))
