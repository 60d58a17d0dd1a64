#!/usr/bin/env python3
"""Writes the handcrafted seed inputs of the fuzz targets into Tests/fuzz/corpus/<target>/.

Each seed is spelled out field by field in the order the target decodes its input (see the
decoders in fuzz_compute.c, fuzz_registry.c and fuzz_params.c), so that fuzzing starts from
meaningful batches and call sequences. Run it again after changing a decoder:
    python3 Tests/fuzz/corpus/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Indices into the targets' tables (fuzz_common.h and the built-in order of lk_loss_name_at).
LOSS = {n: i for i, n in enumerate(["cross_entropy", "expectation", "ce_expectation_mix", "squentropy", "square",
                                    "hem", "multi_margin", "logit_norm", "logit_adjusted", "focal", "dice"])}
PARAM = {n: i for i, n in enumerate([
    "label_smoothing", "z_loss", "beta", "smooth", "skip_absent", "gamma", "margin", "class_counts", "M", "tau",
    "priors", "p", "progress", "k", "alpha", "alpha_start", "alpha_end", "t_switch", "schedule", "nan_policy", "w0",
    "w1", "w2", "w0_schedule", "w1_schedule"])}
VALUE = {"0": 0, "0.5": 2, "1": 3, "2": 4, "0.1": 5, "-1": 12, "1e300": 16, "inf": 19, "nan": 21, "100": 30}
TEXT = {"error": 0, "propagate": 1, "constant": 2, "linear": 3, "cosine": 4, "step": 5}


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# ------------------------------------------------------------------------------ fuzz_compute

def dims(n_code, c_code, *spatial):
    """17 size codes: N (code % 9 below 200), C (1 + code % 12), d (1 + code % 4); 216+k: specials."""
    codes = [n_code, c_code] + list(spatial)
    return codes + [0] * (17 - len(codes))


def param_number(name, value):
    return [PARAM[name], 0, VALUE[value]]


def param_text(name, text):
    return [PARAM[name], 5, TEXT[text]]


def param_vector_of_c(name):
    return [PARAM[name], 7, 0, 0] + [i % 7 for i in range(64)] + [0]  # length C, moderate values


def builtin(loss, *ops):
    return [LOSS[loss], len(ops)] + [b for op in ops for b in op]


def batch(threads=0, f64=False, target="int64", reduction=0, ignore=0, flags=0, struct_mode=8, misalign=255,
          alias=255, alias_delta=0, progress="0", levels=(0, 0, 0, 0), seed=1, pokes=()):
    tcode = {"int64": 0, "int32": 120, "prob": 200, "bad": 245}[target]
    out = [threads, 1 if f64 else 0, tcode, reduction, ignore, flags, struct_mode, misalign, alias]
    out += list(struct.pack("<I", alias_delta)) + [VALUE[progress]] + list(levels) + list(struct.pack("<Q", seed))
    out += [len(pokes)] + [b for at, kind in pokes for b in list(struct.pack("<I", at)) + [kind]]
    return out


WEIGHT_DLOSS = 0x00   # flags: weight and dloss given, grad separate
NO_WEIGHT = 0x05      # flags: neither weight nor dloss
IN_PLACE = 0x30
GRAD_NULL = 0x20
AT = 0x40             # lk_loss_compute_at
RECHECK = 0x80        # recompute on one thread

compute = {
    "ce_f32_mean": [0] + dims(4, 4) + [0] + builtin("cross_entropy") + batch(flags=NO_WEIGHT),
    "ce_f64_probabilities_spatial_in_place": [1] + dims(2, 2, 1) + [0]
    + builtin("cross_entropy", param_number("label_smoothing", "0.5")) + batch(2, True, "prob", 1, flags=IN_PLACE),
    "mix_ceem_focal_none_at": [0] + dims(3, 3) + [200, 1]
    + builtin("ce_expectation_mix", param_text("schedule", "linear")) + builtin("focal") + [1, 1]
    + param_number("w0", "0.1") + batch(1, False, "int32", 2, flags=AT | NO_WEIGHT, progress="0.5", levels=(4, 1, 0, 0)),
    "dice_spatial_int32": [2] + dims(2, 2, 3, 1) + [0] + builtin("dice", param_number("smooth", "0")) + batch(
        target="int32", flags=WEIGHT_DLOSS | RECHECK, seed=7),
    "logit_adjusted_priors": [0] + dims(5, 5) + [0] + builtin("logit_adjusted", param_vector_of_c("priors"))
    + batch(flags=GRAD_NULL, seed=3),
    "hem_class_counts_sum": [0] + dims(6, 3) + [0] + builtin("hem", param_vector_of_c("class_counts"),
                                                                  param_number("M", "2")) + batch(reduction=1, seed=9),
    "squentropy_nan_propagate": [0] + dims(3, 2) + [0] + builtin("squentropy", param_text("nan_policy", "propagate"))
    + batch(levels=(0, 0, 0, 0), pokes=[(1, 0), (4, 2)]),
    "nan_logit_refused": [0] + dims(3, 2) + [0] + builtin("focal") + batch(pokes=[(2, 0)]),
    "ndim_1": [209] + dims(4, 4) + [0] + builtin("square") + batch(),
    "shape_overflow": [0] + dims(216 + 5, 216 + 8) + [0] + builtin("cross_entropy") + batch(),
    "empty_batch_huge_classes": [0] + dims(0, 216 + 7) + [0] + builtin("multi_margin") + batch(flags=NO_WEIGHT),
    "misaligned_target": [0] + dims(2, 2) + [0] + builtin("cross_entropy") + batch(misalign=1),
    "grad_overlaps_logits": [0] + dims(2, 2) + [0] + builtin("cross_entropy") + batch(alias=0, alias_delta=8),
    "bad_struct_size": [0] + dims(2, 2) + [0] + builtin("expectation") + batch(struct_mode=1),
    "bad_weights_and_targets": [0] + dims(8, 5) + [0] + builtin("logit_norm") + batch(levels=(0, 3, 2, 2)),
}

# ------------------------------------------------------------------------------ fuzz_registry

def reg(name_code, behaviour=0, whole=False, thread_safe=True, destroy=True, table=7):
    b = (1 if whole else 0) | (behaviour << 1) | (0x20 if thread_safe else 0) | (0 if destroy else 0x40)
    return [0, name_code, table, b]


def create(code):
    return [3, code]


def run(handle, shape_code=0x12, opts=0, reduction=0, ignore_default=1, nan=200, at=200, progress="0", threads=2,
        seed=5, big=False):
    return [0xF8 if big else 8, handle] + list(struct.pack("<I", seed)) + [shape_code, opts, reduction, ignore_default,
                                                                           nan, at, VALUE[progress], threads]


registry = {
    "row_loss_lifecycle": reg(0) + create(0) + run(0) + [2, 0] + run(0) + [5, 0],
    "batch_loss_in_mix": reg(1, whole=True) + create(1) + create(128 + 2) + [6, 1, 0, 1, 0] + run(2) + [2, 1, 5, 0]
    + run(2, reduction=2) + [5, 1, 5, 2],
    "failing_callbacks": reg(3, behaviour=1) + create(3) + run(0) + reg(0, behaviour=6) + create(0) + run(1)
    + reg(1, behaviour=3, whole=True) + create(1) + run(2),
    "plugins": [10, 0, 10, 1, 10, 2, 10, 3, 10, 4, 10, 5, 10, 7, 42, 10, 8],
    "bad_registrations": [b for k in range(12) for b in reg(200 + k)] + [b for t in range(7) for b in reg(0, table=t)]
    + reg(4) + reg(4) + [2, 4, 2, 4],
    "not_thread_safe_big_batch": reg(0, thread_safe=False) + create(0) + run(0, big=True, threads=0),
    "orphan_and_nested_mix": create(128) + [6, 2, 0, 8, 8, 0] + [6, 1, 1, 0, 0] + run(2) + [7, 2, 0] + run(2, nan=0),
}

# ------------------------------------------------------------------------------ fuzz_params

def p_set(spec_index, value):
    return [spec_index, 0, 0, VALUE[value]]


def p_text(spec_index, text):
    return [spec_index, 1, TEXT[text]]


def p_vector(spec_index, count):
    return [spec_index, 2, count, 0, 0] + [3] * 40


def p_get(spec_index):
    return [spec_index, 3]


params = {
    "cross_entropy": list(struct.pack("<I", 1)) + [2, 0, LOSS["cross_entropy"], 4] + p_set(0, "0.5") + p_set(1, "inf")
    + p_set(0, "2") + p_get(0),
    "logit_adjusted_priors": list(struct.pack("<I", 2)) + [3, 0, LOSS["logit_adjusted"], 3] + p_set(0, "2")
    + p_vector(1, 4) + p_get(1),
    "ceem_schedule": list(struct.pack("<I", 3)) + [1, 0, LOSS["ce_expectation_mix"], 4] + p_text(0, "cosine")
    + p_set(6, "100") + p_set(1, "nan") + p_text(7, "propagate"),
    "mix_of_three": list(struct.pack("<I", 4)) + [4, 200, 2, LOSS["hem"], 1] + p_vector(1, 5) + [LOSS["dice"], 0]
    + [LOSS["multi_margin"], 1] + p_set(1, "2") + [3] + p_set(0, "0.5") + p_text(1, "step") + p_set(15, "1"),
}

for name, data in compute.items():
    write("fuzz_compute", name, data)
for name, data in registry.items():
    write("fuzz_registry", name, data)
for name, data in params.items():
    write("fuzz_params", name, data)
print(f"wrote {len(compute)} + {len(registry)} + {len(params)} seeds")
