#!/usr/bin/env python3
"""Finite-key test vectors for qkdsim's src/estimation/{decoy,finite}.rs.

Provenance
----------
Written from the paper, not from the Rust code: C. C. W. Lim, M. Curty, N. Walenta, F. Xu,
H. Zbinden, "Concise security bounds for practical decoy-state quantum key distribution",
Phys. Rev. A 89, 022307 (2014) (arXiv:1311.7129), main-text Eqs. (1)-(5) and Appendix B.
Standard library only; every quantity is computed in decimal arithmetic with 60 significant
digits, so the reference values carry no binary floating-point rounding (the Rust side, in
f64, is compared at a relative tolerance of 1e-9).

Run:  python3 tests/vectors/lim2014_vectors.py        (prints every intermediate value and
the Rust constants pasted into tests/finite_key.rs; asserts its own sanity checks).

Basis names
-----------
Lim et al. form the key in basis X and test in Z. qkdsim forms the key in Z and tests in X.
This script uses qkdsim's names: "key" = Lim's X, "test" = Lim's Z. So Lim's s_{X,0}, s_{X,1}
are s0_key, s1_key here; Lim's s_{Z,1}, v_{Z,1} are s1_test, v1_test.

Reading of the paper (one reading, stated once; the Rust code follows the same)
-------------------------------------------------------------------------------
* Eq. (2) and the definition below it: n^pm_k = e^{mu_k}/p_k (n_k pm sqrt(n/2 ln(21/eps_sec)))
  with n the TOTAL count of the basis (all intensities), natural log inside the root (the
  Hoeffding deviation of Appendix A, delta(n, eps1) with eps1 = eps_sec/21).
* Eq. (4): m^pm_k likewise with m the total number of test-basis errors. The deviated counts
  n^-_k, m^-_k are used as printed, also when negative (no clipping of n^- at zero).
* Eqs. (2)-(4): s0, s1 (lower bounds) and v1 (upper bound) are clipped at 0 from below,
  since a number of events is never negative (the clipped value is still a valid bound).
* Eq. (3) uses s0 of the same basis (s0_key for s1_key, s0_test for s1_test).
* Eq. (5): gamma(a, b, c, d) = sqrt((c+d)(1-b)b/(c d ln 2) * log2((c+d)/(c d (1-b) b) 21^2/a^2))
  with a = eps_sec, b = v1_test/s1_test, c = s1_test, d = s1_key ("log 2" of the printed
  formula read as ln 2; gamma is symmetric in c and d anyway).
  qkdsim's extension, also reproduced here: the product x = (1-b)b inside gamma is capped
  at K/e, K = (c+d)/(c d) 21^2/a^2, where b -> x log2(K/x) peaks (beyond it the printed
  closed form would fall as the error rate rises). In every vector below x < K/e, i.e.
  the printed formula itself (asserted).
* Eq. (5) at zero test-basis errors: the printed gamma is 0 at b = 0 (it is a Gaussian
  approximation of the hypergeometric tail, Fung, Ma, Chau, PRA 81, 012318 (2010), which
  Lim et al. cite as Ref. [31] and which is singular at b = 0). qkdsim therefore also
  computes a rigorous method-of-types bound phi_types and uses
      phi = min(1/2, max(b + gamma, phi_types)),
  phi_types = the smallest phi > b with
      c D(b || mu) + d D(phi || mu) >= log2(sqrt(2 (n_test + n_key)) / (1 - r)) + log2(21/eps_sec),
      mu = (c b + d phi)/(c + d),  r = b (1 - phi)/((1 - b) phi),  D the binary relative
  entropy in bits, n_test, n_key the observed sifted totals (upper bounds on c, d).
  Derivation: c test positions drawn without replacement from N = c + d single-photon
  events with K = c b + d phi phase errors; the number J of test errors has
  P(J = j) = C(c,j) C(d,K-j)/C(N,K) <= sqrt(8 K (N-K)/N) 2^{-[c D(j/c||mu) + d D((K-j)/d||mu)]}
  from C(n,k) <= 2^{n h(k/n)} and C(N,K) >= 2^{N h(K/N)}/sqrt(8 K (N-K)/N) (MacWilliams &
  Sloane, The Theory of Error-Correcting Codes (1977), Ch. 10, Lemma 7), and 8K(N-K)/N <= 2N;
  below the mean the pmf falls geometrically, P(j-1)/P(j) <= r, so P(J <= c b) <= that
  term / (1 - r). The failure probability is then <= eps_sec/21, the budget of Lim's
  Eq. (B2). The bisection below finds the root to 1e-40.
* Eq. (1): l = s0_key + s1_key (1 - h(phi)) - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor);
  the key is floor(l) when phi < 1/2 and l >= 1 (a finite block needs one whole bit),
  capped at n_key; else 0.
* The single-photon-source vector uses s0 = 0, s1_key = n_key, s1_test = n_test,
  v1_test = m_test (every detection is a single-photon event) and no Hoeffding deviations.

Sanity checks asserted here (independent of the Rust code):
* at zero test-basis errors, the exact hypergeometric probability that a population with
  K = ceil(d phi_types) phase errors shows no error in the test sample is <= eps_sec/21;
* phi_types > 0 at zero errors and decreases as the block grows;
* for a small population (c = 300 test and d = 900 key positions, eps_sec = 1e-3), the
  exact worst case over every number K of phase errors of the probability that
  phi_types(j/c) < (K - j)/d is <= eps_sec/21 (exact integer arithmetic).
"""

from decimal import Decimal as D, getcontext
import math

getcontext().prec = 60

ZERO, ONE, TWO = D(0), D(1), D(2)
LN2 = TWO.ln()
E = ONE.exp()


def log2(x):
    return x.ln() / LN2


def h(x):
    """Binary entropy in bits, h(0) = h(1) = 0."""
    if x <= 0 or x >= 1:
        return ZERO
    return -x * log2(x) - (ONE - x) * log2(ONE - x)


def kl(p, q):
    """Binary relative entropy D(p||q) in bits, 0 log 0 = 0."""
    out = ZERO
    if p > 0:
        out += p * log2(p / q)
    if p < 1:
        out += (ONE - p) * log2((ONE - p) / (ONE - q))
    return out


def tau(n, classes):
    """tau_n = sum_k p_k e^{-mu_k} mu_k^n / n!  (Lim, definition after Eq. 2)."""
    return sum(p * (-mu).exp() * (mu ** n if n > 0 else ONE) / math.factorial(n) for mu, p in classes)


def hoeffding(total, eps_sec):
    """sqrt(n/2 ln(21/eps_sec))  (Lim, definition after Eq. 2)."""
    return (total / TWO * (D(21) / eps_sec).ln()).sqrt()


def deviated(mu, p, n, dev):
    """Lim's n^pm_k = e^{mu_k}/p_k (n_k pm delta): returns (n^-, n^+)."""
    f = mu.exp() / p
    return f * (n - dev), f * (n + dev)


def clip(x):
    return x if x > 0 else ZERO


def gamma_lim(a, b, c, d):
    """Lim Eq. (5) gamma, with qkdsim's cap x <= K/e (inactive in every vector)."""
    if b <= 0:
        return ZERO, False
    b = min(b, D("0.5"))
    x = (ONE - b) * b
    k = (c + d) / (c * d) * D(441) / (a * a)
    capped = x > k / E
    x = min(x, k / E)
    return ((c + d) * x / (c * d * LN2) * log2(k / x)).sqrt(), capped


def phi_types(b, c, d, n_test, n_key, eps_sec, tol=D("1e-40")):
    """Smallest phi > b with  c D(b||mu) + d D(phi||mu) >= log2(sqrt(2 (n_test + n_key)) / (1 - r))
    + log2(21/eps_sec),  mu = (c b + d phi)/(c + d),  r = b (1 - phi) / ((1 - b) phi)  (header)."""
    const = log2((TWO * (n_test + n_key)).sqrt()) + log2(D(21) / eps_sec)
    n = c + d

    def f(phi):
        mu = (c * b + d * phi) / n
        r = b * (ONE - phi) / ((ONE - b) * phi)
        return c * kl(b, mu) + d * kl(phi, mu) + log2(ONE - r) - const

    lo, hi = b, ONE
    if b >= 1 or f(hi) < 0:
        return ONE
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if f(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return hi


def decoy_basis(classes, n, dev):
    """s0 (Eq. 2) and s1 (Eq. 3) of one basis from per-class counts n[k] and deviation dev."""
    (mu1, p1), (mu2, p2), (mu3, p3) = classes
    t0, t1 = tau(0, classes), tau(1, classes)
    n1m, n1p = deviated(mu1, p1, n[0], dev)
    n2m, n2p = deviated(mu2, p2, n[1], dev)
    n3m, n3p = deviated(mu3, p3, n[2], dev)
    s0 = clip(t0 * (mu2 * n3m - mu3 * n2p) / (mu2 - mu3))
    num = n2m - n3p - (mu2 ** 2 - mu3 ** 2) / mu1 ** 2 * (n1p - s0 / t0)
    den = mu1 * (mu2 - mu3) - mu2 ** 2 + mu3 ** 2
    s1 = clip(t1 * mu1 * num / den)
    return dict(n_minus=[n1m, n2m, n3m], n_plus=[n1p, n2p, n3p], s0=s0, s1=s1,
                s1_unclipped=t1 * mu1 * num / den)


def conclude(r, eps_sec, eps_cor, n_test, n_key):
    b = r["v1_test"] / r["s1_test"]
    g, capped = gamma_lim(eps_sec, b, r["s1_test"], r["s1_key"])
    assert not capped, "the gamma cap is active: not the printed formula"
    pt = phi_types(b, r["s1_test"], r["s1_key"], n_test, n_key, eps_sec)
    phi = min(D("0.5"), max(b + g, pt))
    cost = 6 * log2(D(21) / eps_sec) + log2(TWO / eps_cor)
    bound = r["s0_key"] + r["s1_key"] * (ONE - h(phi)) - r["leak"] - cost
    if phi >= D("0.5") or bound < 1:
        key = 0
    else:
        key = min(int(bound.to_integral_value(rounding="ROUND_FLOOR")), int(n_key))
    r.update(b=b, gamma_lim=g, phi_types=pt, phi=phi, binding="lim" if b + g >= pt else "types",
             cost=cost, bound=bound, key=key)
    # The floor must not sit on a rounding edge for the f64 comparison.
    frac = bound - bound.to_integral_value(rounding="ROUND_FLOOR")
    r["floor_margin"] = min(frac, ONE - frac)
    return r


def decoy_vector(name, classes, n_key, m_key, n_test, m_test, leak, eps_sec, eps_cor):
    inputs = (classes, n_key, m_key, n_test, m_test, leak, eps_sec, eps_cor)
    classes = [(D(mu), D(p)) for mu, p in classes]
    n_key, m_key, n_test, m_test = ([D(x) for x in v] for v in (n_key, m_key, n_test, m_test))
    leak, eps_sec, eps_cor = D(leak), D(eps_sec), D(eps_cor)
    tot_key, tot_test, tot_m = sum(n_key), sum(n_test), sum(m_test)
    dz, dx, dm = hoeffding(tot_key, eps_sec), hoeffding(tot_test, eps_sec), hoeffding(tot_m, eps_sec)
    key = decoy_basis(classes, n_key, dz)
    test = decoy_basis(classes, n_test, dx)
    (mu1, p1), (mu2, p2), (mu3, p3) = classes
    t1 = tau(1, classes)
    m2m, m2p = deviated(mu2, p2, m_test[1], dm)
    m3m, m3p = deviated(mu3, p3, m_test[2], dm)
    v1 = clip(t1 * (m2p - m3m) / (mu2 - mu3))
    r = dict(name=name, inputs=inputs, tau0=tau(0, classes), tau1=t1, dev_key=dz, dev_test=dx, dev_err=dm,
             key_basis=key, test_basis=test, m_minus=[deviated(mu, p, m, dm)[0] for (mu, p), m in zip(classes, m_test)],
             m_plus=[deviated(mu, p, m, dm)[1] for (mu, p), m in zip(classes, m_test)],
             s0_key=key["s0"], s1_key=key["s1"], s0_test=test["s0"], s1_test=test["s1"],
             v1_test=v1, leak=leak)
    if r["s1_key"] <= 0 or r["s1_test"] <= 0:
        r.update(rejected=True, key=0)
        return r
    r["rejected"] = False
    return conclude(r, eps_sec, eps_cor, tot_test, tot_key)


def single_photon_vector(name, n_key, n_test, m_test, leak, eps_sec, eps_cor):
    inputs = (n_key, n_test, m_test, leak, eps_sec, eps_cor)
    n_key, n_test, m_test = D(n_key), D(n_test), D(m_test)
    r = dict(name=name, inputs=inputs, s0_key=ZERO, s1_key=n_key, s1_test=n_test, v1_test=m_test, leak=D(leak),
             rejected=False)
    return conclude(r, D(eps_sec), D(eps_cor), n_test, n_key)


def exact_zero_error_tail(c, d, phi):
    """P(no error among c test positions | K = ceil(d phi) errors among N = c + d), exact."""
    k = math.ceil(d * phi)
    return D(math.comb(d, k)) / D(math.comb(c + d, k))


LIM = [("0.5", "0.6"), ("0.1", "0.3"), ("2e-4", "0.1")]


def vectors():
    v = []
    # 1. Typical counts: a 50 km link, 1e10 pulses, p_Z = q_Z = 0.8 (Lim's Sec. IV model, rounded).
    v.append(decoy_vector("typical", LIM,
                          [19_200_000, 1_920_000, 2_048], [115_200, 12_480, 1_024],
                          [1_200_000, 120_000, 128], [7_200, 780, 64],
                          1_300_000, "1e-10", "1e-15"))
    # 2. Near-zero test-basis errors.
    v.append(decoy_vector("near_zero_errors", LIM,
                          [19_200_000, 1_920_000, 2_048], [1_000, 100, 1_024],
                          [1_200_000, 120_000, 128], [2, 1, 0],
                          100_000, "1e-10", "1e-15"))
    # 3. Zero test-basis errors: Lim's gamma is 0, the types bound carries the penalty.
    v.append(decoy_vector("zero_test_errors", LIM,
                          [19_200_000, 1_920_000, 2_048], [1_000, 100, 1_024],
                          [1_200_000, 120_000, 128], [0, 0, 0],
                          100_000, "1e-10", "1e-15"))
    # 4. s1 tiny but positive and no key: 88 006 detections per basis, p_Z = q_Z = 1/2;
    #    Eq. 5 is reached (phi < 1/2) but l < 0.
    v.append(decoy_vector("tiny_s1_no_key", LIM,
                          [80_000, 8_000, 6], [800, 80, 0],
                          [80_000, 8_000, 6], [480, 52, 3],
                          5_280, "1e-10", "1e-15"))
    # 5. No single photon certified (s1 clipped to 0): rejected before Eq. 5.
    v.append(decoy_vector("s1_zero_rejected", LIM,
                          [19_200, 1_920, 2], [115, 12, 1],
                          [1_200, 120, 0], [7, 1, 0],
                          1_300, "1e-10", "1e-15"))
    # 6. Small eps_sec and a test basis 16x smaller than the key basis: Lim's gamma binds.
    v.append(decoy_vector("small_eps_lim_binding", LIM,
                          [19_200_000, 1_920_000, 2_048], [115_200, 12_480, 1_024],
                          [1_200_000, 120_000, 128], [7_200, 780, 64],
                          1_300_000, "1e-15", "1e-12"))
    # 7. High background, vacuum decoy mu3 = 0: s0 > 0 in both bases, Lim's gamma binds.
    v.append(decoy_vector("high_background_vacuum_decoy", [("0.5", "0.5"), ("0.1", "0.25"), ("0", "0.25")],
                          [2_400_000, 400_000, 200_000], [240_000, 104_000, 100_000],
                          [600_000, 100_000, 50_000], [60_000, 26_000, 25_000],
                          1_000_000, "1e-9", "1e-12"))
    # 8. Ideal single-photon source, zero test-basis errors.
    v.append(single_photon_vector("single_photon_zero_errors", 100_000, 20_000, 0, 1_000,
                                  "1e-10", "1e-15"))
    return v


def f(x):
    return format(float(x), ".17e")


def check_zero_error_penalty():
    eps = D("1e-10")
    prev = ONE
    for n in (10_000, 100_000, 1_000_000, 10_000_000):
        c = d = D(n)
        pt = phi_types(ZERO, c, d, c, d, eps)
        assert pt > 0 and pt < prev, (n, pt)
        prev = pt
        if n <= 100_000:
            tail = exact_zero_error_tail(n, n, pt)
            assert tail <= eps / 21, (n, tail)
            print(f"# zero errors, c = d = {n}: phi_types = {rust_f(pt)}, exact tail {f(tail)} <= eps/21 = {f(eps / 21)}")
        else:
            print(f"# zero errors, c = d = {n}: phi_types = {rust_f(pt)}")


def check_rigour_exact(c=300, d=900, eps_sec=D("1e-3")):
    """Worst case over every population (K phase errors among N = c + d) of the exact
    probability that the test sample's error count j gives phi_types(j/c) below the key's
    true phase-error rate (K - j)/d: must be <= eps_sec/21."""
    # b >= 1/2 is rejected by the protocol (no key, no failure): phi_up = 1 there.
    phi_up = [phi_types(D(j) / c, D(c), D(d), D(c), D(d), eps_sec, D("1e-15"))
              if 2 * j < c else ONE for j in range(c + 1)]
    n = c + d
    worst, worst_k = 0.0, 0
    for k in range(n + 1):
        total = math.comb(n, k)
        fail = sum(math.comb(c, j) * math.comb(d, k - j)
                   for j in range(max(0, k - d), min(c, k) + 1)
                   if D(k - j) / d > phi_up[j])
        if fail and fail / total > worst:
            worst, worst_k = fail / total, k
    assert worst <= eps_sec / 21, (worst, worst_k)
    print(f"# exact worst-case failure probability, c = {c}, d = {d}: {worst:.3e} (K = {worst_k}) "
          f"<= eps_sec/21 = {float(eps_sec / 21):.3e}")


def rust_f(x):
    """The f64 nearest the decimal value, as its shortest round-trip literal."""
    return repr(float(x))


def rust_arr(xs):
    return "[" + ", ".join(rust_f(x) for x in xs) + "]"


def print_rust(r, inputs):
    """The vector as a Rust `DecoyVector` / `SinglePhotonVector` literal for tests/finite_key.rs."""
    print(f"// {r['name']}: printed by tests/vectors/lim2014_vectors.py")
    if "m_minus" in r:
        classes, n_key, m_key, n_test, m_test, leak, eps_sec, eps_cor = inputs
        print("DecoyVector {")
        print(f'    name: "{r["name"]}",')
        print("    classes: [" + ", ".join(f"({float(D(mu))!r}, {float(D(p))!r})" for mu, p in classes) + "],")
        for key, val in (("n_key", n_key), ("m_key", m_key), ("n_test", n_test), ("m_test", m_test)):
            print(f"    {key}: [{', '.join(str(x) for x in val)}],")
        print(f"    leak: {rust_f(D(leak))},\n    eps_sec: {eps_sec},\n    eps_cor: {eps_cor},")
        print(f"    tau: [{rust_f(r['tau0'])}, {rust_f(r['tau1'])}],")
        print(f"    deviations: [{rust_f(r['dev_key'])}, {rust_f(r['dev_test'])}, {rust_f(r['dev_err'])}],")
        print(f"    n_minus_key: {rust_arr(r['key_basis']['n_minus'])},")
        print(f"    n_plus_key: {rust_arr(r['key_basis']['n_plus'])},")
        print(f"    n_minus_test: {rust_arr(r['test_basis']['n_minus'])},")
        print(f"    n_plus_test: {rust_arr(r['test_basis']['n_plus'])},")
        print(f"    m_minus: {rust_arr(r['m_minus'])},")
        print(f"    m_plus: {rust_arr(r['m_plus'])},")
        print(f"    s0: [{rust_f(r['s0_key'])}, {rust_f(r['s0_test'])}],")
        print(f"    s1: [{rust_f(r['s1_key'])}, {rust_f(r['s1_test'])}],")
        print(f"    v1_test: {rust_f(r['v1_test'])},")
    else:
        n_key, n_test, m_test, leak, eps_sec, eps_cor = inputs
        print("SinglePhotonVector {")
        print(f'    name: "{r["name"]}",')
        print(f"    n_key: {n_key},\n    n_test: {n_test},\n    m_test: {m_test},")
        print(f"    leak: {rust_f(D(leak))},\n    eps_sec: {eps_sec},\n    eps_cor: {eps_cor},")
    if r["rejected"]:
        print("    eq5: None,")
    else:
        print("    eq5: Some(Eq5 {")
        for key in ("b", "gamma_lim", "phi_types", "phi", "cost", "bound"):
            print(f"        {key}: {rust_f(r[key])},")
        print(f"        lim_binds: {'true' if r['binding'] == 'lim' else 'false'},")
        print("    }),")
    print(f"    key_bits: {r['key']},")
    print("},")


def main():
    check_zero_error_penalty()
    check_rigour_exact()
    all_vectors = vectors()
    for r in all_vectors:
        print(f"\n# ---- {r['name']} ----")
        for key in ("tau0", "tau1", "dev_key", "dev_test", "dev_err"):
            if key in r:
                print(f"#   {key:>14} = {f(r[key])}")
        if "m_minus" in r:
            for basis in ("key", "test"):
                for sign in ("n_minus", "n_plus"):
                    print(f"#   {basis} {sign:>8} = [{', '.join(f(x) for x in r[basis + '_basis'][sign])}]")
            print(f"#   test  m_minus = [{', '.join(f(x) for x in r['m_minus'])}]")
            print(f"#   test   m_plus = [{', '.join(f(x) for x in r['m_plus'])}]")
            print(f"#   key s1 unclipped = {f(r['key_basis']['s1_unclipped'])}, test s1 unclipped = {f(r['test_basis']['s1_unclipped'])}")
        for key in ("s0_key", "s1_key", "s0_test", "s1_test", "v1_test", "b", "gamma_lim",
                    "phi_types", "phi", "leak", "cost", "bound"):
            if key in r:
                print(f"#   {key:>14} = {f(r[key])}")
        for key in ("binding", "floor_margin", "key", "rejected"):
            if key in r:
                print(f"#   {key:>14} = {r[key]}")
        if r.get("floor_margin") is not None and r["key"] > 0:
            assert r["floor_margin"] > D("1e-3"), "bound too close to an integer"

    print("\n// ======== Rust literals for tests/finite_key.rs ========")
    for r in all_vectors:
        print_rust(r, r["inputs"])


if __name__ == "__main__":
    main()
