// Tests of bindings/cpp/losskit.hpp against liblosskit.
//
// A plain runner (no framework): every CHECK counts as one test; the output
// ends with "N passed, M failed" and the exit code is non-zero if any failed
// or none ran. Expected numbers come from an independent double-precision
// reference below, written from PyTorch's F.cross_entropy definition.
#include "losskit.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

int g_passed = 0;
int g_failed = 0;

void record(bool ok, const char* what, const char* file, int line) {
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::printf("FAIL %s:%d: %s\n", file, line, what);
    }
}

#define CHECK(cond) record(static_cast<bool>(cond), #cond, __FILE__, __LINE__)

// Passes when `expr` throws losskit::error with `expected` status and a well-formed what().
#define CHECK_THROWS(expr, expected)                                                               \
    do {                                                                                           \
        bool ok_ = false;                                                                          \
        try {                                                                                      \
            (void)(expr);                                                                          \
        } catch (const losskit::error& e_) {                                                       \
            ok_ = e_.status() == (expected) && !e_.message().empty() &&                            \
                  std::string(e_.what()) ==                                                        \
                      std::string(lk_status_string(expected)) + ": " + e_.message();               \
            if (!ok_) std::printf("  got status %d: %s\n", static_cast<int>(e_.status()), e_.what()); \
        } catch (...) {                                                                            \
        }                                                                                          \
        record(ok_, #expr " throws " #expected, __FILE__, __LINE__);                               \
    } while (0)

// ------------------------------------------------------------------ reference

/// Everything the reference needs to describe one batch; D is the product of the spatial sizes.
struct Case {
    int64_t n = 0, c = 0, d = 1;
    std::vector<double> logits;  // (N, C, D) in C order
    std::vector<int64_t> target; // (N, D) class indices
    std::vector<double> weight;  // empty = all 1
    double smoothing = 0;
    double z_loss = 0;
    int64_t ignore_index = LK_DEFAULT_IGNORE_INDEX;
    losskit::Reduction reduction = losskit::Reduction::mean;
    std::vector<double> dloss; // empty = 1
};

struct Expected {
    std::vector<double> loss; // 1 value, or S for reduction none
    std::vector<double> grad; // same layout as logits
};

/// PyTorch's rule: per sample (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_j w_j·(-log p_j) + λ·w_y·lse²,
/// mean divides by Σ w_y over samples not ignored. Gradient differentiates each term
/// separately: d(-log p_i)/dz_j = p_j - [i = j], d(lse)/dz_j = p_j.
Expected reference(const Case& k) {
    const int64_t samples = k.n * k.d;
    auto w = [&](int64_t j) { return k.weight.empty() ? 1.0 : k.weight[static_cast<size_t>(j)]; };
    auto at = [&](int64_t s, int64_t j) { return static_cast<size_t>((s / k.d) * k.c * k.d + j * k.d + s % k.d); };
    double weight_total = 0;
    for (int64_t j = 0; j < k.c; ++j) weight_total += w(j);

    std::vector<double> per_sample(static_cast<size_t>(samples), 0.0);
    std::vector<double> grad(k.logits.size(), 0.0); // unscaled dL_s/dz
    double denominator = 0;
    for (int64_t s = 0; s < samples; ++s) {
        const int64_t y = k.target[static_cast<size_t>(s)];
        if (y == k.ignore_index) continue;
        double m = -INFINITY;
        for (int64_t j = 0; j < k.c; ++j) m = std::max(m, k.logits[at(s, j)]);
        double sum = 0;
        for (int64_t j = 0; j < k.c; ++j) sum += std::exp(k.logits[at(s, j)] - m);
        const double lse = m + std::log(sum);
        double nll = 0, smooth = 0;
        for (int64_t j = 0; j < k.c; ++j) {
            const double neg_log_p = lse - k.logits[at(s, j)];
            if (j == y) nll = w(y) * neg_log_p;
            smooth += w(j) * neg_log_p;
        }
        const double eps = k.smoothing, uniform = eps / static_cast<double>(k.c);
        per_sample[static_cast<size_t>(s)] = (1 - eps) * nll + uniform * smooth + k.z_loss * w(y) * lse * lse;
        for (int64_t j = 0; j < k.c; ++j) {
            const double p = std::exp(k.logits[at(s, j)] - lse);
            const double d_nll = w(y) * (p - (j == y ? 1.0 : 0.0));
            const double d_smooth = weight_total * p - w(j);
            grad[at(s, j)] = (1 - eps) * d_nll + uniform * d_smooth + 2 * k.z_loss * w(y) * lse * p;
        }
        denominator += w(y);
    }

    Expected e;
    auto upstream = [&](int64_t i) { return k.dloss.empty() ? 1.0 : k.dloss[static_cast<size_t>(i)]; };
    if (k.reduction == losskit::Reduction::none) {
        e.loss = per_sample;
        for (int64_t s = 0; s < samples; ++s)
            for (int64_t j = 0; j < k.c; ++j) grad[at(s, j)] *= upstream(s);
    } else {
        double total = 0;
        for (double v : per_sample) total += v;
        const double divisor = k.reduction == losskit::Reduction::mean ? denominator : 1.0;
        e.loss = {total / divisor};
        for (double& g : grad) g *= upstream(0) / divisor;
    }
    e.grad = grad;
    return e;
}

/// Soft targets q (same layout as logits), unweighted: L_s = -Σ q_j log p_j, dL/dz_j = p_j·Σq - q_j.
Expected reference_probabilities(const Case& k, const std::vector<double>& q) {
    const int64_t samples = k.n * k.d;
    auto at = [&](int64_t s, int64_t j) { return static_cast<size_t>((s / k.d) * k.c * k.d + j * k.d + s % k.d); };
    Expected e;
    e.grad.assign(k.logits.size(), 0.0);
    double total = 0;
    for (int64_t s = 0; s < samples; ++s) {
        double m = -INFINITY, sum = 0, mass = 0, loss = 0;
        for (int64_t j = 0; j < k.c; ++j) m = std::max(m, k.logits[at(s, j)]);
        for (int64_t j = 0; j < k.c; ++j) sum += std::exp(k.logits[at(s, j)] - m);
        const double lse = m + std::log(sum);
        for (int64_t j = 0; j < k.c; ++j) {
            loss += q[at(s, j)] * (lse - k.logits[at(s, j)]);
            mass += q[at(s, j)];
        }
        for (int64_t j = 0; j < k.c; ++j)
            e.grad[at(s, j)] = (std::exp(k.logits[at(s, j)] - lse) * mass - q[at(s, j)]) / static_cast<double>(samples);
        total += loss;
    }
    e.loss = {total / static_cast<double>(samples)};
    return e;
}

// -------------------------------------------------------------------- helpers

/// Deterministic logits in [-3, 3) (a small LCG, so runs are reproducible).
std::vector<double> make_logits(size_t count, uint32_t seed) {
    std::vector<double> v(count);
    for (double& x : v) {
        seed = seed * 1664525u + 1013904223u;
        x = static_cast<double>(seed >> 8) / static_cast<double>(1u << 24) * 6.0 - 3.0;
    }
    return v;
}

template <class To, class From> std::vector<To> cast(const std::vector<From>& v) {
    return std::vector<To>(v.begin(), v.end());
}

/// Element-wise |a - b| <= tol·(1 + |b|); prints the first mismatch.
template <class T> bool near(const std::vector<T>& got, const std::vector<double>& want, double tol) {
    if (got.size() != want.size()) {
        std::printf("  size %zu != %zu\n", got.size(), want.size());
        return false;
    }
    for (size_t i = 0; i < got.size(); ++i) {
        const double g = static_cast<double>(got[i]);
        if (!(std::fabs(g - want[i]) <= tol * (1 + std::fabs(want[i])))) {
            std::printf("  [%zu] got %.17g, want %.17g\n", i, g, want[i]);
            return false;
        }
    }
    return true;
}

template <class T> bool near(T got, double want, double tol) {
    return near(std::vector<T>{got}, std::vector<double>{want}, tol);
}

/// Tolerances: float32 kernels against a float64 reference, and float64 against float64.
constexpr double kTolF = 2e-5;
constexpr double kTolD = 1e-12;

/// A Loss configured like `k`.
losskit::Loss make_loss(const Case& k) {
    return losskit::Loss("cross_entropy", {{"label_smoothing", k.smoothing}, {"z_loss", k.z_loss}});
}

/// Runs `k` through the Batch builder in element type F with int64 targets; returns (loss, grad).
template <class F> std::pair<std::vector<F>, std::vector<F>> run_batch(const Case& k) {
    const std::vector<F> logits = cast<F>(k.logits), weight = cast<F>(k.weight), dloss = cast<F>(k.dloss);
    std::vector<F> loss(k.reduction == losskit::Reduction::none ? k.target.size() : 1);
    std::vector<F> grad(logits.size());
    std::vector<int64_t> shape = {k.n, k.c};
    if (k.d != 1) shape.push_back(k.d);
    losskit::Batch b;
    b.shape(shape).logits(logits.data()).target(k.target.data()).ignore_index(k.ignore_index)
        .reduction(k.reduction).loss(loss.data()).grad(grad.data());
    if (!weight.empty()) b.weight(weight.data());
    if (!dloss.empty()) b.dloss(dloss.data());
    make_loss(k).compute(b);
    return {loss, grad};
}

/// Checks `k` in float32 and float64 through the Batch builder.
void check_case(const char* label, const Case& k) {
    const Expected e = reference(k);
    const auto [loss_f, grad_f] = run_batch<float>(k);
    const auto [loss_d, grad_d] = run_batch<double>(k);
    const bool ok = near(loss_f, e.loss, kTolF) && near(grad_f, e.grad, kTolF) && near(loss_d, e.loss, kTolD) &&
                    near(grad_d, e.grad, kTolD);
    record(ok, label, __FILE__, __LINE__);
}

/// A small (N, C) case with deterministic logits and targets.
Case small_case(int64_t n, int64_t c, uint32_t seed) {
    Case k;
    k.n = n;
    k.c = c;
    k.logits = make_logits(static_cast<size_t>(n * c), seed);
    for (int64_t i = 0; i < n; ++i) k.target.push_back((i * 7 + 3) % c);
    return k;
}

// ---------------------------------------------------------------------- tests

void test_version_and_registry() {
    CHECK(losskit::version() == LK_VERSION_STRING);
    CHECK(losskit::version_number() == LK_VERSION_NUMBER);
    const std::vector<std::string> names = losskit::losses();
    CHECK(static_cast<int64_t>(names.size()) == lk_loss_count());
    CHECK(std::find(names.begin(), names.end(), "cross_entropy") != names.end());
    // Every listed name creates a loss of that name: the registry and create agree.
    bool all_create = !names.empty();
    for (const std::string& name : names) all_create = all_create && losskit::Loss(name).name() == name;
    CHECK(all_create);
}

void test_threads() {
    losskit::set_num_threads(3);
    CHECK(losskit::num_threads() == 3);
    CHECK_THROWS(losskit::set_num_threads(-1), LK_ERROR_BAD_PARAM);
    CHECK(losskit::num_threads() == 3);

    // Results must not depend on the thread count: compare 1 thread with 4 bit for bit.
    const Case k = small_case(4096, 33, 7);
    const std::vector<float> logits = cast<float>(k.logits);
    std::vector<float> g1(logits.size()), g4(logits.size());
    losskit::Loss ce("cross_entropy");
    losskit::set_num_threads(1);
    const float l1 = ce.compute(logits.data(), k.target.data(), k.n, k.c, g1.data());
    losskit::set_num_threads(4);
    const float l4 = ce.compute(logits.data(), k.target.data(), k.n, k.c, g4.data());
    CHECK(l1 == l4 && g1 == g4);
    CHECK(near(g4, reference(k).grad, kTolF));
    losskit::set_num_threads(0);
    CHECK(losskit::num_threads() == 0);
}

void test_error_type() {
    static_assert(std::is_base_of_v<std::runtime_error, losskit::error>);
    CHECK_THROWS(losskit::Loss("no_such_loss"), LK_ERROR_UNKNOWN_LOSS);
    try {
        losskit::Loss bad("no_such_loss");
        CHECK(false);
    } catch (const std::runtime_error& e) { // catchable as the standard base
        CHECK(std::string(e.what()).rfind(lk_status_string(LK_ERROR_UNKNOWN_LOSS), 0) == 0);
    }
    const losskit::error made(LK_ERROR_BAD_SHAPE, "why");
    CHECK(made.status() == LK_ERROR_BAD_SHAPE && made.message() == "why");
    CHECK(std::string(made.what()) == std::string(lk_status_string(LK_ERROR_BAD_SHAPE)) + ": why");
}

void test_params() {
    const losskit::Param number("z_loss", 1); // an int is accepted as a number
    const losskit::Param text("nan_policy", "propagate");
    CHECK(number.name() == "z_loss" && number.is_number() && number.number() == 1.0);
    CHECK(text.name() == "nan_policy" && !text.is_number() && text.text() == "propagate");

    losskit::Loss ce("cross_entropy", {{"label_smoothing", 0.1}, {"z_loss", 1}, {"nan_policy", "propagate"}});
    CHECK(ce.name() == "cross_entropy");
    CHECK(ce.get("label_smoothing") == 0.1);
    CHECK(ce.get("z_loss") == 1.0);

    ce.set("label_smoothing", 0.25);
    CHECK(ce.get("label_smoothing") == 0.25);
    ce.set("z_loss", 0); // integer overload
    CHECK(ce.get("z_loss") == 0.0);
    ce.set(losskit::Param("z_loss", 0.5));
    CHECK(ce.get("z_loss") == 0.5);
    ce.set("nan_policy", std::string("error"));
    ce.set(losskit::Param("nan_policy", "propagate"));

    // Bad values are refused and leave the previous value in place.
    CHECK_THROWS(ce.set("label_smoothing", 1.5), LK_ERROR_BAD_PARAM);
    CHECK(ce.get("label_smoothing") == 0.25);
    CHECK_THROWS(ce.set("label_smoothing", std::nan("")), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set("z_loss", -1.0), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set("label_smoothing", "high"), LK_ERROR_BAD_PARAM); // text for a number
    CHECK_THROWS(ce.set("nan_policy", 1.0), LK_ERROR_BAD_PARAM);         // number for text
    CHECK_THROWS(ce.set("nan_policy", "sometimes"), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set("no_such_param", 1.0), LK_ERROR_UNKNOWN_PARAM);
    CHECK_THROWS(ce.set("no_such_param", "x"), LK_ERROR_UNKNOWN_PARAM);
    CHECK_THROWS(ce.get("no_such_param"), LK_ERROR_UNKNOWN_PARAM);
    CHECK_THROWS(ce.get("nan_policy"), LK_ERROR_BAD_PARAM); // text is not readable as a number
    CHECK_THROWS(losskit::Loss("cross_entropy", {{"label_smoothing", 2.0}}), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(losskit::Loss("cross_entropy", {{"nope", 2.0}}), LK_ERROR_UNKNOWN_PARAM);
}

void test_vector_params() {
    const losskit::Param list("priors", {0.25, 0.75});
    const losskit::Param vec("priors", std::vector<double>{1, 2, 3});
    CHECK(list.is_vector() && !list.is_number() && !list.is_text() && list.vector() == std::vector<double>({0.25, 0.75}));
    CHECK(vec.is_vector() && vec.vector().size() == 3);

    // Wrong kind, unknown name and bad pointer/count reach the library and come back as errors.
    losskit::Loss ce("cross_entropy");
    CHECK_THROWS(ce.set("label_smoothing", {0.1, 0.2}), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set("label_smoothing", std::vector<double>{0.1}), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set("no_such_param", {1.0}), LK_ERROR_UNKNOWN_PARAM);
    CHECK_THROWS(ce.set("label_smoothing", static_cast<const double*>(nullptr), 2), LK_ERROR_NULL_POINTER);
    CHECK_THROWS(ce.set("label_smoothing", list.vector().data(), -1), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.set(list), LK_ERROR_UNKNOWN_PARAM);
    CHECK(ce.get("label_smoothing") == 0.0);

    // A loss with a vector parameter, if this build has one: the values must arrive in order.
    // logit_adjusted is CE of z + tau*log(prior), so the CE reference applies to shifted logits.
    const std::vector<std::string> names = losskit::losses();
    if (std::find(names.begin(), names.end(), "logit_adjusted") == names.end()) {
        std::printf("  (logit_adjusted not registered: vector values not checked end to end)\n");
        return;
    }
    const std::vector<double> priors = {0.5, 0.3, 0.2};
    Case k = small_case(4, 3, 13);
    const std::vector<double> z = k.logits;
    for (size_t i = 0; i < k.logits.size(); ++i) k.logits[i] += 0.5 * std::log(priors[i % 3]);
    const Expected e = reference(k);
    losskit::Loss la("logit_adjusted", {{"tau", 0.5}, {"priors", {0.5, 0.3, 0.2}}});
    std::vector<double> g(z.size());
    CHECK(near(la.compute(z.data(), k.target.data(), k.n, k.c, g.data()), e.loss[0], kTolD) && near(g, e.grad, kTolD));
    la.set("priors", priors); // the std::vector overload
    CHECK(near(la.compute(z.data(), k.target.data(), k.n, k.c), e.loss[0], kTolD));
    CHECK_THROWS(la.set("priors", {0.5, -0.5}), LK_ERROR_BAD_PARAM);
    la.set("priors", std::vector<double>{0.5, 0.5}); // length is only checked against C at compute
    CHECK_THROWS(la.compute(z.data(), k.target.data(), k.n, k.c), LK_ERROR_BAD_PARAM);
    la.set("priors", nullptr, 0); // count 0 clears; the loss then requires it again
    CHECK_THROWS(la.compute(z.data(), k.target.data(), k.n, k.c), LK_ERROR_BAD_PARAM);
}

void test_move() {
    static_assert(!std::is_copy_constructible_v<losskit::Loss> && !std::is_copy_assignable_v<losskit::Loss>);
    static_assert(std::is_nothrow_move_constructible_v<losskit::Loss> &&
                  std::is_nothrow_move_assignable_v<losskit::Loss>);

    losskit::Loss a("cross_entropy", {{"label_smoothing", 0.3}});
    lk_loss* const handle = a.handle();
    CHECK(handle != nullptr);
    losskit::Loss b(std::move(a));
    CHECK(a.handle() == nullptr && a.name().empty()); // NOLINT(bugprone-use-after-move): moved-from is defined
    CHECK(b.handle() == handle && b.get("label_smoothing") == 0.3);

    losskit::Loss c("cross_entropy");
    c = std::move(b); // c's old handle is released, b's is taken
    CHECK(c.handle() == handle && b.handle() == nullptr);
    losskit::Loss& same = c; // via a reference: compilers reject a literal c = std::move(c)
    c = std::move(same);     // self-move keeps the handle
    CHECK(c.handle() == handle);

    // A moved-from Loss reaches the library as NULL, which reports it.
    const float z[2] = {0, 1};
    const int64_t y[1] = {0};
    CHECK_THROWS(a.compute(z, y, 1, 2), LK_ERROR_NULL_POINTER);
    CHECK_THROWS(a.get("label_smoothing"), LK_ERROR_NULL_POINTER);
    CHECK_THROWS(a.set("label_smoothing", 0.1), LK_ERROR_NULL_POINTER);
}

void test_simple_compute() {
    const Case k = small_case(5, 4, 11);
    const Expected e = reference(k);
    const std::vector<float> zf = cast<float>(k.logits);
    const std::vector<double> zd = k.logits;
    const std::vector<int32_t> y32 = cast<int32_t>(k.target);
    losskit::Loss ce("cross_entropy");

    std::vector<float> gf(zf.size());
    CHECK(near(ce.compute(zf.data(), k.target.data(), k.n, k.c, gf.data()), e.loss[0], kTolF));
    CHECK(near(gf, e.grad, kTolF));
    std::fill(gf.begin(), gf.end(), 0.0f);
    CHECK(near(ce.compute(zf.data(), y32.data(), k.n, k.c, gf.data()), e.loss[0], kTolF));
    CHECK(near(gf, e.grad, kTolF));

    std::vector<double> gd(zd.size());
    CHECK(near(ce.compute(zd.data(), k.target.data(), k.n, k.c, gd.data()), e.loss[0], kTolD));
    CHECK(near(gd, e.grad, kTolD));
    std::fill(gd.begin(), gd.end(), 0.0);
    CHECK(near(ce.compute(zd.data(), y32.data(), k.n, k.c, gd.data()), e.loss[0], kTolD));
    CHECK(near(gd, e.grad, kTolD));

    // Loss only (grad defaults to null) gives the same value.
    CHECK(near(ce.compute(zd.data(), k.target.data(), k.n, k.c), e.loss[0], kTolD));
    CHECK(near(ce.compute(zf.data(), y32.data(), k.n, k.c), e.loss[0], kTolF));
    // An empty batch (N = 0) is valid.
    CHECK(ce.compute(zf.data(), k.target.data(), 0, k.c) == 0.0f);
}

void test_batch_cases() {
    Case k = small_case(6, 5, 21);
    check_case("batch: plain mean", k);

    Case weighted = k;
    weighted.weight = {0.5, 2.0, 1.0, 0.0, 3.0};
    check_case("batch: class weights", weighted);

    Case smooth = k;
    smooth.smoothing = 0.2;
    check_case("batch: label smoothing", smooth);

    Case smooth_weighted = weighted;
    smooth_weighted.smoothing = 0.1;
    check_case("batch: label smoothing with class weights", smooth_weighted);

    Case z = k;
    z.z_loss = 1e-2;
    check_case("batch: z_loss", z);

    Case ignored = k;
    ignored.target[1] = LK_DEFAULT_IGNORE_INDEX;
    ignored.target[4] = LK_DEFAULT_IGNORE_INDEX;
    check_case("batch: default ignore_index", ignored);

    Case custom_ignore = weighted; // a valid class can be the ignored one, as in PyTorch
    custom_ignore.ignore_index = 3;
    custom_ignore.target[0] = 3;
    check_case("batch: custom ignore_index", custom_ignore);

    Case none = ignored;
    none.reduction = losskit::Reduction::none;
    check_case("batch: reduction none", none);
    none.dloss = {1.0, -2.0, 0.5, 3.0, 0.0, 0.25};
    check_case("batch: reduction none with dloss", none);

    Case sum = weighted;
    sum.reduction = losskit::Reduction::sum;
    check_case("batch: reduction sum", sum);
    sum.dloss = {-1.5};
    check_case("batch: reduction sum with dloss", sum);

    Case mean_dloss = smooth_weighted;
    mean_dloss.dloss = {0.75};
    check_case("batch: mean with dloss", mean_dloss);

    // (N, C, d): class axis second, one sample per (n, k).
    Case spatial;
    spatial.n = 3;
    spatial.c = 4;
    spatial.d = 5;
    spatial.logits = make_logits(3 * 4 * 5, 99);
    for (int64_t s = 0; s < 15; ++s) spatial.target.push_back((s * 5 + 1) % 4);
    spatial.target[7] = LK_DEFAULT_IGNORE_INDEX;
    spatial.weight = {1.0, 0.5, 2.0, 1.5};
    check_case("batch: (N, C, d) layout", spatial);
    spatial.reduction = losskit::Reduction::none;
    spatial.smoothing = 0.05;
    check_case("batch: (N, C, d) layout, reduction none, smoothing", spatial);

    // (N, C, d1, d2) is the same as (N, C, d1*d2) in memory.
    Case flat = spatial;
    flat.reduction = losskit::Reduction::mean;
    const std::vector<float> logits = cast<float>(flat.logits);
    float loss = 0;
    losskit::Batch b;
    b.shape({3, 4, 1, 5}).logits(logits.data()).target(flat.target.data()).loss(&loss);
    std::vector<float> w = cast<float>(flat.weight);
    b.weight(w.data());
    losskit::Loss("cross_entropy", {{"label_smoothing", 0.05}}).compute(b);
    CHECK(near(loss, reference(flat).loss[0], kTolF));
    CHECK(b.shape() == std::vector<int64_t>({3, 4, 1, 5}));
}

void test_int32_batch_and_probabilities() {
    // int32 targets through the builder.
    const Case k = small_case(4, 3, 5);
    const std::vector<float> z = cast<float>(k.logits);
    const std::vector<int32_t> y = cast<int32_t>(k.target);
    float loss = 0;
    losskit::Batch b;
    b.shape({k.n, k.c}).logits(z.data()).target(y.data()).loss(&loss);
    losskit::Loss("cross_entropy").compute(b);
    CHECK(near(loss, reference(k).loss[0], kTolF));

    // Probability targets in both float types.
    std::vector<double> q(k.logits.size());
    for (int64_t s = 0; s < k.n; ++s) {
        const double row[3] = {0.2, 0.5, 0.3};
        for (int64_t j = 0; j < k.c; ++j) q[static_cast<size_t>(s * k.c + j)] = row[(s + j) % 3];
    }
    const Expected e = reference_probabilities(k, q);
    const std::vector<float> qf = cast<float>(q);
    float lf = 0;
    std::vector<float> gf(z.size());
    losskit::Batch pf;
    pf.shape({k.n, k.c}).logits(z.data()).probabilities(qf.data()).loss(&lf).grad(gf.data());
    losskit::Loss("cross_entropy").compute(pf);
    CHECK(near(lf, e.loss[0], kTolF) && near(gf, e.grad, kTolF));

    double ld = 0;
    std::vector<double> gd(z.size());
    losskit::Batch pd;
    pd.shape({k.n, k.c}).logits(k.logits.data()).probabilities(q.data()).loss(&ld).grad(gd.data());
    losskit::Loss("cross_entropy").compute(pd);
    CHECK(near(ld, e.loss[0], kTolD) && near(gd, e.grad, kTolD));
}

void test_in_place() {
    const Case k = small_case(7, 6, 3);
    const Expected e = reference(k);
    losskit::Loss ce("cross_entropy");

    std::vector<float> buf = cast<float>(k.logits);
    CHECK(near(ce.compute(buf.data(), k.target.data(), k.n, k.c, buf.data()), e.loss[0], kTolF));
    CHECK(near(buf, e.grad, kTolF));

    std::vector<double> bd = k.logits;
    double loss = 0;
    losskit::Batch b;
    b.shape({k.n, k.c}).in_place(bd.data()).target(k.target.data()).loss(&loss);
    const lk_batch raw = b.c_batch();
    CHECK(raw.grad == raw.logits && raw.logits_dtype == LK_FLOAT64);
    ce.compute(b);
    CHECK(near(loss, e.loss[0], kTolD) && near(bd, e.grad, kTolD));

    std::vector<float> bf = cast<float>(k.logits);
    float lf = 0;
    losskit::Batch b2;
    b2.shape({k.n, k.c}).in_place(bf.data()).target(k.target.data()).loss(&lf);
    ce.compute(b2);
    CHECK(near(lf, e.loss[0], kTolF) && near(bf, e.grad, kTolF));

    // In place on an (N, C, d) layout, where rows are class-strided, with per-sample dloss.
    Case spatial;
    spatial.n = 2;
    spatial.c = 3;
    spatial.d = 4;
    spatial.logits = make_logits(2 * 3 * 4, 41);
    spatial.target = {0, 1, 2, 1, 2, 0, LK_DEFAULT_IGNORE_INDEX, 1};
    spatial.reduction = losskit::Reduction::none;
    spatial.dloss = {1, -1, 2, 0.5, 3, 1, 1, -2};
    const Expected es = reference(spatial);
    std::vector<double> zs = spatial.logits, ls(8);
    losskit::Batch bs;
    bs.shape({2, 3, 4}).in_place(zs.data()).target(spatial.target.data()).reduction(losskit::Reduction::none)
        .dloss(spatial.dloss.data()).loss(ls.data());
    ce.compute(bs);
    CHECK(near(ls, es.loss, kTolD) && near(zs, es.grad, kTolD));
}

void test_batch_fields() {
    // The builder's defaults are lk_batch_init's, and each setter lands in its field.
    losskit::Batch b;
    lk_batch raw = b.c_batch();
    CHECK(raw.struct_size == sizeof(lk_batch) && raw.ignore_index == LK_DEFAULT_IGNORE_INDEX &&
          raw.reduction == LK_REDUCTION_MEAN && raw.shape == nullptr && raw.ndim == 0);
    const double z[2] = {0, 0}, w[2] = {1, 1}, dl[1] = {1};
    const int64_t y[1] = {0};
    double loss = 0, grad[2] = {0, 0};
    b.shape({1, 2}).logits(z).target(y).weight(w).ignore_index(-1).reduction(losskit::Reduction::sum).dloss(dl)
        .loss(&loss).grad(grad);
    raw = b.c_batch();
    CHECK(raw.ndim == 2 && raw.shape[0] == 1 && raw.shape[1] == 2);
    CHECK(raw.logits == z && raw.logits_dtype == LK_FLOAT64 && raw.target == y && raw.target_dtype == LK_INT64);
    CHECK(raw.weight == w && raw.ignore_index == -1 && raw.reduction == LK_REDUCTION_SUM && raw.dloss == dl);
    CHECK(raw.loss == &loss && raw.grad == grad);
    b.weight(nullptr).dloss(nullptr).grad(nullptr).logits(z, LK_FLOAT64).target(w, LK_FLOAT64);
    raw = b.c_batch();
    CHECK(raw.weight == nullptr && raw.dloss == nullptr && raw.grad == nullptr && raw.target_dtype == LK_FLOAT64);
    b.raw().reserved0 = 5;
    CHECK(b.c_batch().reserved0 == 5);
}

void test_errors() {
    losskit::Loss ce("cross_entropy");
    const Case k = small_case(3, 4, 8);
    std::vector<float> z = cast<float>(k.logits);
    std::vector<int64_t> y = k.target;
    const float sentinel = 123.0f;
    std::vector<float> grad(z.size(), sentinel);
    float loss = sentinel;
    auto untouched = [&] {
        return loss == sentinel && std::all_of(grad.begin(), grad.end(), [&](float g) { return g == sentinel; });
    };
    auto batch = [&] {
        losskit::Batch b;
        b.shape({k.n, k.c}).logits(z.data()).target(y.data()).loss(&loss).grad(grad.data());
        return b;
    };

    // Target out of range: refused, and nothing written.
    y[1] = k.c;
    CHECK_THROWS(ce.compute(batch()), LK_ERROR_TARGET_OUT_OF_RANGE);
    CHECK_THROWS(ce.compute(z.data(), y.data(), k.n, k.c, grad.data()), LK_ERROR_TARGET_OUT_OF_RANGE);
    y[1] = -1;
    CHECK_THROWS(ce.compute(batch()), LK_ERROR_TARGET_OUT_OF_RANGE);
    CHECK(untouched());
    y = k.target;

    // NaN logit: refused under the default policy; flows through under "propagate".
    z[5] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS(ce.compute(batch()), LK_ERROR_NONFINITE_LOGIT);
    z[5] = std::numeric_limits<float>::infinity();
    CHECK_THROWS(ce.compute(batch()), LK_ERROR_NONFINITE_LOGIT);
    CHECK(untouched());
    z[5] = std::numeric_limits<float>::quiet_NaN();
    losskit::Loss lenient("cross_entropy", {{"nan_policy", "propagate"}});
    const float nan_loss = lenient.compute(z.data(), y.data(), k.n, k.c);
    CHECK(std::isnan(nan_loss));
    z = cast<float>(k.logits);

    // Structural errors, one per status the builder can reach.
    losskit::Batch b = batch();
    CHECK_THROWS(ce.compute(b.shape({k.n, 0})), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(b.shape({k.n})), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(b.shape({k.n, -k.c})), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(b.shape(std::vector<int64_t>(LK_MAX_NDIM + 1, 1))), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(b.shape({INT64_MAX / 2, 4})), LK_ERROR_SIZE_OVERFLOW);
    b.shape({k.n, k.c});

    CHECK_THROWS(ce.compute(batch().logits(z.data(), LK_INT32)), LK_ERROR_BAD_DTYPE);
    CHECK_THROWS(ce.compute(batch().target(y.data(), LK_FLOAT64)), LK_ERROR_BAD_DTYPE); // float32 logits
    CHECK_THROWS(ce.compute(batch().loss(nullptr)), LK_ERROR_NULL_POINTER);
    CHECK_THROWS(ce.compute(batch().target(static_cast<const int64_t*>(nullptr))), LK_ERROR_NULL_POINTER);

    const std::vector<float> bad_weight = {1, -1, 1, 1};
    CHECK_THROWS(ce.compute(batch().weight(bad_weight.data())), LK_ERROR_BAD_WEIGHT);
    const float bad_dloss = std::numeric_limits<float>::infinity();
    CHECK_THROWS(ce.compute(batch().dloss(&bad_dloss)), LK_ERROR_BAD_DLOSS);
    const std::vector<float> bad_q(z.size(), 0.5f); // rows sum to 2
    CHECK_THROWS(ce.compute(batch().probabilities(bad_q.data())), LK_ERROR_BAD_PROBABILITIES);

    losskit::Batch bad_reduction = batch();
    bad_reduction.raw().reduction = 7;
    CHECK_THROWS(ce.compute(bad_reduction), LK_ERROR_BAD_REDUCTION);
    losskit::Batch bad_struct = batch();
    bad_struct.raw().reserved0 = 1;
    CHECK_THROWS(ce.compute(bad_struct), LK_ERROR_BAD_STRUCT);

    CHECK_THROWS(ce.compute(batch().loss(z.data() + 2)), LK_ERROR_ALIASING); // loss inside the logits
    CHECK_THROWS(ce.compute(batch().grad(z.data() + 1)), LK_ERROR_ALIASING); // overlapping, not equal
    std::vector<unsigned char> bytes(sizeof(float) * (z.size() + 1));
    std::memcpy(bytes.data() + 1, z.data(), sizeof(float) * z.size());
    CHECK_THROWS(ce.compute(batch().logits(bytes.data() + 1, LK_FLOAT32)), LK_ERROR_MISALIGNED);
    CHECK(untouched());
}

// ------------------------------------------------- user losses, plugins, mixes

/// The example plugin (examples/plugins), built by run.sh and passed as the first argument.
const char* g_plugin_path = nullptr;

/// Runs `k` through `loss` in element type F with int64 targets; with progress >= 0 through
/// compute_at. Returns (loss, grad).
template <class F>
std::pair<std::vector<F>, std::vector<F>> run_with(const losskit::Loss& loss, const Case& k, double progress = -1) {
    const std::vector<F> logits = cast<F>(k.logits), weight = cast<F>(k.weight), dloss = cast<F>(k.dloss);
    std::vector<F> out(k.reduction == losskit::Reduction::none ? k.target.size() : 1);
    std::vector<F> grad(logits.size());
    std::vector<int64_t> shape = {k.n, k.c};
    if (k.d != 1) shape.push_back(k.d);
    losskit::Batch b;
    b.shape(shape).logits(logits.data()).target(k.target.data()).ignore_index(k.ignore_index)
        .reduction(k.reduction).loss(out.data()).grad(grad.data());
    if (!weight.empty()) b.weight(weight.data());
    if (!dloss.empty()) b.dloss(dloss.data());
    if (progress >= 0) loss.compute_at(b, progress);
    else loss.compute(b);
    return {out, grad};
}

/// True when `loss` matches the reference for `k` in float32 and float64.
bool matches_reference(const losskit::Loss& loss, const Case& k, const Expected& e) {
    const auto [loss_f, grad_f] = run_with<float>(loss, k);
    const auto [loss_d, grad_d] = run_with<double>(loss, k);
    return near(loss_f, e.loss, kTolF) && near(grad_f, e.grad, kTolF) && near(loss_d, e.loss, kTolD) &&
           near(grad_d, e.grad, kTolD);
}

/// The cases a user cross-entropy must get right: weights, ignored samples, reductions, dloss, (N, C, d).
std::vector<Case> user_loss_cases() {
    std::vector<Case> cases;
    Case k = small_case(6, 5, 23);
    cases.push_back(k);
    k.weight = {0.5, 2.0, 1.0, 0.0, 3.0};
    k.target[2] = LK_DEFAULT_IGNORE_INDEX;
    cases.push_back(k);
    k.reduction = losskit::Reduction::none;
    k.dloss = {1.0, -2.0, 0.5, 3.0, 0.0, 0.25};
    cases.push_back(k);
    k.reduction = losskit::Reduction::sum;
    k.dloss = {-1.5};
    cases.push_back(k);
    Case spatial;
    spatial.n = 2;
    spatial.c = 3;
    spatial.d = 4;
    spatial.logits = make_logits(2 * 3 * 4, 77);
    spatial.target = {0, 1, 2, 1, 2, 0, LK_DEFAULT_IGNORE_INDEX, 1};
    cases.push_back(spatial);
    return cases;
}

/// Softmax cross-entropy of one row, max-subtracted, in plain C++ (what a user would write).
double cross_entropy_row(const double* z, int64_t classes, int64_t target, double* grad) {
    const double m = *std::max_element(z, z + classes);
    double sum = 0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(z[j] - m);
    const double lse = m + std::log(sum);
    for (int64_t j = 0; j < classes; ++j) grad[j] = std::exp(z[j] - lse) - (j == target ? 1.0 : 0.0);
    return lse - z[target];
}

bool registered(const std::string& name) {
    const std::vector<std::string> names = losskit::losses();
    return std::find(names.begin(), names.end(), name) != names.end();
}

void test_register_loss() {
    auto calls = std::make_shared<std::atomic<long>>(0);
    losskit::register_loss("cpp_ce", [calls](const double* z, int64_t c, int64_t y, double* g) {
        ++*calls;
        return cross_entropy_row(z, c, y, g);
    });
    CHECK(registered("cpp_ce"));
    CHECK(calls.use_count() == 2); // the library keeps the lambda, captures included
    losskit::Loss user("cpp_ce");
    CHECK(user.name() == "cpp_ce");
    for (const Case& k : user_loss_cases()) CHECK(matches_reference(user, k, reference(k)));
    CHECK(*calls > 0);

    // Refused registrations: the error, and the refused lambda's captures released at once.
    auto probe = std::make_shared<int>(0);
    auto zero = [probe](const double*, int64_t, int64_t, double*) { return 0.0; };
    CHECK_THROWS(losskit::register_loss("cpp_ce", zero), LK_ERROR_DUPLICATE_NAME);
    CHECK_THROWS(losskit::register_loss("cross_entropy", zero), LK_ERROR_DUPLICATE_NAME);
    CHECK_THROWS(losskit::register_loss("bad name", zero), LK_ERROR_BAD_NAME);
    CHECK_THROWS(losskit::register_loss("", zero), LK_ERROR_BAD_NAME);
    CHECK_THROWS(losskit::register_loss(std::string(64, 'a'), zero), LK_ERROR_BAD_NAME);
    CHECK_THROWS(losskit::register_loss("cpp_empty", losskit::RowLossFunction()), LK_ERROR_NULL_POINTER);
    CHECK(probe.use_count() == 2); // only `zero` holds it
    CHECK(!registered("cpp_empty"));

    // Unregistered while a Loss made from it lives: that Loss keeps working, then lets go.
    losskit::unregister_loss("cpp_ce");
    CHECK(!registered("cpp_ce"));
    CHECK_THROWS(losskit::Loss("cpp_ce"), LK_ERROR_UNKNOWN_LOSS);
    CHECK_THROWS(losskit::unregister_loss("cpp_ce"), LK_ERROR_UNKNOWN_LOSS);
    CHECK(calls.use_count() == 2);
    const Case k = small_case(4, 3, 29);
    CHECK(matches_reference(user, k, reference(k)));
    { losskit::Loss last = std::move(user); }
    CHECK(calls.use_count() == 1); // the library deleted its copy exactly when the last user went
}

void test_register_loss_failures() {
    // An exception thrown in the lambda never crosses the C ABI: compute throws losskit::error
    // with the exception's what() as its message, and writes nothing.
    losskit::register_loss("cpp_throws", [](const double* z, int64_t c, int64_t y, double* g) -> double {
        if (y == 2) throw std::runtime_error("cpp_throws: class 2 is refused");
        return cross_entropy_row(z, c, y, g);
    });
    const losskit::Loss thrower("cpp_throws");
    const Case k = small_case(6, 4, 5); // has targets 2
    std::vector<double> grad(k.logits.size(), 123.0);
    double loss = 123.0;
    losskit::Batch b;
    b.shape({k.n, k.c}).logits(k.logits.data()).target(k.target.data()).loss(&loss).grad(grad.data());
    CHECK_THROWS(thrower.compute(b), LK_ERROR_CALLBACK_FAILED);
    try {
        thrower.compute(b);
    } catch (const losskit::error& e) {
        CHECK(e.message() == "cpp_throws: class 2 is refused");
    }
    CHECK(loss == 123.0 && std::all_of(grad.begin(), grad.end(), [](double g) { return g == 123.0; }));

    // The same on worker threads (thread_safe, a batch split across threads).
    losskit::register_loss(
        "cpp_throws_parallel",
        [](const double* z, int64_t c, int64_t y, double* g) -> double {
            if (y == 2) throw std::invalid_argument("cpp_throws_parallel: class 2 is refused");
            return cross_entropy_row(z, c, y, g);
        },
        true);
    Case big = small_case(40000, 3, 6);
    for (size_t i = 0; i < big.target.size(); ++i) big.target[i] = i + 3 == big.target.size() ? 2 : 0;
    losskit::set_num_threads(4);
    try {
        (void)run_with<double>(losskit::Loss("cpp_throws_parallel"), big);
        CHECK(false);
    } catch (const losskit::error& e) {
        CHECK(e.status() == LK_ERROR_CALLBACK_FAILED && e.message() == "cpp_throws_parallel: class 2 is refused");
    }
    losskit::set_num_threads(0);

    // Something that is not a std::exception, a NaN loss, and a losskit::error from a nested call.
    losskit::register_loss("cpp_throws_int", [](const double*, int64_t, int64_t, double*) -> double { throw 42; });
    CHECK_THROWS(run_with<float>(losskit::Loss("cpp_throws_int"), k), LK_ERROR_CALLBACK_FAILED);
    losskit::register_loss("cpp_nan", [](const double*, int64_t, int64_t, double*) { return std::nan(""); });
    CHECK_THROWS(run_with<double>(losskit::Loss("cpp_nan"), k), LK_ERROR_CALLBACK_FAILED);
    losskit::register_loss("cpp_nested", [](const double*, int64_t, int64_t, double*) -> double {
        losskit::Loss missing("no_such_loss"); // throws losskit::error inside the callback
        return 0;
    });
    try {
        (void)run_with<double>(losskit::Loss("cpp_nested"), k);
        CHECK(false);
    } catch (const losskit::error& e) {
        CHECK(e.status() == LK_ERROR_CALLBACK_FAILED);
        CHECK(e.message().rfind(lk_status_string(LK_ERROR_UNKNOWN_LOSS), 0) == 0); // the inner what()
    }
    for (const char* name : {"cpp_throws", "cpp_throws_parallel", "cpp_throws_int", "cpp_nan", "cpp_nested"})
        losskit::unregister_loss(name);
}

void test_thread_safe_lambda() {
    // Both flags give the reference result on a batch the library splits across threads.
    const Case k = small_case(20000, 7, 8);
    const Expected e = reference(k);
    losskit::set_num_threads(4);
    for (const bool thread_safe : {false, true}) {
        const std::string name = thread_safe ? "cpp_ce_parallel" : "cpp_ce_serial";
        losskit::register_loss(name, cross_entropy_row, thread_safe); // a plain function works too
        CHECK(matches_reference(losskit::Loss(name), k, e));
        losskit::unregister_loss(name);
    }
    losskit::set_num_threads(0);
}

void test_load_plugin() {
    if (!g_plugin_path) {
        record(false, "the example plugin's path (argument 1, given by run.sh)", __FILE__, __LINE__);
        return;
    }
    CHECK_THROWS(losskit::load_plugin("/nonexistent/libnothing.so"), LK_ERROR_PLUGIN);
    losskit::load_plugin(g_plugin_path);
    CHECK(registered("plugin_ce") && registered("plugin_mean_ce"));
    const losskit::Loss row("plugin_ce"), whole("plugin_mean_ce");
    for (const Case& k : user_loss_cases()) {
        const Expected e = reference(k);
        CHECK(matches_reference(row, k, e));
        if (k.reduction == losskit::Reduction::mean) CHECK(matches_reference(whole, k, e));
        else CHECK_THROWS(run_with<double>(whole, k), LK_ERROR_BAD_REDUCTION); // a whole-batch loss is mean only
    }
    CHECK_THROWS(losskit::load_plugin(g_plugin_path), LK_ERROR_PLUGIN); // its names are taken now
    const Case k = small_case(3, 4, 9);
    CHECK(matches_reference(row, k, reference(k))); // ...and the first load's losses still work
}

void test_mix() {
    losskit::Loss ce("cross_entropy"), smooth("cross_entropy", {{"label_smoothing", 0.2}});
    Case plain = small_case(6, 5, 31);
    plain.weight = {1.0, 0.5, 2.0, 1.5, 1.0};
    plain.target[3] = LK_DEFAULT_IGNORE_INDEX;
    Case smoothed = plain;
    smoothed.smoothing = 0.2;
    const Expected a = reference(plain), b = reference(smoothed);
    auto blend = [&](double wa, double wb) {
        Expected e = a;
        for (size_t i = 0; i < e.loss.size(); ++i) e.loss[i] = wa * a.loss[i] + wb * b.loss[i];
        for (size_t i = 0; i < e.grad.size(); ++i) e.grad[i] = wa * a.grad[i] + wb * b.grad[i];
        return e;
    };

    // (1 - t)·CE + t·CE_smoothed, t from compute_at or from the "progress" parameter.
    losskit::Loss m = losskit::Loss::mix({&ce, &smooth});
    m.set("w0_schedule", "linear");
    m.set("w0_start", 1);
    m.set("w0_end", 0);
    m.set("w1_schedule", "linear");
    m.set("w1_start", 0);
    m.set("w1_end", 1);
    for (const double t : {0.0, 0.5, 1.0}) {
        const Expected e = blend(1 - t, t);
        const auto [lf, gf] = run_with<float>(m, plain, t);
        const auto [ld, gd] = run_with<double>(m, plain, t);
        CHECK(near(lf, e.loss, kTolF) && near(gf, e.grad, kTolF) && near(ld, e.loss, kTolD) && near(gd, e.grad, kTolD));
        m.set("progress", t);
        CHECK(matches_reference(m, plain, e));
    }
    m.set("progress", 0.25);
    CHECK(m.get("progress") == 0.25);
    CHECK(matches_reference(m, plain, blend(0.75, 0.25)));
    CHECK_THROWS(run_with<double>(m, plain, 1.5), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(m.set("w0", -1), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(m.set("w2", 1), LK_ERROR_UNKNOWN_PARAM);

    // The free function, constant weights, and a mix of a mix; components may go first.
    losskit::Loss nested = [&] {
        losskit::Loss c1("cross_entropy"), c2("cross_entropy", {{"label_smoothing", 0.2}});
        losskit::Loss inner = losskit::mix({&c1, &c2});
        inner.set("w0", 0.5);
        inner.set("w1", 0.5);
        losskit::Loss outer = losskit::mix({&inner, &c1});
        outer.set("w0", 2);
        return outer; // 2·(0.5·CE + 0.5·CE_smoothed) + CE
    }();
    CHECK(matches_reference(nested, plain, blend(2.0, 1.0)));

    // A mix of a C++ lambda loss and (if loaded) the plugin's loss: (1 - t)·CE + t·CE == CE.
    losskit::register_loss("cpp_ce_for_mix", cross_entropy_row, true);
    const losskit::Loss lambda_loss("cpp_ce_for_mix");
    const losskit::Loss other = registered("plugin_ce") ? losskit::Loss("plugin_ce") : losskit::Loss("cross_entropy");
    losskit::Loss user_mix = losskit::mix({&lambda_loss, &other});
    user_mix.set("w0_schedule", "cosine");
    user_mix.set("w0_start", 1);
    user_mix.set("w0_end", 0);
    user_mix.set("w1_schedule", "cosine");
    user_mix.set("w1_start", 0);
    user_mix.set("w1_end", 1);
    const auto [lu, gu] = run_with<double>(user_mix, plain, 0.3);
    CHECK(near(lu, a.loss, kTolD) && near(gu, a.grad, kTolD));
    losskit::unregister_loss("cpp_ce_for_mix");

    // A throwing component: the mix fails with its message and writes nothing.
    losskit::register_loss("cpp_throws_in_mix", [](const double*, int64_t, int64_t, double*) -> double {
        throw std::runtime_error("cpp_throws_in_mix: no");
    });
    const losskit::Loss thrower("cpp_throws_in_mix");
    const losskit::Loss failing = losskit::Loss::mix({&ce, &thrower});
    double loss = 7.0;
    losskit::Batch bad;
    bad.shape({plain.n, plain.c}).logits(plain.logits.data()).target(plain.target.data()).loss(&loss);
    try {
        failing.compute_at(bad, 0.5);
        CHECK(false);
    } catch (const losskit::error& e) {
        CHECK(e.status() == LK_ERROR_CALLBACK_FAILED && e.message() == "cpp_throws_in_mix: no");
    }
    CHECK(loss == 7.0);
    losskit::unregister_loss("cpp_throws_in_mix");

    // Refused mixes.
    CHECK_THROWS(losskit::Loss::mix({}), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(losskit::Loss::mix(std::vector<const losskit::Loss*>{}), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(losskit::mix({&ce, nullptr}), LK_ERROR_NULL_POINTER);
    losskit::Loss moved("cross_entropy");
    losskit::Loss taker(std::move(moved));
    CHECK_THROWS(losskit::mix({&moved}), LK_ERROR_NULL_POINTER); // NOLINT(bugprone-use-after-move)

    // compute_at on any loss: progress must lie in [0, 1].
    const double z[2] = {0.5, -0.5};
    const int64_t y[1] = {1};
    double out = 0;
    losskit::Batch valid;
    valid.shape({1, 2}).logits(z).target(y).loss(&out);
    ce.compute_at(valid, 1.0);
    CHECK(out > 0);
    CHECK_THROWS(ce.compute_at(valid, -0.5), LK_ERROR_BAD_PARAM);
    CHECK_THROWS(ce.compute_at(valid, std::nan("")), LK_ERROR_BAD_PARAM);
}

#if __cplusplus >= 202002L
void test_span() {
    const Case k = small_case(6, 3, 17);
    const Expected e = reference(k);
    losskit::Loss ce("cross_entropy");
    std::vector<float> zf = cast<float>(k.logits);
    std::vector<float> gf(zf.size());
    CHECK(near(ce.compute(zf, k.target, k.c, gf), e.loss[0], kTolF)); // vectors convert to spans
    CHECK(near(gf, e.grad, kTolF));
    const std::vector<int32_t> y32 = cast<int32_t>(k.target);
    CHECK(near(ce.compute(std::span<const float>(zf), std::span<const int32_t>(y32), k.c), e.loss[0], kTolF));
    std::vector<double> gd(k.logits.size());
    CHECK(near(ce.compute(k.logits, k.target, k.c, gd), e.loss[0], kTolD) && near(gd, e.grad, kTolD));
    CHECK(near(ce.compute(k.logits, y32, k.c), e.loss[0], kTolD));

    // Length mismatches are caught before the library is called.
    CHECK_THROWS(ce.compute(zf, std::span<const int64_t>(k.target).first(5), k.c), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(zf, k.target, k.c, std::span<float>(gf).first(4)), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(zf, k.target, 4), LK_ERROR_BAD_SHAPE);
    CHECK_THROWS(ce.compute(zf, k.target, 0), LK_ERROR_BAD_SHAPE); // the library's own check

    std::vector<float> buf = cast<float>(k.logits); // in place through spans
    CHECK(near(ce.compute(buf, k.target, k.c, buf), e.loss[0], kTolF) && near(buf, e.grad, kTolF));
}
#endif

} // namespace

int main(int argc, char** argv) {
    if (argc > 1) g_plugin_path = argv[1];
    const struct {
        const char* name;
        void (*run)();
    } tests[] = {
        {"version_and_registry", test_version_and_registry},
        {"threads", test_threads},
        {"error_type", test_error_type},
        {"params", test_params},
        {"vector_params", test_vector_params},
        {"move", test_move},
        {"simple_compute", test_simple_compute},
        {"batch_cases", test_batch_cases},
        {"int32_batch_and_probabilities", test_int32_batch_and_probabilities},
        {"in_place", test_in_place},
        {"batch_fields", test_batch_fields},
        {"errors", test_errors},
        {"register_loss", test_register_loss},
        {"register_loss_failures", test_register_loss_failures},
        {"thread_safe_lambda", test_thread_safe_lambda},
        {"load_plugin", test_load_plugin},
        {"mix", test_mix},
#if __cplusplus >= 202002L
        {"span", test_span},
#endif
    };
    for (const auto& t : tests) {
        const int failed_before = g_failed;
        try {
            t.run();
        } catch (const std::exception& e) { // an unexpected throw fails the test group, not the run
            record(false, e.what(), t.name, 0);
        }
        std::printf("%-32s %s\n", t.name, g_failed == failed_before ? "ok" : "FAILED");
    }
    std::printf("(C++ standard %ld)\n%d passed, %d failed\n", static_cast<long>(__cplusplus), g_passed, g_failed);
    return (g_failed == 0 && g_passed > 0) ? 0 : 1;
}
