/* CSV records (RFC 4180) and number fields, shared by the loaders. Lines come from sd_lines, which
 * has already removed "\r\n"; a quoted field cannot span lines (no loader needs that, and it
 * would make line numbers in error messages wrong). */
#ifndef SD_CSV_H
#define SD_CSV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/err.h"

/* Splits the record line[0..len) in place: fields separated by ','; a field starting with '"'
 * runs to the closing quote, "" inside it standing for one '"'. Quotes are removed and every
 * field is NUL terminated. Stores up to max fields (pointer and length) and returns the number
 * of fields in the record (which may exceed max), or SD_EFORMAT for an unterminated quote or text
 * after a closing quote ("column 3: ..."; callers prefix file:line). */
int sd_csv_split(char *line, size_t len, char **fields, size_t *lens, int max, sd_err *err);

/* Whole-field number parsers (no leading/trailing junk; surrounding spaces allowed). */
bool sd_parse_i64(const char *s, size_t len, int64_t *out);
/* Why an integer field failed to parse, for the message: "is out of range" when it is a well-formed
 * integer (optional sign, digits only) too large for the parser, else "is not an integer". */
const char *sd_int_problem(const char *s, size_t len);
bool sd_parse_f64(const char *s, size_t len, double *out);

#endif
