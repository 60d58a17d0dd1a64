/* A C program that finds losskit through pkg-config alone:
 *   cc -std=c99 consumer.c $(pkg-config --cflags --libs losskit) -Wl,-rpath,$(pkg-config --variable=libdir losskit)
 * Checks the header against the library and one cross-entropy value and gradient. */
#include <losskit.h>

#include <stdio.h>

static int close_to(double a, double b) { return a - b < 1e-6 && b - a < 1e-6; }

int main(void) {
    /* Uniform logits over 3 classes: loss log 3, gradient (1/3 - onehot(y)) / N. */
    const float logits[6] = {0, 0, 0, 0, 0, 0};
    const int64_t target[2] = {0, 2};
    const int64_t shape[2] = {2, 3};
    float loss = -1, grad[6];
    lk_loss *ce = NULL;
    lk_batch b;
    int i;

    if (lk_version_number() != LK_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", LK_VERSION_STRING, lk_version());
        return 1;
    }
    if (lk_loss_create("cross_entropy", &ce) != LK_OK) {
        fprintf(stderr, "lk_loss_create: %s\n", lk_last_error_message());
        return 1;
    }
    lk_batch_init(&b);
    b.ndim = 2;
    b.shape = shape;
    b.logits_dtype = LK_FLOAT32;
    b.logits = logits;
    b.target_dtype = LK_INT64;
    b.target = target;
    b.loss = &loss;
    b.grad = grad;
    if (lk_loss_compute(ce, &b) != LK_OK) {
        fprintf(stderr, "lk_loss_compute: %s\n", lk_last_error_message());
        lk_loss_destroy(ce);
        return 1;
    }
    lk_loss_destroy(ce);
    if (!close_to(loss, 1.0986122886681098)) {
        fprintf(stderr, "loss %.9g, expected log 3\n", loss);
        return 1;
    }
    for (i = 0; i < 6; ++i) {
        const double expected = (1.0 / 3.0 - (i == 0 || i == 5)) / 2.0;
        if (!close_to(grad[i], expected)) {
            fprintf(stderr, "grad[%d] = %.9g, expected %.9g\n", i, grad[i], expected);
            return 1;
        }
    }
    printf("C via pkg-config: losskit %s, cross_entropy %.6f\n", lk_version(), loss);
    return 0;
}
