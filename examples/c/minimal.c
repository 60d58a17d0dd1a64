/* The smallest complete use of losskit.h: mean cross-entropy and its gradient
 * for a batch of 2 samples and 3 classes. */
#include <stdio.h>

#include "losskit.h"

/* Every fallible call returns a status; the message must be read right away
 * (it lasts only until the next losskit call on this thread). */
static int failed(lk_status status) {
    if (status == LK_OK) return 0;
    fprintf(stderr, "losskit: %s: %s\n", lk_status_string(status), lk_last_error_message());
    return 1;
}

int main(void) {
    const float logits[2 * 3] = {2.0f, 1.0f, 0.1f,
                                 0.5f, 2.5f, -1.0f};
    const int64_t target[2] = {0, 1};
    const int64_t shape[2] = {2, 3}; /* (N, C) */
    float loss = 0.0f;
    float grad[2 * 3];
    lk_loss *ce = NULL;
    lk_batch batch;
    int i;

    if (failed(lk_loss_create("cross_entropy", &ce))) return 1;
    if (failed(lk_loss_set_param(ce, "label_smoothing", 0.1))) goto fail;

    lk_batch_init(&batch); /* struct_size and defaults: mean reduction, ignore_index -100 */
    batch.ndim = 2;
    batch.shape = shape;
    batch.logits_dtype = LK_FLOAT32;
    batch.target_dtype = LK_INT64;
    batch.logits = logits;
    batch.target = target;
    batch.loss = &loss;
    batch.grad = grad;
    if (failed(lk_loss_compute(ce, &batch))) goto fail;

    printf("losskit %s, loss %s: %.6f\ngrad:", lk_version(), lk_loss_get_name(ce), loss);
    for (i = 0; i < 2 * 3; i++) printf(" %.6f", grad[i]);
    printf("\n");
    lk_loss_destroy(ce);
    return 0;

fail:
    lk_loss_destroy(ce);
    return 1;
}
