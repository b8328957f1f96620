/* POST /v1/recommend: a history and/or a request in words -> the top-k items by beam search. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "serve/serve_internal.h"

/* ---- recommend ---- */

enum MHD_Result sd_srv_recommend(sd_req *r, struct MHD_Connection *c, cJSON *b) {
    sd_server *s = r->s;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(b, "history");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(b, "k");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(b, "exclude_history");
    if (h && !cJSON_IsNull(h) && !cJSON_IsArray(h))
        return sd_srv_send_error(r, c, 400, "history", NULL, "'history' must be an array of item ids");
    if (p && !cJSON_IsNull(p) && !cJSON_IsString(p)) return sd_srv_send_error(r, c, 400, "prompt", NULL, "'prompt' must be a string");
    int kk = 10;
    if (k && !cJSON_IsNull(k)) {
        if (!cJSON_IsNumber(k) || k->valuedouble != floor(k->valuedouble) || k->valuedouble < 1 || k->valuedouble > 100)
            return sd_srv_send_error(r, c, 400, "k", NULL, "'k' must be an integer in [1, 100]");
        kk = (int)k->valuedouble;
    }
    if (kk > s->cat->n_items) kk = s->cat->n_items;
    if (ex && !cJSON_IsNull(ex) && !cJSON_IsBool(ex))
        return sd_srv_send_error(r, c, 400, "exclude_history", NULL, "'exclude_history' must be a boolean");
    int n = cJSON_IsArray(h) ? cJSON_GetArraySize(h) : 0;
    const char *req_text = cJSON_IsString(p) && *p->valuestring ? p->valuestring : NULL;
    if (n == 0 && !req_text)
        return sd_srv_send_error(r, c, 400, "history", NULL, "give a 'history' of item ids, a 'prompt', or both");
    if (n > 10000) return sd_srv_send_error(r, c, 400, "history", NULL, "'history' has %d items, more than 10000", n);
    sd_job *j = sd_job_new(JOB_REC);
    j->hist = sd_xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        char num[32];
        const char *id = NULL;
        if (cJSON_IsString(e)) id = e->valuestring;
        else if (cJSON_IsNumber(e) && e->valuedouble == floor(e->valuedouble) && fabs(e->valuedouble) < 1e15) {
            snprintf(num, sizeof num, "%.0f", e->valuedouble);
            id = num;
        }
        if (!id) {
            int at = j->n_hist;
            pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
            return sd_srv_send_error(r, c, 400, "history", NULL, "history[%d] must be an item id (a string)", at);
        }
        int32_t it = sd_catalog_find(s->cat, id);
        if (it < 0) {
            char shown[200];
            snprintf(shown, sizeof shown, "%s", id);
            pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
            return sd_srv_send_error(r, c, 422, "history", "unknown_item", "history: no item \"%s\" in the catalogue", shown);
        }
        j->hist[j->n_hist++] = it;
    }
    j->request = req_text ? sd_xstrdup(req_text) : NULL;
    j->k = kk;
    j->exclude = !ex || cJSON_IsNull(ex) || cJSON_IsTrue(ex);
    j->t0 = r->t0;
    j->deadline = r->t0 + s->cfg.timeout_s;
    int why = sd_job_submit(s, j);
    if (why) return sd_srv_refused(s, r, c, j, why);
    pthread_mutex_lock(&s->mu);
    while (j->state != JOB_DONE) sd_srv_wait_client(s, j, c);
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result rc;
    if (j->status) rc = sd_srv_job_error(r, c, j);
    else {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "items");
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(o, "model", s->model_name);
        for (int i = 0; i < j->r_found; i++) {
            cJSON *it = cJSON_CreateObject();
            cJSON_AddNumberToObject(it, "rank", i + 1);
            cJSON *x = sd_srv_item_json(s, j->r_items[i], false), *f;
            /* rank first, then the item's fields */
            while ((f = x->child)) cJSON_AddItemToObject(it, f->string, cJSON_DetachItemViaPointer(x, f));
            cJSON_Delete(x);
            cJSON_AddNumberToObject(it, "score", j->r_scores[i]);
            cJSON_AddItemToArray(a, it);
        }
        rc = sd_srv_send_json(r, c, 200, o);
    }
    pthread_mutex_lock(&s->mu); sd_job_unref(j); pthread_mutex_unlock(&s->mu);
    return rc;
}
