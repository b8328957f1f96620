/* The library's folders form layers: which folder's headers each src/DIR includes must be a graph
 * without cycles (data includes base but never text, since text's tf-idf reads data's catalogue),
 * and base, the bottom, includes nothing of the others. src/cmd and main.c sit above everything
 * and are not checked. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include "test_util.h"

/* paths here are a few dozen bytes; snprintf truncation, were it to happen, only shortens a message */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAX_DIRS 16

static char names[MAX_DIRS][64];
static int n_dirs;
static bool edge[MAX_DIRS][MAX_DIRS];
static char why[MAX_DIRS][MAX_DIRS][400]; /* a file with that include */

static int dir_index(const char *name, size_t len) {
    for (int i = 0; i < n_dirs; i++)
        if (strlen(names[i]) == len && !strncmp(names[i], name, len)) return i;
    return -1;
}

static void scan_file(int from, const char *path, const char *shown) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "#include \"");
        if (p != line) continue;
        p += 10;
        const char *slash = strchr(p, '/');
        if (!slash) continue;
        int to = dir_index(p, (size_t)(slash - p));
        if (to < 0 || to == from) continue;
        if (!edge[from][to]) snprintf(why[from][to], sizeof why[from][to], "%s", shown);
        edge[from][to] = true;
    }
    fclose(f);
}

static char src_root[700];

static void load_graph(void) {
    snprintf(src_root, sizeof src_root, "%s/../../src", sd_test_fixtures());
    DIR *d = opendir(src_root);
    cr_assert(d, "cannot open %s", src_root);
    struct dirent *e;
    while ((e = readdir(d)) && n_dirs < MAX_DIRS)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "cmd") && !strchr(e->d_name, '.') && strlen(e->d_name) < 64)
            memcpy(names[n_dirs++], e->d_name, strlen(e->d_name) + 1);
    closedir(d);
    for (int i = 0; i < n_dirs; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", src_root, names[i]);
        DIR *s = opendir(dir);
        cr_assert(s, "cannot open %s", dir);
        while ((e = readdir(s))) {
            size_t n = strlen(e->d_name);
            if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h"))) continue;
            if (n >= 256) continue;
            char path[1300], shown[400];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            snprintf(shown, sizeof shown, "src/%s/%s", names[i], e->d_name);
            scan_file(i, path, shown);
        }
        closedir(s);
    }
}

/* Depth-first search; on a back edge, writes the cycle into msg. */
static int state[MAX_DIRS], stack[MAX_DIRS], depth;
static bool dfs(int v, char *msg, size_t cap) {
    state[v] = 1;
    stack[depth++] = v;
    for (int w = 0; w < n_dirs; w++) {
        if (!edge[v][w]) continue;
        if (state[w] == 1) {
            size_t p = 0;
            int k = depth - 1;
            while (stack[k] != w) k--;
            for (; k < depth; k++) {
                int a = stack[k], b = k + 1 < depth ? stack[k + 1] : w;
                p += (size_t)snprintf(msg + p, cap - p, "%s -> %s (%s); ", names[a], names[b], why[a][b]);
                if (p >= cap) break;
            }
            return true;
        }
        if (!state[w] && dfs(w, msg, cap)) return true;
    }
    state[v] = 2;
    depth--;
    return false;
}

Test(layers, folder_includes_have_no_cycle) {
    load_graph();
    cr_assert_geq(n_dirs, 5, "found only %d folders under %s", n_dirs, src_root);
    int base = dir_index("base", 4), data = dir_index("data", 4), text = dir_index("text", 4);
    cr_assert(base >= 0 && data >= 0 && text >= 0);
    for (int j = 0; j < n_dirs; j++)
        cr_expect(!edge[base][j], "base includes %s (%s)", names[j], why[base][j]);
    cr_expect(!edge[data][text], "data includes text (%s)", why[data][text]);
    static char msg[8192];
    for (int v = 0; v < n_dirs; v++)
        if (!state[v] && dfs(v, msg, sizeof msg)) break;
    cr_expect_eq(msg[0], 0, "include cycle: %s", msg);
}
