/* Phrasings of `semid lmdata`: for each prompt several templates used in training and one or two
 * reserved ones that only reserved.jsonl uses (so an evaluation can measure steering on wording
 * the model has not seen). Placeholders: {history} {sid} {title} {kind} {place} {value} {noun}
 * {attrs} {prefix} {items} {claims} {franchise}. */
#ifndef SD_LM_LMDATA_PHRASES_H
#define SD_LM_LMDATA_PHRASES_H

typedef struct sd_lm_phrases {
    const char *const *train;     /* NULL-terminated */
    const char *const *reserved;  /* NULL-terminated, may be empty */
} sd_lm_phrases;

extern const sd_lm_phrases sd_lmp_title2sid, sd_lmp_title_attrs2sid, sd_lmp_sid2title, sd_lmp_sid2desc,
    sd_lmp_sid2attrs, sd_lmp_prefix2cat, sd_lmp_next_item, sd_lmp_copurchase, sd_lmp_request_kp,
    sd_lmp_request_k, sd_lmp_request_p, sd_lmp_request_history, sd_lmp_steer_place, sd_lmp_steer_kind,
    sd_lmp_explain, sd_lmp_reason, sd_lmp_bundle, sd_lmp_similar, sd_lmp_turn_steer, sd_lmp_turn_bundle;

int sd_lmp_count(const char *const *list);
/* A phrasing with its {name} placeholders filled from kv (name, value, ..., NULL); malloc'd. The
 * one expansion lmdata writes its records with, so a prompt built elsewhere (recommending,
 * evaluation) reads exactly as training did. */
char *sd_lmp_expand(const char *tmpl, const char *const *kv);

#endif
