// losskit.hpp — header-only C++17 wrapper over the C contract in losskit.h.
//
// The wrapper only moves pointers and statuses across the C ABI: every loss
// value, gradient, default and validation rule comes from liblosskit. Nothing
// here knows about a particular loss; parameters are passed by name.
//
// Link with: -L<dir> -llosskit -Wl,-rpath,<dir>
#ifndef LOSSKIT_HPP
#define LOSSKIT_HPP

#include "losskit.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#if __cplusplus >= 202002L
#include <span>
#endif

namespace losskit {

/// A failed library call: the lk_status and the library's own message.
/// what() is "<lk_status_string(status)>: <message>".
class error : public std::runtime_error {
public:
    /// Wraps `status` with `message` (normally lk_last_error_message()).
    error(lk_status status, const std::string& message)
        : std::runtime_error(std::string(lk_status_string(status)) + ": " + message),
          status_(status), message_(message) {}

    /// The status the library returned.
    lk_status status() const noexcept { return status_; }

    /// The library's message alone, without the status prefix.
    const std::string& message() const noexcept { return message_; }

private:
    lk_status status_;
    std::string message_;
};

namespace detail {

/// Throws losskit::error unless `status` is LK_OK. The message must be read
/// right away: it is only valid until the next losskit call on this thread.
inline void check(lk_status status) {
    if (status != LK_OK) throw error(status, lk_last_error_message());
}

} // namespace detail

/// The library's version string, "MAJOR.MINOR.PATCH" (may differ from LK_VERSION_STRING
/// if the header and the loaded library disagree).
inline std::string version() { return lk_version(); }

/// The library's version number (MAJOR*10000 + MINOR*100 + PATCH).
inline std::uint32_t version_number() { return lk_version_number(); }

/// Names of every registered loss, in the library's order.
inline std::vector<std::string> losses() {
    std::vector<std::string> names;
    const std::int64_t count = lk_loss_count();
    for (std::int64_t i = 0; i < count; ++i) {
        // NULL cannot happen for an index below the count; skip it rather than crash if it does.
        if (const char* name = lk_loss_name_at(i)) names.emplace_back(name);
    }
    return names;
}

/// Use at most `count` threads per compute call (0 = one per CPU, the default).
/// Throws losskit::error (LK_ERROR_BAD_PARAM) when count is negative.
inline void set_num_threads(int count) { detail::check(lk_set_num_threads(static_cast<std::int32_t>(count))); }

/// The thread limit set by set_num_threads (0 = one per CPU).
inline int num_threads() { return static_cast<int>(lk_get_num_threads()); }

/// How per-sample losses are combined; values are the C enum's.
enum class Reduction : std::int32_t {
    mean = LK_REDUCTION_MEAN, ///< weighted mean over samples not ignored (the default)
    sum = LK_REDUCTION_SUM,   ///< sum over samples
    none = LK_REDUCTION_NONE  ///< one loss per sample, shape (N, d1..dk)
};

/// One named loss parameter with a numeric, text or vector value, e.g. {"label_smoothing", 0.1},
/// {"nan_policy", "propagate"} or {"priors", {0.7, 0.3}}. Which names and values are valid is
/// the library's call.
class Param {
public:
    /// A numeric parameter.
    Param(std::string name, double value) : name_(std::move(name)), value_(value) {}

    /// A numeric parameter given as any arithmetic type (so {"z_loss", 1} works).
    template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
    Param(std::string name, T value) : Param(std::move(name), static_cast<double>(value)) {}

    /// A text parameter.
    Param(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}

    /// A text parameter from a literal (otherwise a literal would pick the deleted bool overload).
    Param(std::string name, const char* value) : Param(std::move(name), std::string(value)) {}

    /// A vector parameter (e.g. per-class values).
    Param(std::string name, std::vector<double> values) : name_(std::move(name)), value_(std::move(values)) {}

    /// A vector parameter from a braced list, {"priors", {0.7, 0.3}} (a list alone would be
    /// ambiguous between std::string and std::vector).
    Param(std::string name, std::initializer_list<double> values)
        : Param(std::move(name), std::vector<double>(values)) {}

    /// Booleans are not a parameter kind of the C API; refuse them at compile time.
    Param(std::string name, bool value) = delete;

    /// The parameter's name.
    const std::string& name() const noexcept { return name_; }

    /// True when the value is a single number.
    bool is_number() const noexcept { return std::holds_alternative<double>(value_); }

    /// True when the value is text.
    bool is_text() const noexcept { return std::holds_alternative<std::string>(value_); }

    /// True when the value is a vector of numbers.
    bool is_vector() const noexcept { return std::holds_alternative<std::vector<double>>(value_); }

    /// The numeric value; throws std::bad_variant_access for any other kind.
    double number() const { return std::get<double>(value_); }

    /// The text value; throws std::bad_variant_access for any other kind.
    const std::string& text() const { return std::get<std::string>(value_); }

    /// The vector value; throws std::bad_variant_access for any other kind.
    const std::vector<double>& vector() const { return std::get<std::vector<double>>(value_); }

private:
    std::string name_;
    std::variant<double, std::string, std::vector<double>> value_;
};

/// Everything one lk_loss_compute call reads and writes, built fluently:
///
///     losskit::Batch b;
///     b.shape({n, c}).logits(z).target(y).loss(&out).grad(g);
///     ce.compute(b);
///
/// Typed setters fill in the matching dtype field. Buffers are borrowed, never
/// copied or owned: they must outlive the compute call. Validation (shapes,
/// dtypes, aliasing, ...) is left entirely to the library.
class Batch {
public:
    /// Starts from lk_batch_init's defaults (mean reduction, ignore_index -100, no buffers).
    Batch() { lk_batch_init(&raw_); }

    /// Axis sizes (N, C) or (N, C, d1..dk) with the class axis second, C-contiguous.
    Batch& shape(std::vector<std::int64_t> sizes) {
        shape_ = std::move(sizes);
        return *this;
    }
    /// The shape as last set.
    const std::vector<std::int64_t>& shape() const noexcept { return shape_; }

    /// float32 logits (sets logits_dtype).
    Batch& logits(const float* values) { return logits(values, LK_FLOAT32); }
    /// float64 logits (sets logits_dtype).
    Batch& logits(const double* values) { return logits(values, LK_FLOAT64); }
    /// Logits of an explicit dtype code (for buffers typed elsewhere).
    Batch& logits(const void* values, lk_dtype dtype) {
        raw_.logits = values;
        raw_.logits_dtype = static_cast<std::int32_t>(dtype);
        return *this;
    }

    /// int32 class-index targets, shape (N, d1..dk).
    Batch& target(const std::int32_t* classes) { return target(classes, LK_INT32); }
    /// int64 class-index targets, shape (N, d1..dk).
    Batch& target(const std::int64_t* classes) { return target(classes, LK_INT64); }
    /// Targets of an explicit dtype code: an index type, or the logits' float type for probabilities.
    Batch& target(const void* values, lk_dtype dtype) {
        raw_.target = values;
        raw_.target_dtype = static_cast<std::int32_t>(dtype);
        return *this;
    }

    /// float32 probability targets, the logits' shape.
    Batch& probabilities(const float* values) { return target(values, LK_FLOAT32); }
    /// float64 probability targets, the logits' shape.
    Batch& probabilities(const double* values) { return target(values, LK_FLOAT64); }

    /// C class weights in the logits' type; nullptr = all 1.
    Batch& weight(const void* values) {
        raw_.weight = values;
        return *this;
    }

    /// Class-index targets equal to this contribute nothing (default LK_DEFAULT_IGNORE_INDEX).
    Batch& ignore_index(std::int64_t index) {
        raw_.ignore_index = index;
        return *this;
    }

    /// How per-sample losses are combined (default Reduction::mean).
    Batch& reduction(Reduction r) {
        raw_.reduction = static_cast<std::int32_t>(r);
        return *this;
    }

    /// Upstream gradient in the logits' type: 1 value for mean/sum, S for none; nullptr = 1.
    Batch& dloss(const void* values) {
        raw_.dloss = values;
        return *this;
    }

    /// Required loss output in the logits' type: 1 value for mean/sum, S for none.
    Batch& loss(void* out) {
        raw_.loss = out;
        return *this;
    }

    /// Optional gradient output, shape and type of the logits; nullptr = loss only.
    Batch& grad(void* out) {
        raw_.grad = out;
        return *this;
    }

    /// In place: the gradient overwrites the logits it is computed from.
    Batch& in_place(float* logits_and_grad) {
        logits(logits_and_grad);
        return grad(logits_and_grad);
    }
    /// In place for float64 logits.
    Batch& in_place(double* logits_and_grad) {
        logits(logits_and_grad);
        return grad(logits_and_grad);
    }

    /// Direct access to the underlying struct, for fields without a setter (e.g. reserved0).
    /// Its shape/ndim are ignored: c_batch() takes them from shape().
    lk_batch& raw() noexcept { return raw_; }

    /// The lk_batch to pass to the C API; its shape points into this Batch, so it is
    /// valid only while this Batch lives and its shape is unchanged.
    lk_batch c_batch() const noexcept {
        lk_batch b = raw_;
        b.shape = shape_.empty() ? nullptr : shape_.data();
        // An absurd length is clamped into int32 so the library reports it as a bad ndim.
        b.ndim = shape_.size() > static_cast<std::size_t>(INT32_MAX) ? INT32_MAX
                                                                    : static_cast<std::int32_t>(shape_.size());
        return b;
    }

private:
    lk_batch raw_;
    std::vector<std::int64_t> shape_;
};

/// A registered loss with its parameter values (RAII over lk_loss*, move-only).
/// compute() may run concurrently on one Loss; set() must not overlap a compute.
class Loss {
public:
    /// Creates the loss registered as `name` with its default parameters.
    /// Throws losskit::error (LK_ERROR_UNKNOWN_LOSS) for an unregistered name.
    explicit Loss(const std::string& name) { detail::check(lk_loss_create(name.c_str(), &handle_)); }

    /// Creates the loss and sets each parameter in order, e.g.
    /// Loss("cross_entropy", {{"label_smoothing", 0.1}, {"nan_policy", "propagate"}}).
    /// Throws losskit::error from the creation or from the first parameter refused.
    Loss(const std::string& name, std::initializer_list<Param> params) : Loss(name) {
        for (const Param& p : params) set(p);
    }

    /// Takes over `other`'s handle; `other` is left empty.
    Loss(Loss&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

    /// Releases this handle and takes over `other`'s; `other` is left empty.
    Loss& operator=(Loss&& other) noexcept {
        if (this != &other) {
            lk_loss_destroy(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }

    Loss(const Loss&) = delete;            ///< A handle has one owner.
    Loss& operator=(const Loss&) = delete; ///< A handle has one owner.

    /// Releases the handle (lk_loss_destroy accepts NULL, so moved-from is fine).
    ~Loss() { lk_loss_destroy(handle_); }

    /// Sets a numeric parameter. Throws losskit::error (UNKNOWN_PARAM, BAD_PARAM);
    /// on error the previous value is kept.
    void set(const std::string& name, double value) {
        detail::check(lk_loss_set_param(handle_, name.c_str(), value));
    }

    /// Sets a text parameter. Throws losskit::error (UNKNOWN_PARAM, BAD_PARAM).
    void set(const std::string& name, const std::string& value) {
        detail::check(lk_loss_set_param_string(handle_, name.c_str(), value.c_str()));
    }

    /// Sets a numeric parameter given as any arithmetic type (so set("z_loss", 1) works).
    template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
    void set(const std::string& name, T value) {
        set(name, static_cast<double>(value));
    }

    /// Booleans are not a parameter kind of the C API; refuse them at compile time.
    void set(const std::string& name, bool value) = delete;

    /// Sets a text parameter from a literal (otherwise a literal would pick the deleted bool overload).
    void set(const std::string& name, const char* value) { set(name, std::string(value)); }

    /// Sets a vector parameter from `count` doubles, copied by the library (count 0 clears it).
    /// Throws losskit::error (UNKNOWN_PARAM, BAD_PARAM, NULL_POINTER). A length that must match
    /// the number of classes is only checked by compute.
    void set(const std::string& name, const double* values, std::int64_t count) {
        detail::check(lk_loss_set_param_array(handle_, name.c_str(), values, count));
    }

    /// Sets a vector parameter (an empty vector clears it).
    void set(const std::string& name, const std::vector<double>& values) {
        set(name, values.data(), static_cast<std::int64_t>(values.size()));
    }

    /// Sets a vector parameter from a braced list, set("priors", {0.7, 0.3}).
    void set(const std::string& name, std::initializer_list<double> values) {
        set(name, values.begin(), static_cast<std::int64_t>(values.size()));
    }

    /// Sets a parameter of any kind.
    void set(const Param& p) {
        if (p.is_number()) set(p.name(), p.number());
        else if (p.is_text()) set(p.name(), p.text());
        else set(p.name(), p.vector());
    }

    /// A numeric parameter's current value. Throws losskit::error
    /// (UNKNOWN_PARAM, or BAD_PARAM for a parameter that is not a single number).
    double get(const std::string& name) const {
        double value = 0;
        detail::check(lk_loss_get_param(handle_, name.c_str(), &value));
        return value;
    }

    /// The loss's registered name; "" for a moved-from Loss.
    std::string name() const {
        const char* n = lk_loss_get_name(handle_);
        return n ? n : "";
    }

    /// The underlying handle, still owned by this Loss (nullptr when moved-from).
    lk_loss* handle() const noexcept { return handle_; }

    /// Evaluates the loss on a fully described batch, writing its loss (and grad) outputs.
    /// Throws losskit::error; on error no output buffer has been written.
    void compute(const Batch& batch) const {
        const lk_batch b = batch.c_batch();
        detail::check(lk_loss_compute(handle_, &b));
    }

    /// As compute(batch), with training progress t in [0, 1] for this call only: scheduled weights
    /// (a mix's, ce_expectation_mix's alpha) are taken at `progress` instead of the "progress"
    /// parameter. Throws losskit::error (LK_ERROR_BAD_PARAM when progress is outside [0, 1]).
    void compute_at(const Batch& batch, double progress) const {
        const lk_batch b = batch.c_batch();
        detail::check(lk_loss_compute_at(handle_, &b, progress));
    }

    /// A loss that is the weighted sum of `components` (each copied as configured now; they may be
    /// destroyed before the mix). Component k's weight is the mix's parameter "w<k>" (default 1),
    /// or a schedule over "progress": "w<k>_schedule", "w<k>_start", "w<k>_end", "w<k>_t_switch".
    /// A mix can be a component of another. Throws losskit::error (LK_ERROR_BAD_PARAM when empty,
    /// LK_ERROR_NULL_POINTER for a null or moved-from component).
    static Loss mix(const std::vector<const Loss*>& components) {
        std::vector<const lk_loss*> handles;
        handles.reserve(components.size());
        for (const Loss* component : components) handles.push_back(component ? component->handle_ : nullptr);
        lk_loss* made = nullptr;
        detail::check(lk_mix_create(handles.data(), static_cast<std::int64_t>(handles.size()), &made));
        return Loss(adopt, made);
    }

    /// Loss::mix({&a, &b}).
    static Loss mix(std::initializer_list<const Loss*> components) {
        return mix(std::vector<const Loss*>(components));
    }

    /// Mean loss over an (n, c) float32 batch with int64 class targets; when `grad`
    /// is not null it receives dL/dlogits (n*c values; may equal `logits`).
    float compute(const float* logits, const std::int64_t* target, std::int64_t n, std::int64_t c,
                  float* grad = nullptr) const {
        return compute_mean(logits, target, n, c, grad);
    }

    /// As above, with int32 class targets.
    float compute(const float* logits, const std::int32_t* target, std::int64_t n, std::int64_t c,
                  float* grad = nullptr) const {
        return compute_mean(logits, target, n, c, grad);
    }

    /// Mean loss over an (n, c) float64 batch with int64 class targets.
    double compute(const double* logits, const std::int64_t* target, std::int64_t n, std::int64_t c,
                   double* grad = nullptr) const {
        return compute_mean(logits, target, n, c, grad);
    }

    /// As above, with int32 class targets.
    double compute(const double* logits, const std::int32_t* target, std::int64_t n, std::int64_t c,
                   double* grad = nullptr) const {
        return compute_mean(logits, target, n, c, grad);
    }

#if __cplusplus >= 202002L
    /// Mean loss with spans (C++20): n = target.size(), logits holds n*c values and
    /// grad is empty (loss only) or the size of logits (it may alias logits).
    /// A size mismatch throws losskit::error (LK_ERROR_BAD_SHAPE): the library only
    /// sees pointers, so the span lengths are checked here.
    float compute(std::span<const float> logits, std::span<const std::int64_t> target, std::int64_t c,
                  std::span<float> grad = {}) const {
        return compute_span(logits, target, c, grad);
    }

    /// As above, float32 logits with int32 class targets.
    float compute(std::span<const float> logits, std::span<const std::int32_t> target, std::int64_t c,
                  std::span<float> grad = {}) const {
        return compute_span(logits, target, c, grad);
    }

    /// As above, float64 logits with int64 class targets.
    double compute(std::span<const double> logits, std::span<const std::int64_t> target, std::int64_t c,
                   std::span<double> grad = {}) const {
        return compute_span(logits, target, c, grad);
    }

    /// As above, float64 logits with int32 class targets.
    double compute(std::span<const double> logits, std::span<const std::int32_t> target, std::int64_t c,
                   std::span<double> grad = {}) const {
        return compute_span(logits, target, c, grad);
    }
#endif

private:
    /// Shared body of the pointer overloads: an (n, c) batch, mean reduction.
    template <class F, class I>
    F compute_mean(const F* logits, const I* target, std::int64_t n, std::int64_t c, F* grad) const {
        F out{};
        Batch b;
        b.shape({n, c}).logits(logits).target(target).loss(&out).grad(grad);
        compute(b);
        return out;
    }

#if __cplusplus >= 202002L
    /// Shared body of the span overloads: checks the lengths, then calls compute_mean.
    template <class F, class I>
    F compute_span(std::span<const F> logits, std::span<const I> target, std::int64_t c, std::span<F> grad) const {
        const std::size_t n = target.size();
        // c <= 0 is passed through so that the library reports its own bad-shape message.
        if (c > 0 && (logits.size() % static_cast<std::size_t>(c) != 0 ||
                      logits.size() / static_cast<std::size_t>(c) != n))
            throw error(LK_ERROR_BAD_SHAPE, "logits has " + std::to_string(logits.size()) +
                                                " values; expected target.size() * c = " + std::to_string(n) +
                                                " * " + std::to_string(c));
        if (!grad.empty() && grad.size() != logits.size())
            throw error(LK_ERROR_BAD_SHAPE, "grad has " + std::to_string(grad.size()) +
                                                " values; expected 0 (loss only) or " +
                                                std::to_string(logits.size()));
        return compute_mean(logits.data(), target.data(), static_cast<std::int64_t>(n), c,
                            grad.empty() ? nullptr : grad.data());
    }
#endif

    /// Takes ownership of a handle the library just made (used by mix).
    struct adopt_t {};
    static constexpr adopt_t adopt{};
    Loss(adopt_t, lk_loss* handle) noexcept : handle_(handle) {}

    lk_loss* handle_ = nullptr;
};

/// A loss that is the weighted sum of `components`: the same as Loss::mix.
inline Loss mix(std::initializer_list<const Loss*> components) { return Loss::mix(components); }

/// A per-sample loss written in C++: given one row of `classes` logits (float64, contiguous) and its
/// class index, return the unweighted loss and write dL/dlogits to `grad` (`classes` values, zeroed
/// beforehand). The library applies class weights, ignore_index, the reduction and dloss, and
/// converts from and to the batch's dtype and layout. Report failure by throwing.
using RowLossFunction =
    std::function<double(const double* logits, std::int64_t classes, std::int64_t target, double* grad)>;

namespace detail {

/// What the library keeps as user_data of a C++ row loss; deleted by its destroy callback.
struct RowLossHolder {
    RowLossFunction function;
};

/// The C callback behind every C++ row loss. No exception may cross the C ABI: anything thrown
/// becomes a failed call whose message is the exception's what().
inline std::int32_t call_row_loss(void* user_data, const double* logits, std::int64_t classes,
                                  std::int64_t target, double* out_loss, double* out_grad) noexcept {
    try {
        *out_loss = static_cast<const RowLossHolder*>(user_data)->function(logits, classes, target, out_grad);
        return 0;
    } catch (const std::exception& e) {
        lk_set_callback_error(e.what());
    } catch (...) {
        lk_set_callback_error("a C++ loss function threw something that is not a std::exception");
    }
    return 1;
}

inline void destroy_row_loss(void* user_data) noexcept { delete static_cast<RowLossHolder*>(user_data); }

} // namespace detail

/// Registers `function` as the loss `name` (1..63 characters from A-Z a-z 0-9 _ - .); from then on
/// Loss(name) creates it like a built-in loss. The function (and what it captures) is kept until the
/// loss is unregistered and no Loss made from it is left. Unless `thread_safe`, the library calls it
/// from one thread at a time. An exception thrown by the function makes compute throw
/// losskit::error(LK_ERROR_CALLBACK_FAILED) carrying the exception's what(); so does a NaN loss.
/// Throws losskit::error: LK_ERROR_NULL_POINTER (empty function), LK_ERROR_BAD_NAME,
/// LK_ERROR_DUPLICATE_NAME, LK_ERROR_REGISTRY_FULL; then nothing is registered.
inline void register_loss(const std::string& name, RowLossFunction function, bool thread_safe = false) {
    if (!function) throw error(LK_ERROR_NULL_POINTER, "the loss function of '" + name + "' is empty; expected a callable");
    auto holder = std::make_unique<detail::RowLossHolder>(detail::RowLossHolder{std::move(function)});
    lk_loss_callbacks callbacks{};
    callbacks.struct_size = sizeof callbacks;
    callbacks.abi_version = LK_LOSS_ABI_VERSION;
    callbacks.row = &detail::call_row_loss;
    callbacks.destroy = &detail::destroy_row_loss;
    callbacks.user_data = holder.get();
    callbacks.flags = thread_safe ? LK_CALLBACK_THREAD_SAFE : 0u;
    detail::check(lk_register_loss(name.c_str(), &callbacks)); // refused: destroy is not called, holder frees it
    static_cast<void>(holder.release());                       // the library's destroy callback owns it now
}

/// Removes a registered loss (built-in or user). Loss objects made from it keep working.
/// Throws losskit::error (LK_ERROR_UNKNOWN_LOSS).
inline void unregister_loss(const std::string& name) { detail::check(lk_unregister_loss(name.c_str())); }

/// Loads a plugin (a shared library exporting lk_plugin_init) and registers its losses; it runs the
/// plugin's code with the caller's rights. On failure nothing it registered is left.
/// Throws losskit::error (LK_ERROR_PLUGIN with dlerror()'s or the plugin's message, LK_ERROR_ABI_VERSION).
inline void load_plugin(const std::string& path) { detail::check(lk_plugin_load(path.c_str())); }

} // namespace losskit

#endif // LOSSKIT_HPP
