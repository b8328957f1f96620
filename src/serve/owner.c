/* The model owner: the one thread that touches the model. It admits queued chat jobs into free
 * slots of the batch generator, steps them together, and runs queued recommend jobs between
 * steps. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "serve/serve_internal.h"

sd_job *sd_job_new(int kind) {
    sd_job *j = sd_xcalloc(1, sizeof *j);
    j->kind = kind;
    j->refs = 1;
    j->slot = -1;
    pthread_cond_init(&j->cv, NULL);
    sd_sample_cfg_default(&j->sample);
    return j;
}

void sd_job_unref(sd_job *j) {
    if (!j || --j->refs > 0) return;
    pthread_cond_destroy(&j->cv);
    for (int i = 0; i < j->n_owned; i++) free(j->owned[i]);
    free(j->owned);
    free(j->msgs);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->stop);
    free(j->hist);
    free(j->request);
    free(j->text);
    free(j->items);
    free(j->r_items);
    free(j->r_scores);
    free(j);
}

int sd_job_submit(sd_server *s, sd_job *j) {
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->q_n >= s->cfg.queue) {
        int why = s->stopping ? SD_SUBMIT_STOPPING : SD_SUBMIT_FULL;
        pthread_mutex_unlock(&s->mu);
        return why;
    }
    j->state = JOB_QUEUED;
    j->refs++;
    j->next = NULL;
    if (s->q_tail) s->q_tail->next = j;
    else s->q_head = j;
    s->q_tail = j;
    s->q_n++;
    sd_metrics_gauges(&s->met, s->q_n, -1);
    pthread_cond_signal(&s->owner_cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Ends a job (mutex held): wakes its waiter, drops the owner's reference. */
static void finish_job(sd_server *s, sd_job *j) {
    if (j->state != JOB_QUEUED) s->owner_holding--;
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    sd_job_unref(j);
}

static void fail_job(sd_server *s, sd_job *j, int status, const char *type, const char *code, const char *msg) {
    j->status = status;
    j->err_type = type;
    j->err_code = code;
    snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
    finish_job(s, j);
}

/* The chat stream's text pieces go to the job (the owner holds the mutex while pushing). */
static void on_piece(void *ctx, const char *t, size_t n) {
    sd_job *j = ctx;
    if (j->text_n + n + 1 > j->text_cap) {
        j->text_cap = (j->text_n + n + 1) * 2;
        j->text = sd_xrealloc(j->text, j->text_cap);
    }
    memcpy(j->text + j->text_n, t, n);
    j->text_n += n;
    j->text[j->text_n] = 0;
    pthread_cond_broadcast(&j->cv);
}

/* Copies the stream's named items to the job and ends it (mutex held). */
static void end_chat(sd_server *s, sd_job *j, int finish) {
    sd_chat_stream_finish(&j->cs);
    j->finish = finish;
    j->completion_tokens = j->cs.n_tokens;
    /* a stop string can cut the text inside an item's title: list only the items the text shows */
    j->items = sd_xmalloc(sizeof *j->items * (size_t)(j->cs.n_items + 1));
    j->n_items = 0;
    for (int i = 0; i < j->cs.n_items; i++)
        if (j->text && strstr(j->text, s->cat->items[j->cs.items[i].item].title)) j->items[j->n_items++] = j->cs.items[i];
    sd_chat_stream_free(&j->cs);
    j->slot = -1;
    finish_job(s, j);
}

typedef struct step_ctx { sd_server *s; long generated; } step_ctx;

static bool on_token(void *ctx, int slot, int32_t token, float logprob, int finish) {
    step_ctx *c = ctx;
    sd_server *s = c->s;
    sd_job *j = s->gb.s[slot].user;
    pthread_mutex_lock(&s->mu);
    bool over = false;
    if (token >= 0) {
        c->generated++;
        over = sd_chat_stream_push(&j->cs, token, logprob);
    }
    if (over) end_chat(s, j, SD_GB_STOP);
    else if (finish != SD_GB_RUNNING) end_chat(s, j, finish == SD_GB_LENGTH ? SD_GB_LENGTH : SD_GB_STOP);
    pthread_mutex_unlock(&s->mu);
    return over;
}

/* Encodes a chat job's conversation and puts it into a free slot (mutex not held: only the owner
 * touches the job's input and stream). Returns false when the job was answered with an error. */
static bool admit_chat(sd_server *s, sd_job *j) {
    sd_ids ids = {0};
    sd_err err = {0};
    int rc = sd_chat_engine_prompt(&s->eng, j->msgs, j->n_msgs, &ids, &err);
    if (rc) {
        pthread_mutex_lock(&s->mu);
        fail_job(s, j, 400, "invalid_request_error", NULL, err.msg);
        pthread_mutex_unlock(&s->mu);
        sd_ids_free(&ids);
        return false;
    }
    int room = s->gb.cap - (int)ids.n;
    if (room < 1) {
        char msg[256];
        snprintf(msg, sizeof msg, "the conversation is %zu tokens; this server's context is %d tokens", ids.n,
                 s->gb.cap);
        pthread_mutex_lock(&s->mu);
        fail_job(s, j, 400, "invalid_request_error", "context_length_exceeded", msg);
        pthread_mutex_unlock(&s->mu);
        sd_ids_free(&ids);
        return false;
    }
    int max_new = j->max_tokens < room ? j->max_tokens : room;
    sd_sample_cfg sc = j->sample;
    sc.mask = sd_sid_mask_apply;
    sd_sid_mask *mk = &s->masks[sd_gen_batch_free_slot(&s->gb)]; /* the slot add takes: the first free one */
    mk->begin_sid = sd_chat_engine_asks_items(j->msgs, j->n_msgs);
    sc.mask_ctx = mk;
    sd_chat_stream_init(&j->cs, &s->eng, (const char *const *)j->stop, j->n_stop, on_piece, j);
    int slot = sd_gen_batch_add(&s->gb, ids.v, (int)ids.n, &sc, max_new, j, &err);
    pthread_mutex_lock(&s->mu);
    if (slot < 0) {
        sd_chat_stream_free(&j->cs);
        fail_job(s, j, 400, "invalid_request_error", NULL, err.msg);
    } else {
        j->slot = slot;
        j->prompt_tokens = (int)ids.n;
        j->state = JOB_RUNNING;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (slot >= 0) sd_metrics_prompt(&s->met, (long)ids.n);
    sd_ids_free(&ids);
    return slot >= 0;
}

/* Runs recommend jobs: those with equal k and exclude_history go through one beam search. */
static void run_recs(sd_server *s, sd_job **jobs, int n) {
    bool *done = sd_xcalloc((size_t)n, sizeof(bool));
    const int32_t **hp = sd_xmalloc(sizeof *hp * (size_t)n);
    int32_t *hl = sd_xmalloc(sizeof *hl * (size_t)n);
    const char **req = sd_xmalloc(sizeof *req * (size_t)n);
    sd_job **grp = sd_xmalloc(sizeof *grp * (size_t)n);
    for (int a = 0; a < n; a++) {
        if (done[a]) continue;
        int g = 0;
        for (int b = a; b < n; b++)
            if (!done[b] && jobs[b]->k == jobs[a]->k && jobs[b]->exclude == jobs[a]->exclude) {
                done[b] = true;
                grp[g] = jobs[b];
                hp[g] = jobs[b]->hist;
                hl[g] = jobs[b]->n_hist;
                req[g] = jobs[b]->request;
                g++;
            }
        int k = jobs[a]->k;
        int32_t *items = sd_xmalloc(sizeof(int32_t) * (size_t)g * (size_t)k);
        float *scores = sd_xmalloc(sizeof(float) * (size_t)g * (size_t)k);
        int32_t *found = sd_xcalloc((size_t)g, sizeof(int32_t));
        sd_err err = {0};
        s->eng.rec.width = k > 20 ? k : 20;
        int rc = sd_llm_rec_topk(&s->eng.rec, g, hp, hl, req, jobs[a]->exclude, k, items, scores, found, &err);
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < g; i++) {
            sd_job *j = grp[i];
            if (rc) { fail_job(s, j, 400, "invalid_request_error", NULL, err.msg); continue; }
            j->r_found = found[i];
            j->r_items = sd_xmalloc(sizeof(int32_t) * (size_t)(k + 1));
            j->r_scores = sd_xmalloc(sizeof(float) * (size_t)(k + 1));
            memcpy(j->r_items, items + (size_t)i * k, sizeof(int32_t) * (size_t)k);
            memcpy(j->r_scores, scores + (size_t)i * k, sizeof(float) * (size_t)k);
            finish_job(s, j);
        }
        pthread_mutex_unlock(&s->mu);
        free(items);
        free(scores);
        free(found);
    }
    free(done); free(hp); free(hl); free(req); free(grp);
}

void *sd_owner_main(void *arg) {
    sd_server *s = arg;
    omp_set_num_threads(s->omp_threads);
    int cap_rec = 64;
    sd_job **recs = sd_xmalloc(sizeof *recs * (size_t)cap_rec);
    sd_job **admit = sd_xmalloc(sizeof *admit * (size_t)s->gb.n_slots);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        double now = sd_now();
        /* stop the slots whose client is gone, whose time is up, or all when cancelling */
        for (int i = 0; i < s->gb.n_slots; i++) {
            if (!s->gb.s[i].used) continue;
            sd_job *j = s->gb.s[i].user;
            if (j->cancel || s->cancel_all || now > j->deadline) {
                sd_gen_batch_stop(&s->gb, i);
                end_chat(s, j, SD_GB_LENGTH);
            }
        }
        /* take what the queue offers: recommend jobs all, chat jobs while slots are free */
        int n_rec = 0, n_admit = 0, free_slots = s->gb.n_slots - sd_gen_batch_live(&s->gb);
        sd_job **pp = &s->q_head, *last = NULL;
        while (*pp) {
            sd_job *j = *pp;
            bool take = false, drop = false;
            if (j->cancel || s->cancel_all) drop = true;
            else if (now > j->deadline) {
                drop = true;
                j->status = 504;
            } else if (j->kind == JOB_REC && n_rec < cap_rec) take = true;
            else if (j->kind == JOB_CHAT && n_admit < free_slots) take = true;
            if (take || drop) {
                *pp = j->next;
                s->q_n--;
                if (take) {
                    j->state = JOB_TAKEN;
                    s->owner_holding++;
                    if (j->kind == JOB_REC) recs[n_rec++] = j;
                    else admit[n_admit++] = j;
                } else if (j->status == 504)
                    fail_job(s, j, 504, "timeout", "timeout", "the request waited longer than the server's time limit");
                else
                    fail_job(s, j, 503, "server_error", "cancelled", "the request was cancelled");
            } else {
                last = j;
                pp = &j->next;
            }
        }
        s->q_tail = last;
        sd_metrics_gauges(&s->met, s->q_n, sd_gen_batch_live(&s->gb) + n_admit);
        bool live = sd_gen_batch_live(&s->gb) > 0 || n_admit > 0;
        if (!live && n_rec == 0) {
            if (s->owner_exit && s->q_n == 0) break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&s->owner_cv, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n_admit; i++) admit_chat(s, admit[i]);
        if (n_rec) run_recs(s, recs, n_rec);
        if (sd_gen_batch_live(&s->gb) > 0) {
            step_ctx c = {.s = s};
            sd_err err = {0};
            /* jobs of the slots, in case the step fails and stops them all */
            sd_job *in_slot[512];
            int ns = s->gb.n_slots < 512 ? s->gb.n_slots : 512;
            for (int i = 0; i < ns; i++) in_slot[i] = s->gb.s[i].used ? s->gb.s[i].user : NULL;
            int seqs = 0;
            for (int i = 0; i < s->gb.n_slots; i++) seqs += s->gb.s[i].used;
            int rc = sd_gen_batch_step(&s->gb, on_token, &c, &err);
            if (rc) {
                sd_warn("serve: model step failed: %s", err.msg);
                pthread_mutex_lock(&s->mu);
                for (int i = 0; i < ns; i++)
                    if (in_slot[i] && in_slot[i]->state == JOB_RUNNING) {
                        sd_chat_stream_free(&in_slot[i]->cs);
                        fail_job(s, in_slot[i], 500, "server_error", NULL, err.msg);
                    }
                pthread_mutex_unlock(&s->mu);
            }
            sd_metrics_step(&s->met, seqs, c.generated);
            if (s->step_delay_ms > 0) {
                struct timespec ts = {s->step_delay_ms / 1000, (long)(s->step_delay_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    free(recs);
    free(admit);
    return NULL;
}
