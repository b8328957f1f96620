/* Parameter buffer layout, AdamW flags, schedule and clipping (exact arithmetic checks; the
 * PyTorch parity of AdamW over 10 steps is in test_nn_models.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include "nn/optim.h"
#include "nn/params.h"

Test(nn_params, layout_and_lookup) {
    sd_params p;
    sd_params_init(&p);
    int64_t a[2] = {3, 5}, b[1] = {7};
    int va = sd_params_add(&p, "a.weight", 2, a, true), vb = sd_params_add(&p, "b.bias", 1, b, false);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    cr_assert_eq(sd_params_index(&p, "b.bias"), vb);
    cr_assert_eq(sd_params_index(&p, "nope"), -1);
    cr_assert_eq(p.views[va].numel, 15);
    cr_assert_eq(p.views[vb].offset % 16, 0, "views start on 16-float boundaries");
    cr_assert_eq((uintptr_t)sd_params_ptr(&p, vb) % 64, 0);
    cr_assert(p.n >= 32 && p.n % 16 == 0);
    cr_assert_eq(sd_params_count(&p), 22);
    cr_assert(p.views[va].requires_grad && p.views[va].weight_decay && !p.views[vb].weight_decay);
    sd_params_free(&p);
}

Test(nn_optim, adamw_flags_and_first_step) {
    sd_params p;
    sd_params_init(&p);
    int64_t s[1] = {4};
    int w = sd_params_add(&p, "w", 1, s, true), n = sd_params_add(&p, "n", 1, s, false), f = sd_params_add(&p, "f", 1, s, true);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    sd_params_set_requires_grad(&p, f, false);
    for (int v = 0; v < 3; v++)
        for (int i = 0; i < 4; i++) { sd_params_ptr(&p, v)[i] = 1.0f; sd_params_grad(&p, v)[i] = i - 1.5f; }
    sd_adamw opt = sd_adamw_default();
    opt.weight_decay = 0.5;
    sd_adamw_step(&p, &opt, 1, 0.1);
    for (int i = 0; i < 4; i++) {
        /* step 1: m_hat = g, v_hat = g^2, update = lr * g / (|g| + eps) = lr * sign(g) */
        float sign = i < 2 ? -1.0f : 1.0f;
        cr_assert_float_eq(sd_params_ptr(&p, w)[i], 1.0f * (1 - 0.05f) - 0.1f * sign, 1e-6);
        cr_assert_float_eq(sd_params_ptr(&p, n)[i], 1.0f - 0.1f * sign, 1e-6);
        cr_assert_eq(sd_params_ptr(&p, f)[i], 1.0f, "frozen view moved");
    }
    sd_params_free(&p);
}

Test(nn_optim, clip_and_schedule) {
    sd_params p;
    sd_params_init(&p);
    int64_t s[1] = {2};
    int a = sd_params_add(&p, "a", 1, s, true), f = sd_params_add(&p, "f", 1, s, true);
    sd_params_alloc(&p);
    sd_params_alloc_train(&p);
    sd_params_grad(&p, a)[0] = 3; sd_params_grad(&p, a)[1] = 4;
    sd_params_grad(&p, f)[0] = 100;
    sd_params_set_requires_grad(&p, f, false);
    cr_assert_float_eq(sd_clip_grad_norm(&p, 0), 5.0f, 1e-6, "frozen views excluded");
    cr_assert_float_eq(sd_clip_grad_norm(&p, 1.0f), 5.0f, 1e-6);
    cr_assert_float_eq(sd_params_grad(&p, a)[0], 0.6f, 1e-6);
    cr_assert_float_eq(sd_clip_grad_norm(&p, 10.0f), 1.0f, 1e-5);
    cr_assert_float_eq(sd_params_grad(&p, a)[1], 0.8f, 1e-6, "no clipping below max");
    sd_params_free(&p);
    cr_assert_float_eq(sd_lr_cosine(0, 4, 10, 1.0, 0.1), 0.25, 1e-12);
    cr_assert_float_eq(sd_lr_cosine(3, 4, 10, 1.0, 0.1), 1.0, 1e-12);
    cr_assert_float_eq(sd_lr_cosine(7, 4, 10, 1.0, 0.1), 0.55, 1e-12);
    cr_assert_float_eq(sd_lr_cosine(10, 4, 10, 1.0, 0.1), 0.1, 1e-12);
    cr_assert_float_eq(sd_lr_cosine(99, 4, 10, 1.0, 0.1), 0.1, 1e-12);
}
