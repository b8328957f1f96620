/* The phrasings of `semid lmdata` (lm/lmdata_phrases.h). Reserved ones differ in wording, not
 * only in punctuation, from every training phrasing. */
#include "lm/lmdata_phrases.h"
#include <stddef.h>
#include "lm/lmdata_tasks.h"

#define L(...) (const char *const[]){__VA_ARGS__, NULL}
#define NONE (const char *const[]){NULL}

const sd_lm_phrases sd_lmp_title2sid = {L("What is the semantic ID of \"{title}\"?", "Give the item ID for {title}.",
    "{title}: which semantic ID does it have?", "Find the ID of this product: {title}"), NONE};
const sd_lm_phrases sd_lmp_title_attrs2sid = {L("Which item is \"{title}\" ({attrs})?",
    "ID of {title} ({attrs}), please.", "Look up {title} [{attrs}] and give its semantic ID.",
    "{title}, {attrs}: what is its ID?"), NONE};
const sd_lm_phrases sd_lmp_sid2title = {L("What is {sid}?", "Name the item {sid}.",
    "Which product has the ID {sid}?", "{sid} is the ID of which title?"), NONE};
const sd_lm_phrases sd_lmp_sid2desc = {L("Describe {sid}.", "What is {sid} about?", "Tell me about the item {sid}.",
    "Give a short description of {sid}."), NONE};
const sd_lm_phrases sd_lmp_sid2attrs = {L("What are the attributes of {sid}?", "List the details of {sid}.",
    "Give the key facts about {sid}.", "{sid}: what are its properties?"), NONE};
const sd_lm_phrases sd_lmp_prefix2cat = {L("What do items whose ID starts with {prefix} have in common?",
    "Items with the ID prefix {prefix} are mostly what?", "Describe the group of items starting with {prefix}.",
    "What does the ID prefix {prefix} stand for?"), NONE};
const sd_lm_phrases sd_lmp_next_item = {L("Here is what I bought, in order: {history}. What should I get next? <|rec|>",
    "My purchase history: {history} <|rec|>", "I have {history}. Recommend the next one. <|rec|>",
    "Based on {history}, what comes next? <|rec|>", "{history} <|rec|>"),
    L("Looking back at my library ({history}), pick my next purchase. <|rec|>")};
const sd_lm_phrases sd_lmp_copurchase = {L("A customer bought {sid}. What else might they buy? <|rec|>",
    "People who bought {sid} also bought <|rec|>", "I just got {sid} {title}. What goes with it? <|rec|>",
    "Recommend a follow-up purchase to {sid}. <|rec|>"), NONE};
const sd_lm_phrases sd_lmp_request_kp = {L("I like {kind} {noun} for {place}. <|rec|>",
    "Any good {kind} {noun} on {place}? <|rec|>", "Recommend some {kind} {noun} for {place}. <|rec|>",
    "I'm looking for {kind} {noun} for my {place}. <|rec|>", "Show me popular {kind} {noun} for {place}. <|rec|>"),
    L("Got a {place} and a soft spot for {kind}; what should I try? <|rec|>")};
const sd_lm_phrases sd_lmp_request_k = {L("I like {kind} {noun}. <|rec|>", "Recommend some {kind} {noun}. <|rec|>",
    "What are the best {kind} {noun}? <|rec|>", "I'm in the mood for {kind}. <|rec|>"),
    L("Craving something in the {kind} vein right now. <|rec|>")};
const sd_lm_phrases sd_lmp_request_p = {L("What should I get for my {place}? <|rec|>",
    "Recommend popular {noun} for {place}. <|rec|>", "I just got a {place}. <|rec|>", "Best {noun} on {place}? <|rec|>"),
    L("Fresh {place} owner here, fill my shelf. <|rec|>")};
const sd_lm_phrases sd_lmp_request_history = {L("I bought {history}. Now I want something {kind}. <|rec|>",
    "{history} Next, recommend a {kind} one. <|rec|>", "Given my history {history}, suggest {kind} {noun}. <|rec|>",
    "My history: {history}. I'm in the mood for {kind}. <|rec|>"),
    L("With {history} behind me, steer me towards {kind}. <|rec|>")};
const sd_lm_phrases sd_lmp_steer_place = {L("I bought {history}. Recommend something like these, but for {value}. <|rec|>",
    "{history} Similar, but for {value}. <|rec|>", "Based on {history}, what would you suggest for {value}? <|rec|>",
    "I liked {history}. Now I play on {value}. <|rec|>"),
    L("Same taste as {history}, different machine: {value}. <|rec|>")};
const sd_lm_phrases sd_lmp_steer_kind = {L("I bought {history}. Recommend something like these, but {value}. <|rec|>",
    "{history} Similar, but in {value}. <|rec|>", "Based on {history}, what would you suggest in {value}? <|rec|>",
    "I liked {history}. Now I want {value}. <|rec|>"),
    L("Same taste as {history}, different flavour: {value}. <|rec|>")};
const sd_lm_phrases sd_lmp_explain = {L("I just finished {title}. Suggest another <|rec|> and explain why:",
    "I loved {title}. What should I try next <|rec|>, and why?", "Recommend something after {title} <|rec|> and tell me why.",
    "{title} was great. Another one like it? <|rec|> Explain your pick."),
    L("Wrapped up {title} yesterday; your pick <|rec|> plus the reasoning:")};
const sd_lm_phrases sd_lmp_reason = {L("Both {claims}.", "You might like it because both {claims}.",
    "It fits: both {claims}.", "Why: both {claims}."), NONE};
const sd_lm_phrases sd_lmp_bundle = {L("Suggest a bundle name for these: {items}", "Name a bundle of {items}.",
    "What would you call a pack with {items}?", "Give this set a bundle name: {items}"),
    L("Come up with a catchy title for the set {items}")};
const sd_lm_phrases sd_lmp_similar = {L("I'm looking for {noun} similar to {title}. <|rec|>",
    "Something like {title}, please. <|rec|>", "What else is like {title}? <|rec|>",
    "I enjoyed {title}; find me more like it. <|rec|>"), NONE};
const sd_lm_phrases sd_lmp_turn_steer = {L("How about something similar but for {value}? <|rec|>",
    "And for {value}? <|rec|>", "Can you find the same kind of thing for {value}? <|rec|>",
    "What about {value} picks? <|rec|>"), NONE};
const sd_lm_phrases sd_lmp_turn_bundle = {L("Suggest a bundle name for these", "What would you call these as a bundle?",
    "Name a bundle for the last picks.", "Give these a bundle name."), NONE};

int sd_lmp_count(const char *const *list) {
    int n = 0;
    while (list && list[n]) n++;
    return n;
}

const char *const *sd_lm_reserved_templates(void) {
    static const char *all[32];
    if (!all[0]) {
        const sd_lm_phrases *ps[] = {&sd_lmp_next_item, &sd_lmp_request_kp, &sd_lmp_request_k, &sd_lmp_request_p,
                                     &sd_lmp_request_history, &sd_lmp_steer_place, &sd_lmp_steer_kind,
                                     &sd_lmp_explain, &sd_lmp_bundle};
        int n = 0;
        for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
            for (const char *const *r = ps[i]->reserved; *r && n < 31; r++) all[n++] = *r;
    }
    return all;
}
