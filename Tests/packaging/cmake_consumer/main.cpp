// Uses the installed losskit.hpp through the losskit::losskit target: a value, a gradient and an error.
#include <losskit.hpp>

#include <cmath>
#include <cstdint>
#include <iostream>

int main() {
    if (losskit::version_number() != LK_VERSION_NUMBER) {
        std::cerr << "header " << LK_VERSION_STRING << " but library " << losskit::version() << "\n";
        return 1;
    }
    // Zero logits: cross-entropy log C, and the square term of squentropy is 0, so the two agree.
    const double logits[6] = {0, 0, 0, 0, 0, 0};
    const std::int64_t target[2] = {1, 2};
    double grad[6];
    const losskit::Loss squentropy("squentropy");
    const double loss = squentropy.compute(logits, target, 2, 3, grad);
    if (std::abs(loss - std::log(3.0)) > 1e-12 || std::abs(grad[1] - (1.0 / 3.0 - 1.0) / 2.0) > 1e-12) {
        std::cerr << "squentropy " << loss << ", grad[1] " << grad[1] << "\n";
        return 1;
    }
    try {
        losskit::Loss("no_such_loss");
        std::cerr << "an unknown loss was accepted\n";
        return 1;
    } catch (const losskit::error& e) {
        if (e.status() != LK_ERROR_UNKNOWN_LOSS) {
            std::cerr << "unexpected error: " << e.what() << "\n";
            return 1;
        }
    }
    std::cout << "C++ via CMake: losskit " << losskit::version() << ", squentropy " << loss << "\n";
    return 0;
}
