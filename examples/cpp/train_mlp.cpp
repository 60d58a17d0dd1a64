// train_mlp — train a small MLP on scikit-learn's digits with any losskit loss (C++17).
//
//   python3 examples/cpp/export_digits.py digits          # digits/train.csv, digits/test.csv
//   train_mlp --data digits [--loss NAME] [--epochs 20] [--lr 0.001] [--batch-size 32] [--hidden 128]
//             [--seed 0] [--param NAME=VALUE ...] [--NAME VALUE ...]
//
// Any option that is not one of the trainer's is a parameter of the loss, passed to the library by
// name: `--loss hem --margin 0.5`, `--loss ce_expectation_mix --schedule linear`, `--param gamma=1`.
// A value is a number, comma-separated numbers (a vector, e.g. `--priors 0.1,...`) or text.
// When the loss has a "progress" parameter (scheduled losses) and it is not given, it is set to
// (epoch-1)/(epochs-1) before each epoch, so a schedule runs from start to end over the training.
//
// The network is 64 -> hidden (ReLU) -> 10, float32, He initialisation, Adam on shuffled minibatches, everything seeded. losskit computes every loss value and the gradient with
// respect to the logits; this file only backpropagates that gradient through the two layers.
// Each epoch prints the mean training loss, train and test accuracy, and the test ECE (top-label
// softmax confidence, 15 equal-width bins).
#include "losskit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// Samples as rows of `features` floats, with class-index labels.
struct Dataset {
    std::vector<float> x;
    std::vector<std::int64_t> y;
    int features = 0;
    int size() const { return static_cast<int>(y.size()); }
};

[[noreturn]] void fail(const std::string& message, int code = 1) {
    std::cerr << "train_mlp: " << message << "\n";
    std::exit(code);
}

/// Reads "label,f1,...,fd" lines as written by export_digits.py.
Dataset load_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("cannot open " + path + " (export it with examples/cpp/export_digits.py)");
    Dataset data;
    std::string line;
    for (int row = 1; std::getline(in, line); ++row) {
        if (line.empty()) continue;
        std::stringstream fields(line);
        std::string field;
        std::vector<float> values;
        while (std::getline(fields, field, ',')) {
            char* end = nullptr;
            values.push_back(std::strtof(field.c_str(), &end));
            if (end == field.c_str() || *end != '\0') fail(path + ":" + std::to_string(row) + ": not a number: " + field);
        }
        const int features = static_cast<int>(values.size()) - 1;
        if (features < 1 || (data.features != 0 && features != data.features))
            fail(path + ":" + std::to_string(row) + ": expected a label and " + std::to_string(data.features) + " features");
        data.features = features;
        data.y.push_back(static_cast<std::int64_t>(values[0]));
        data.x.insert(data.x.end(), values.begin() + 1, values.end());
    }
    if (data.y.empty()) fail(path + ": no samples");
    return data;
}

/// A number, comma-separated numbers (a vector parameter) or else text.
losskit::Param parse_param(const std::string& name, const std::string& text) {
    std::vector<double> numbers;
    std::stringstream parts(text);
    std::string part;
    while (std::getline(parts, part, ',')) {
        char* end = nullptr;
        const double v = std::strtod(part.c_str(), &end);
        if (part.empty() || *end != '\0') return {name, text};
        numbers.push_back(v);
    }
    if (numbers.size() == 1 && text.find(',') == std::string::npos) return {name, numbers[0]};
    if (numbers.empty()) return {name, text};
    return {name, numbers};
}

/// A parameter's value as it would be typed on the command line.
std::string to_text(const losskit::Param& p) {
    if (p.is_text()) return p.text();
    std::ostringstream out;
    if (p.is_number()) out << p.number();
    for (std::size_t i = 0; p.is_vector() && i < p.vector().size(); ++i) out << (i ? "," : "") << p.vector()[i];
    return out.str();
}

struct Options {
    std::string data = ".";
    std::string loss = "cross_entropy";
    int epochs = 20;
    float lr = 0.001f;
    int batch_size = 32;
    int hidden = 128;
    std::uint64_t seed = 0;
    std::vector<losskit::Param> params;
};

Options parse_options(int argc, char** argv) {
    Options o;
    auto number = [](const std::string& option, const std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') fail(option + " expects a number, got '" + text + "'", 2);
        return v;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::cout << "usage: train_mlp --data DIR [--loss NAME] [--epochs N] [--lr X] [--batch-size N]\n"
                         "                 [--hidden N] [--seed N] [--param NAME=VALUE ...] [--NAME VALUE ...]\n"
                         "DIR holds train.csv and test.csv from examples/cpp/export_digits.py.\n"
                         "Other options are loss parameters, e.g. --margin 0.5, --schedule linear.\n"
                         "losses:";
            for (const std::string& name : losskit::losses()) std::cout << " " << name;
            std::cout << "\n";
            std::exit(0);
        }
        if (arg.rfind("--", 0) != 0 || i + 1 >= argc) fail("expected --OPTION VALUE, got '" + arg + "' (see --help)", 2);
        const std::string key = arg.substr(2), value = argv[++i];
        if (key == "data") o.data = value;
        else if (key == "loss") o.loss = value;
        else if (key == "epochs") o.epochs = static_cast<int>(number(arg, value));
        else if (key == "lr") o.lr = static_cast<float>(number(arg, value));
        else if (key == "batch-size") o.batch_size = static_cast<int>(number(arg, value));
        else if (key == "hidden") o.hidden = static_cast<int>(number(arg, value));
        else if (key == "seed") o.seed = static_cast<std::uint64_t>(number(arg, value));
        else if (key == "param") {
            const auto eq = value.find('=');
            if (eq == std::string::npos || eq == 0) fail("--param expects NAME=VALUE, got '" + value + "'", 2);
            o.params.push_back(parse_param(value.substr(0, eq), value.substr(eq + 1)));
        } else {
            o.params.push_back(parse_param(key, value));
        }
    }
    if (o.epochs < 1 || o.batch_size < 1 || o.hidden < 1 || !(o.lr > 0)) fail("epochs, batch-size, hidden and lr must be positive", 2);
    return o;
}

/// mt19937_64 is specified bit for bit by the standard, unlike the std distributions; the uniform
/// and normal draws are made here so that a seed gives the same run with any standard library.
class Random {
public:
    explicit Random(std::uint64_t seed) : engine_(seed) {}
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
    double normal() {  // Box-Muller
        const double u = 1.0 - uniform(), v = uniform();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
    }
    void shuffle(std::vector<int>& order) {  // Fisher-Yates; the modulo bias (< 2^-50) is irrelevant here
        for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[engine_() % i]);
    }

private:
    std::mt19937_64 engine_;
};

/// inputs -> hidden (ReLU) -> classes logits; row-major float32 weights, trained with Adam.
class MLP {
public:
    MLP(int inputs, int hidden, int classes, Random& rng)
        : d_(inputs), h_(hidden), c_(classes), params_{he(inputs, inputs * hidden, rng), std::vector<float>(hidden),
                                                       he(hidden, hidden * classes, rng), std::vector<float>(classes)} {
        for (const auto& p : params_) {
            first_.emplace_back(p.size());
            second_.emplace_back(p.size());
        }
    }

    int classes() const { return c_; }

    /// Logits (m x c) of m samples; keeps the hidden activations (m x h) for backward.
    void forward(const float* x, int m, std::vector<float>& hidden, std::vector<float>& logits) const {
        const auto &w1 = params_[0], &b1 = params_[1], &w2 = params_[2], &b2 = params_[3];
        hidden.resize(static_cast<std::size_t>(m) * h_);
        logits.resize(static_cast<std::size_t>(m) * c_);
        for (int i = 0; i < m; ++i) {
            float* hi = &hidden[static_cast<std::size_t>(i) * h_];
            std::copy(b1.begin(), b1.end(), hi);
            for (int k = 0; k < d_; ++k) {
                const float a = x[static_cast<std::size_t>(i) * d_ + k];
                const float* row = &w1[static_cast<std::size_t>(k) * h_];
                for (int j = 0; j < h_; ++j) hi[j] += a * row[j];
            }
            for (int j = 0; j < h_; ++j) hi[j] = std::max(hi[j], 0.0f);
            float* zi = &logits[static_cast<std::size_t>(i) * c_];
            std::copy(b2.begin(), b2.end(), zi);
            for (int j = 0; j < h_; ++j) {
                const float* row = &w2[static_cast<std::size_t>(j) * c_];
                for (int k = 0; k < c_; ++k) zi[k] += hi[j] * row[k];
            }
        }
    }

    /// One Adam step from dL/dlogits (m x c) of the batch forward() just saw.
    void step(const float* x, int m, const std::vector<float>& hidden, const std::vector<float>& dlogits, float lr) {
        std::vector<std::vector<float>> grads;
        for (const auto& p : params_) grads.emplace_back(p.size());
        auto &dw1 = grads[0], &db1 = grads[1], &dw2 = grads[2], &db2 = grads[3];
        const auto& w2 = params_[2];
        std::vector<float> dhidden(h_);
        for (int i = 0; i < m; ++i) {
            const float* hi = &hidden[static_cast<std::size_t>(i) * h_];
            const float* gi = &dlogits[static_cast<std::size_t>(i) * c_];
            for (int j = 0; j < h_; ++j) {
                float back = 0;
                for (int k = 0; k < c_; ++k) {
                    dw2[static_cast<std::size_t>(j) * c_ + k] += hi[j] * gi[k];
                    back += gi[k] * w2[static_cast<std::size_t>(j) * c_ + k];
                }
                dhidden[j] = hi[j] > 0 ? back : 0.0f;  // ReLU passes the gradient where it was active
                db1[j] += dhidden[j];
            }
            for (int k = 0; k < c_; ++k) db2[k] += gi[k];
            for (int k = 0; k < d_; ++k) {
                const float a = x[static_cast<std::size_t>(i) * d_ + k];
                float* row = &dw1[static_cast<std::size_t>(k) * h_];
                for (int j = 0; j < h_; ++j) row[j] += a * dhidden[j];
            }
        }
        // Adam (beta1 0.9, beta2 0.999): per-weight step sizes let losses whose gradients differ in
        // scale by orders of magnitude (squentropy's square term, HEM, ...) train with one learning rate.
        ++steps_;
        const double correction1 = 1.0 - std::pow(0.9, steps_), correction2 = 1.0 - std::pow(0.999, steps_);
        for (std::size_t p = 0; p < params_.size(); ++p)
            for (std::size_t i = 0; i < params_[p].size(); ++i) {
                const float g = grads[p][i];
                first_[p][i] = 0.9f * first_[p][i] + 0.1f * g;
                second_[p][i] = 0.999f * second_[p][i] + 0.001f * g * g;
                const double m = first_[p][i] / correction1, v = second_[p][i] / correction2;
                params_[p][i] -= static_cast<float>(lr * m / (std::sqrt(v) + 1e-8));
            }
    }

private:
    static std::vector<float> he(int fan_in, int count, Random& rng) {
        std::vector<float> w(count);
        const double scale = std::sqrt(2.0 / fan_in);
        for (float& v : w) v = static_cast<float>(rng.normal() * scale);
        return w;
    }

    int d_, h_, c_;
    std::vector<std::vector<float>> params_;  // w1 (d x h), b1, w2 (h x c), b2
    std::vector<std::vector<float>> first_, second_;  // Adam's moment estimates
    int steps_ = 0;
};

struct Scores {
    double accuracy = 0, ece = 0;
};

/// Accuracy and top-label ECE over 15 equal-width confidence bins (lo, hi]. The softmax here is
/// only the evaluation's confidence, the same whatever loss trained the network.
Scores evaluate(const MLP& model, const Dataset& data) {
    constexpr int bins = 15;
    std::vector<float> hidden, logits;
    model.forward(data.x.data(), data.size(), hidden, logits);
    const int c = model.classes();
    std::vector<double> count(bins), correct(bins), confidence(bins);
    for (int i = 0; i < data.size(); ++i) {
        const float* z = &logits[static_cast<std::size_t>(i) * c];
        const int top = static_cast<int>(std::max_element(z, z + c) - z);
        double total = 0;
        for (int k = 0; k < c; ++k) total += std::exp(static_cast<double>(z[k]) - z[top]);
        const double p = 1.0 / total;
        const int b = std::clamp(static_cast<int>(std::ceil(p * bins)) - 1, 0, bins - 1);
        count[b] += 1;
        correct[b] += top == data.y[i];
        confidence[b] += p;
    }
    Scores s;
    for (int b = 0; b < bins; ++b) {
        s.accuracy += correct[b];
        s.ece += std::abs(correct[b] - confidence[b]);  // n_b * |acc_b - conf_b|
    }
    s.accuracy /= data.size();
    s.ece /= data.size();
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    const auto start = std::chrono::steady_clock::now();
    const Dataset train = load_csv(o.data + "/train.csv"), test = load_csv(o.data + "/test.csv");
    if (test.features != train.features) fail("train.csv and test.csv have different feature counts");
    const auto [lo, hi] = std::minmax_element(train.y.begin(), train.y.end());
    if (*lo < 0) fail("negative label in train.csv");
    const int classes = static_cast<int>(*hi) + 1;

    // The library validates every name and value; its message says what it expected.
    std::optional<losskit::Loss> loss;
    bool schedule_progress = false;
    try {
        loss.emplace(o.loss);
        bool progress_given = false;
        for (const losskit::Param& p : o.params) {
            loss->set(p);
            progress_given |= p.name() == "progress";
        }
        try {
            loss->get("progress");
            schedule_progress = !progress_given;
        } catch (const losskit::error& e) {
            if (e.status() != LK_ERROR_UNKNOWN_PARAM) throw;  // the loss has no schedule
        }
    } catch (const losskit::error& e) {
        // Unknown options are taken for loss parameters, so a mistyped option lands here.
        const char* hint = e.status() == LK_ERROR_UNKNOWN_PARAM ? " (nor is it an option of train_mlp: see --help)" : "";
        fail(std::string("loss ") + o.loss + ": " + e.what() + hint, 2);
    }

    std::cout << "digits: " << train.size() << " train, " << test.size() << " test, " << train.features
              << " features, " << classes << " classes; loss " << o.loss;
    for (const losskit::Param& p : o.params) std::cout << " " << p.name() << "=" << to_text(p);
    std::cout << "; losskit " << losskit::version() << "\n";

    Random rng(o.seed);
    MLP model(train.features, o.hidden, classes, rng);
    std::vector<int> order(train.size());
    for (int i = 0; i < train.size(); ++i) order[i] = i;
    std::vector<float> x, hidden, logits, grad;
    std::vector<std::int64_t> y;
    Scores scores;
    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
        if (schedule_progress) loss->set("progress", o.epochs > 1 ? (epoch - 1.0) / (o.epochs - 1.0) : 1.0);
        rng.shuffle(order);
        double total = 0;
        for (int first = 0; first < train.size(); first += o.batch_size) {
            const int m = std::min(o.batch_size, train.size() - first);
            x.resize(static_cast<std::size_t>(m) * train.features);
            y.resize(m);
            for (int i = 0; i < m; ++i) {
                const int s = order[first + i];
                std::copy_n(&train.x[static_cast<std::size_t>(s) * train.features], train.features,
                            &x[static_cast<std::size_t>(i) * train.features]);
                y[i] = train.y[s];
            }
            model.forward(x.data(), m, hidden, logits);
            grad.resize(logits.size());
            try {
                // Mean loss over the batch and its gradient with respect to the logits, from losskit.
                total += static_cast<double>(loss->compute(logits.data(), y.data(), m, classes, grad.data())) * m;
            } catch (const losskit::error& e) {
                if (e.status() == LK_ERROR_NONFINITE_LOGIT)
                    fail("training diverged in epoch " + std::to_string(epoch) + " (non-finite logits); try a smaller --lr");
                fail(std::string("loss ") + o.loss + ": " + e.what());
            }
            model.step(x.data(), m, hidden, grad, o.lr);
        }
        const Scores on_train = evaluate(model, train);
        scores = evaluate(model, test);
        std::printf("epoch %3d/%d  loss %.4f  train_acc %.4f  test_acc %.4f  test_ece %.4f", epoch, o.epochs,
                    total / train.size(), on_train.accuracy, scores.accuracy, scores.ece);
        if (schedule_progress) std::printf("  progress %.3f", loss->get("progress"));
        std::printf("\n");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("final test_acc %.4f test_ece %.4f (loss %s, %d epochs, %.1f s)\n", scores.accuracy, scores.ece,
                o.loss.c_str(), o.epochs, seconds);
    return 0;
}
